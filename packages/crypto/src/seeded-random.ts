/**
 * A seeded pseudo-random generator for simulations and fault schedules: the same seed gives
 * the same draws on every platform and in every version, so a seed is a replay. NOT for keys,
 * nonces or anything secret (those take `randomBytes` from the caller).
 *
 * The generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, PractRand),
 * its four words seeded by splitmix32 (a golden-ratio counter through MurmurHash3's fmix32)
 * and warmed up by 12 draws. Only 32-bit integer arithmetic, so no float rounding can differ
 * between engines. The draws are part of the contract: the consensus simulator's regression
 * seeds and golden traces depend on them (test/seeded-random.test.ts pins known answers).
 */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` is an integer; only its low 32 bits count. */
  constructor(seed: number) {
    let state = seed >>> 0;
    const splitmix = (): number => {
      state = (state + 0x9e3779b9) >>> 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = splitmix();
    this.b = splitmix();
    this.c = splitmix();
    this.d = splitmix();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform unsigned 32-bit integer. */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1), on a 2^-32 grid. */
  float(): number {
    return this.next() / 4294967296;
  }

  /** Integer in [0, max), for 1 <= max <= 2^32 (each value within max/2^32 of uniform). */
  int(max: number): number {
    return Math.floor(this.float() * max);
  }

  /** Integer in [low, high], both included. */
  range(low: number, high: number): number {
    return low + this.int(high - low + 1);
  }

  /** True with the given probability. */
  chance(probability: number): boolean {
    return this.float() < probability;
  }

  /** One of `items` (non-empty). */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** `length` bytes, one draw each. */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.next() & 0xff;
    return out;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
