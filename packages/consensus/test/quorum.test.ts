import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { faultTolerance, primaryIndex, quorumSize } from '../src/index.js';

describe('quorum rules', () => {
  it('gives 2f+1 for n = 3f+1', () => {
    expect([4, 7, 10, 13].map(quorumSize)).toEqual([3, 5, 7, 9]);
    expect([4, 7, 10, 13].map(faultTolerance)).toEqual([1, 2, 3, 4]);
  });

  it('is the smallest q with 2q - n > f, and a quorum of honest nodes always exists', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), (n) => {
        const f = faultTolerance(n);
        const q = quorumSize(n);
        expect(2 * q - n).toBeGreaterThan(f); // two quorums share an honest validator
        expect(2 * (q - 1) - n).toBeLessThanOrEqual(f); // and no smaller q would do
        expect(q).toBeLessThanOrEqual(n - f); // the honest ones alone can form a quorum
      }),
    );
  });

  it('rotates the primary with height and view', () => {
    expect(primaryIndex(1, 0, 4)).toBe(1);
    expect(primaryIndex(1, 1, 4)).toBe(2);
    expect(primaryIndex(4, 0, 4)).toBe(0);
    // every validator is primary once in n consecutive heights at view 0
    const primaries = new Set([...Array(7).keys()].map((h) => primaryIndex(h + 10, 0, 7)));
    expect(primaries.size).toBe(7);
  });
});
