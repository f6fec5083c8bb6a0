import { describe, expect, it } from 'vitest';
import { requestFingerprint } from './fingerprint.js';
import { keepsAnswer } from './guard.js';
import { parseIdempotencyKey } from './key.js';

describe('parseIdempotencyKey', () => {
  it('takes 1 to 255 visible ASCII characters, bare or as a structured-field string', () => {
    expect(parseIdempotencyKey(null)).toBeUndefined();
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(parseIdempotencyKey('"8e03978e"')).toBe('8e03978e');
    expect(parseIdempotencyKey('"a\\"b\\\\c"')).toBe('a"b\\c');
    expect(parseIdempotencyKey('  padded  ')).toBe('padded');
    expect(parseIdempotencyKey('x'.repeat(255))).toBe('x'.repeat(255));
    expect(parseIdempotencyKey('!~')).toBe('!~');
  });

  it('refuses an empty key, one over 255 characters, spaces, controls, non-ASCII, two headers joined', () => {
    for (const bad of ['', '   ', '""', 'x'.repeat(256), 'a b', 'a\tb', 'caf\u00e9', 'a\u0001', 'one, two']) {
      expect(() => parseIdempotencyKey(bad), JSON.stringify(bad)).toThrow(/Idempotency-Key must be 1 to 255 visible ASCII characters/);
    }
  });
});

describe('requestFingerprint', () => {
  const q = (s: string) => new URLSearchParams(s);
  it('changes with the method, the path, the query and the body, but not with a token in the query', () => {
    const base = requestFingerprint('POST', '/batch', q(''), '{"a":1}');
    expect(requestFingerprint('post', '/batch', q(''), '{"a":1}')).toBe(base);
    expect(requestFingerprint('POST', '/batch', q('token=abc'), '{"a":1}')).toBe(base);
    expect(requestFingerprint('PUT', '/batch', q(''), '{"a":1}')).not.toBe(base);
    expect(requestFingerprint('POST', '/v1/batch', q(''), '{"a":1}')).not.toBe(base);
    expect(requestFingerprint('POST', '/batch', q('x=1'), '{"a":1}')).not.toBe(base);
    expect(requestFingerprint('POST', '/batch', q(''), '{"a": 1}')).not.toBe(base);
  });
});

describe('keepsAnswer', () => {
  it('keeps every answer but those that say "try again"', () => {
    for (const status of [200, 201, 204, 400, 403, 404, 412, 413, 422]) expect(keepsAnswer(status)).toBe(true);
    for (const status of [408, 409, 425, 429, 500, 503, 504]) expect(keepsAnswer(status)).toBe(false);
  });
});
