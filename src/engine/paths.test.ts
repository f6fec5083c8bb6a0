import { describe, expect, it } from 'vitest';
import { batchPathKey, endpointPattern, resolveOperationPath } from './paths.js';

describe('batch endpoints that are patterns', () => {
  const batchPaths = new Set(['/batch', '/services/data/:version{v[0-9]+\\.[0-9]+}/composite', '/services/data/:version{v[0-9]+\\.[0-9]+}/composite/*'].map(batchPathKey));

  it('a parameter segment matches what its regex matches, whole; a trailing /* every path below', () => {
    const pattern = endpointPattern('/services/data/:version{v[0-9]+\\.[0-9]+}/composite')!;
    expect(['/services/data/v59.0/composite', '/services/data/V9.10/composite', '/Services/Data/v59.0/Composite'].map((p) => pattern.test(p))).toEqual([true, true, true]);
    expect(['/services/data/59.0/composite', '/services/data/v59/composite', '/services/data/v59.0x/composite', '/services/data/v59.0/composite/x'].map((p) => pattern.test(p))).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(endpointPattern('/a/:id/b')!.test('/a/anything/b')).toBe(true);
    expect(endpointPattern('/a/*')!.test('/a')).toBe(false);
    expect(endpointPattern('/a/*')!.test('/a/b/c')).toBe(true);
    expect(endpointPattern('/v1/$batch')).toBeUndefined();
  });

  it('refuses an operation path that matches one as nested_batch, after decoding, in any case', () => {
    for (const path of ['/services/data/v59.0/composite', '/services/data/v42.0/composite/tree/accounts', '/services/data/v59.0/composit%65', '/SERVICES/data/v1.0/COMPOSITE/batch']) {
      expect(() => resolveOperationPath(path, batchPaths), path).toThrow(expect.objectContaining({ code: 'nested_batch' }));
    }
    for (const path of ['/services/data/v59.0/sobjects/accounts', '/services/data/vx/composite', '/v1/composite']) {
      expect(() => resolveOperationPath(path, batchPaths), path).not.toThrow();
    }
  });

  it('keeps the regex of a parameter segment as written in a batch path key', () => {
    expect(batchPathKey('/A/:p{[A-Z]\\D}/B/')).toBe('/a/:p{[A-Z]\\D}/b');
  });
});

describe('batch endpoints behind ;path parameters', () => {
  const batchPaths = new Set(['/batch', '/v1/$batch', '/services/data/:version{v[0-9]+\\.[0-9]+}/composite'].map(batchPathKey));

  it('a segment with ;params is compared without them, as servers that strip them would route it: 400 nested_batch', () => {
    for (const path of ['/batch;x=1', '/Batch;jsessionid=abc', '/v1/$batch;a', '/v1/%24batch;a=b', '/services/data/v59.0;x/composite;y']) {
      expect(() => resolveOperationPath(path, batchPaths), path).toThrow(expect.objectContaining({ code: 'nested_batch' }));
    }
    for (const path of ['/v1/books;x=1', '/batches;x', '/v1/batch;x/items']) {
      expect(() => resolveOperationPath(path, batchPaths), path).not.toThrow();
    }
  });
});
