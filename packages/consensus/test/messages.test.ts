import { encodeCanonical, toHex } from '@medchain/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConsensusError,
  type ConsensusMessage,
  decodeMessage,
  encodeMessage,
  messageSigningHash,
  parseMessage,
  voteSigningHash,
} from '../src/index.js';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const signature = fc.uint8Array({ minLength: 1, maxLength: 64 });
const height = fc.integer({ min: 1, max: 2 ** 40 });
const view = fc.integer({ min: 0, max: 1000 });
const vote = fc.record({ from: bytes32, signature });
const prepared = fc.option(
  fc.record({
    view: fc.integer({ min: 0, max: 5 }),
    digest: bytes32,
    votes: fc.array(vote, { maxLength: 4 }),
  }),
  { nil: null },
);

const message: fc.Arbitrary<ConsensusMessage> = fc.oneof(
  fc.record({
    type: fc.constantFrom('prepare' as const, 'commit' as const),
    height,
    view,
    digest: bytes32,
    from: bytes32,
    signature,
  }),
  fc.record({
    type: fc.constant('preprepare' as const),
    height,
    view: fc.constant(0),
    digest: bytes32,
    payload: fc.uint8Array({ maxLength: 100 }),
    from: bytes32,
    signature,
  }),
  fc
    .record({
      height,
      view: fc.integer({ min: 6, max: 100 }),
      prepared,
      from: bytes32,
      signature,
      p: fc.uint8Array(),
    })
    .map(({ p, ...rest }) => ({
      type: 'viewchange' as const,
      ...rest,
      payload: rest.prepared === null ? null : p,
    })),
  fc.record({
    type: fc.constant('newview' as const),
    height,
    view: fc.integer({ min: 1, max: 100 }),
    viewChanges: fc.array(fc.record({ from: bytes32, signature, prepared }), { maxLength: 4 }),
    digest: bytes32,
    payload: fc.uint8Array({ maxLength: 100 }),
    from: bytes32,
    signature,
  }),
  fc.record({
    type: fc.constant('checkpoint' as const),
    height,
    stateRoot: bytes32,
    from: bytes32,
    signature,
  }),
  fc.record({
    type: fc.constant('decision' as const),
    payload: fc.uint8Array({ maxLength: 100 }),
    certificate: fc.record({
      height,
      view,
      digest: bytes32,
      votes: fc.array(vote, { maxLength: 4 }),
    }),
  }),
);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConsensusError);
    return (error as ConsensusError).code;
  }
}

describe('wire codec', () => {
  it('round-trips every message kind', () => {
    fc.assert(
      fc.property(message, (m) => {
        const bytes = encodeMessage(m);
        expect(decodeMessage(bytes)).toEqual(m);
        expect(toHex(encodeMessage(decodeMessage(bytes)))).toBe(toHex(bytes));
      }),
    );
  });

  it('rejects random bytes and mutated messages with a coded error, never anything else', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 0, max: 7 }), (m, at, bit) => {
        const bytes = encodeMessage(m);
        const i = at % bytes.length;
        bytes[i] = bytes[i]! ^ (1 << bit);
        const code = codeOf(() => decodeMessage(bytes));
        if (code !== undefined) expect(code).toBe('CONSENSUS_MALFORMED_MESSAGE');
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        const code = codeOf(() => decodeMessage(junk));
        if (code !== undefined) expect(code).toBe('CONSENSUS_MALFORMED_MESSAGE');
      }),
    );
  });

  it('rejects wrong shapes: extra fields, bad lengths, view rules', () => {
    const ok = {
      type: 'prepare',
      height: 1,
      view: 0,
      digest: new Uint8Array(32),
      from: new Uint8Array(32),
      signature: new Uint8Array(64),
    };
    expect(parseMessage(ok)).toBe(ok);
    const bad = [
      { ...ok, extra: 1 },
      { ...ok, digest: new Uint8Array(31) },
      { ...ok, height: 0 },
      { ...ok, height: 1.5 },
      { ...ok, view: -1 },
      { ...ok, signature: new Uint8Array(0) },
      { ...ok, type: 'preprepare', payload: new Uint8Array(1), view: 1 },
      { ...ok, type: 'viewchange', view: 0, prepared: null, payload: null },
      {
        ...ok,
        type: 'viewchange',
        view: 2,
        prepared: { view: 2, digest: new Uint8Array(32), votes: [] },
        payload: null,
      },
      { ...ok, type: 'nope' },
      null,
      [ok],
      'prepare',
    ];
    for (const value of bad) {
      expect(codeOf(() => parseMessage(value))).toBe('CONSENSUS_MALFORMED_MESSAGE');
    }
    // non-canonical bytes of a valid message (unsorted keys) are rejected too
    const encoded = encodeCanonical(ok);
    expect(decodeMessage(encoded)).toEqual(ok);
  });

  it('signs over the chain id, kind, height, view and digest', () => {
    const digest = new Uint8Array(32).fill(7);
    const base = voteSigningHash('chain-a', 'prepare', 5, 1, digest);
    expect(voteSigningHash('chain-b', 'prepare', 5, 1, digest)).not.toEqual(base);
    expect(voteSigningHash('chain-a', 'commit', 5, 1, digest)).not.toEqual(base);
    expect(voteSigningHash('chain-a', 'prepare', 6, 1, digest)).not.toEqual(base);
    expect(voteSigningHash('chain-a', 'prepare', 5, 2, digest)).not.toEqual(base);
    expect(voteSigningHash('chain-a', 'prepare', 5, 1, new Uint8Array(32))).not.toEqual(base);
    const m = {
      type: 'prepare' as const,
      height: 5,
      view: 1,
      digest,
      from: new Uint8Array(32),
      signature: new Uint8Array(1),
    };
    expect(messageSigningHash('chain-a', m)).toEqual(base);
    expect(messageSigningHash('chain-b', m)).toEqual(
      voteSigningHash('chain-b', 'prepare', 5, 1, digest),
    );
  });
});
