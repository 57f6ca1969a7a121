import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BINARY_STRING_OVERHEAD_BYTES,
  binaryStringCost,
  LRU_ENTRY_OVERHEAD_BYTES,
  LruCache,
} from '../src/index.js';

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

  it('refuses a byte budget that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.NEGATIVE_INFINITY]) {
      expect(() => new LruCache(4, { maxBytes: bad })).toThrow(RangeError);
    }
  });

  it('with a byte budget, holds the newest entries that fit both bounds, as a model does', () => {
    // The model: a list, most recent last, each entry charged overhead + key length + value.
    const step = fc.oneof(
      fc.tuple(fc.constant('set' as const), fc.integer({ min: 0, max: 12 }), fc.nat(300)),
      fc.tuple(fc.constantFrom('get' as const, 'delete' as const), fc.integer({ min: 0, max: 12 })),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 1_500 }),
        fc.array(step, { maxLength: 300 }),
        (capacity, maxBytes, steps) => {
          const cache = new LruCache<number>(capacity, { maxBytes, sizeOf: (v) => v });
          const order: { key: string; value: number }[] = [];
          const cost = (e: { key: string; value: number }) =>
            LRU_ENTRY_OVERHEAD_BYTES + e.key.length + e.value;
          for (const [op, k, value] of steps) {
            const key = `key${k}`;
            const at = order.findIndex((e) => e.key === key);
            const held = at >= 0 ? order.splice(at, 1)[0] : undefined;
            if (op === 'set') {
              const entry = { key, value: value! };
              cache.set(key, entry.value);
              if (cost(entry) <= maxBytes) order.push(entry);
              if (order.length > capacity) order.shift();
              while (order.reduce((sum, e) => sum + cost(e), 0) > maxBytes) order.shift();
            } else if (op === 'get') {
              expect(cache.get(key)).toBe(held?.value);
              if (held !== undefined) order.push(held);
            } else {
              expect(cache.delete(key)).toBe(held !== undefined);
            }
            expect(cache.size).toBe(order.length);
            expect(cache.bytes).toBe(order.reduce((sum, e) => sum + cost(e), 0));
            expect(cache.bytes).toBeLessThanOrEqual(maxBytes);
          }
          for (const entry of order) expect(cache.peek(entry.key)).toBe(entry.value);
        },
      ),
    );
  });

  it('reuses freed slots: a byte-bounded cache churns far past its capacity', () => {
    const cache = new LruCache<string>(1_000, {
      maxBytes: 100 * (LRU_ENTRY_OVERHEAD_BYTES + 6 + binaryStringCost('x'.repeat(64))),
      sizeOf: binaryStringCost,
    });
    for (let i = 0; i < 50_000; i++) {
      cache.set(`k${String(i).padStart(5, '0')}`, 'x'.repeat(i % 2 === 0 ? 64 : 32));
    }
    expect(cache.size).toBeGreaterThanOrEqual(100);
    expect(cache.size).toBeLessThan(1_000);
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);
    expect(cache.get('k49999')?.length).toBe(32);
    expect(cache.get('k00000')).toBeUndefined();
  });

  it('does not keep an entry larger than the whole budget, and drops the key it replaced', () => {
    const cache = new LruCache<string>(4, { maxBytes: 1_000, sizeOf: binaryStringCost });
    cache.set('a', 'x'.repeat(10));
    cache.set('b', 'x'.repeat(10));
    cache.set('a', 'x'.repeat(1_000 - BINARY_STRING_OVERHEAD_BYTES));
    expect(cache.peek('a')).toBeUndefined();
    expect(cache.peek('b')?.length).toBe(10);
    // 10 characters take 16 with their padding.
    expect(cache.bytes).toBe(LRU_ENTRY_OVERHEAD_BYTES + 1 + BINARY_STRING_OVERHEAD_BYTES + 16);
  });
});
