import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, logFormatFrom } from '../src/log.js';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe('log format', () => {
  it('is pretty on a terminal and JSON otherwise, unless LOG_FORMAT says which', () => {
    expect(logFormatFrom(undefined, true)).toBe('pretty');
    expect(logFormatFrom(undefined, false)).toBe('json');
    expect(logFormatFrom('', true)).toBe('pretty');
    expect(logFormatFrom('json', true)).toBe('json');
    expect(logFormatFrom(' Pretty ', false)).toBe('pretty');
    expect(() => logFormatFrom('xml', true)).toThrow('LOG_FORMAT must be json or pretty, not "xml"');
  });

  it('json writes one object per line; pretty writes a readable line with the same fields', () => {
    const json = sink();
    createLogger('info', { format: 'json', destination: json.stream }).info({ url: 'http://x' }, 'listening on http://x');
    expect(JSON.parse(json.text())).toMatchObject({ level: 30, url: 'http://x', msg: 'listening on http://x' });

    const pretty = sink();
    const logger = createLogger('info', { format: 'pretty', destination: pretty.stream });
    logger.info({ url: 'http://x' }, 'listening on http://x');
    logger.debug('hidden at info');
    expect(pretty.text()).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening on http:\/\/x \{"url":"http:\/\/x"\}\n$/);
  });
});
