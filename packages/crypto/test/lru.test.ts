import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LruCache } from '../src/index.js';

describe('LruCache', () => {
  it('never holds more than its capacity and evicts the least recently used', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.constantFrom('set', 'get', 'has'), fc.integer({ min: 0, max: 12 })), {
          maxLength: 300,
        }),
        (capacity, steps) => {
          const cache = new LruCache<number>(capacity);
          const order: number[] = []; // model: most recent last
          for (const [op, key] of steps) {
            const at = order.indexOf(key);
            if (op === 'set') {
              cache.set(String(key), key);
              if (at >= 0) order.splice(at, 1);
              order.push(key);
              if (order.length > capacity) order.shift();
            } else {
              if (op === 'get') expect(cache.get(String(key))).toBe(at >= 0 ? key : undefined);
              else expect(cache.has(String(key))).toBe(at >= 0);
              if (at >= 0) order.push(...order.splice(at, 1));
            }
            expect(cache.size).toBe(order.length);
          }
        },
      ),
    );
  });

  it('keeps the newest entries through many evictions at a large capacity', () => {
    const capacity = 5_000;
    const cache = new LruCache<number>(capacity);
    for (let i = 0; i < capacity * 6; i++) cache.set(`k${i}`, i);
    expect(cache.size).toBe(capacity);
    expect(cache.get(`k${capacity * 5 - 1}`)).toBeUndefined();
    expect(cache.get(`k${capacity * 5}`)).toBe(capacity * 5);
    expect(cache.get(`k${capacity * 6 - 1}`)).toBe(capacity * 6 - 1);
  });

  it('peek reads without counting a use: the peeked entry is still evicted first', () => {
    const cache = new LruCache<number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.peek('a')).toBe(1);
    expect(cache.peek('z')).toBeUndefined();
    cache.set('c', 3);
    expect(cache.peek('a')).toBeUndefined();
    expect(cache.peek('b')).toBe(2);
    // Whereas get counts: after get('b'), 'c' is the least recently used.
    cache.get('b');
    cache.set('d', 4);
    expect(cache.peek('c')).toBeUndefined();
    expect(cache.peek('b')).toBe(2);
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
      expect(() => new LruCache(bad)).toThrow(RangeError);
    }
  });
});
