import type { Stream } from '@libp2p/interface';
import { signAccessRequest } from '@medchain/client';
import {
  decodeMessage,
  encodeMessage,
  messageSigningHash,
  type SignedMessage,
} from '@medchain/consensus';
import {
  type Canonical,
  decodeCanonical,
  encodeCanonical,
  Signer,
  sha256,
  utf8,
} from '@medchain/crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createHost,
  createLogger,
  createMetrics,
  encodeBlocksRequest,
  encodeFrame,
  encodeSignedRequest,
  encodeSnapshotRequest,
  FramedProtocol,
  type Host,
  loadOrCreatePeerIdentity,
  type MedchainNode,
  protocolId,
} from '../../src/index.js';
import {
  CHAIN_ID,
  counterValue,
  makeNetwork,
  type Network,
  registration,
  startNode,
  stateRootAfter,
  waitUntil,
} from '../cluster-harness.js';

/**
 * Three honest validators of four run in this process; the fourth member's identity (peer key
 * and validator key) belongs to a rogue libp2p host that the gater lets in. The rogue sends
 * fast-check-generated frames on every protocol: garbage behind valid length prefixes, real
 * consensus and gossip messages with flipped bytes or replaced fields, messages re-signed by
 * the rogue (its own votes on random digests, or claiming another validator), oversized,
 * truncated and reset streams. Afterwards the three still commit new transactions, agree on
 * the chain, and their metrics counted the refusals. 3 of 4 is a quorum, so the rogue's
 * silence or lies cannot stop the honest nodes.
 */

/**
 * Scales every property's run count for long campaigns: MEDCHAIN_FUZZ_SCALE=20 npx vitest run ...
 * The default run is seeded so it draws the same cases every time; MEDCHAIN_FUZZ_SEED picks
 * other ones (fast-check prints the seed and path of any failure, which replays it).
 */
const SCALE = Number(process.env.MEDCHAIN_FUZZ_SCALE ?? 1);
const SEED = Number(process.env.MEDCHAIN_FUZZ_SEED ?? 20261125);
const runs = (base: number) => ({ numRuns: Math.max(1, Math.round(base * SCALE)), seed: SEED });
/** Per-test time limit, scaled with the runs so a long campaign is not cut at the default. */
const TIMEOUT = 60_000 * Math.max(1, SCALE);

const CONSENSUS = protocolId('consensus');
const MEMPOOL = protocolId('mempool');
const BLOCKS = protocolId('blocks');
const SNAPSHOTS = protocolId('snapshots');
const RECORDS = protocolId('records');

type Mutation = { at: number; byte: number; op: 'flip' | 'set' | 'insert' | 'delete' };

/** Applies byte-level edits to a copy of `bytes` (positions taken modulo the length). */
function mutateBytes(bytes: Uint8Array, edits: readonly Mutation[]): Uint8Array {
  const out = [...bytes];
  for (const { at, byte, op } of edits) {
    const i = out.length === 0 ? 0 : at % out.length;
    if (op === 'flip') out[i] = (out[i] ?? 0) ^ (1 << (byte % 8));
    else if (op === 'set') out[i] = byte;
    else if (op === 'insert') out.splice(i, 0, byte);
    else out.splice(i, 1);
  }
  return Uint8Array.from(out);
}

/** Paths to every map entry and list item of a decoded canonical value. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const found: (string | number)[][] = [];
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return found;
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, i) => [i, item])
    : Object.entries(value);
  for (const [key, child] of entries) {
    found.push([...prefix, key], ...paths(child, [...prefix, key]));
  }
  return found;
}

/** A copy of `value` with the node at `path` replaced (or removed when `replacement` is undefined). */
function replaceAt(
  value: unknown,
  path: readonly (string | number)[],
  replacement: unknown,
): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  const copy: Record<string | number, unknown> | unknown[] = Array.isArray(value)
    ? [...value]
    : { ...(value as Record<string, unknown>) };
  const next = replaceAt((copy as Record<string | number, unknown>)[head], rest, replacement);
  if (next === undefined && !Array.isArray(copy)) delete (copy as Record<string, unknown>)[head];
  else (copy as Record<string | number, unknown>)[head] = next;
  return copy;
}

const canonicalLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined), // remove the field
  fc.integer({ min: -1, max: 2 ** 31 }),
  fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, 2n ** 64n, 2n ** 53n),
  fc.uint8Array({ maxLength: 70 }),
  fc.constantFrom(new Uint8Array(32), new Uint8Array(64), new Uint8Array(0)),
  fc.string({ maxLength: 12 }),
  fc.constantFrom('prepare', 'commit', 'preprepare', 'viewchange', 'newview', 'decision'),
  fc.boolean(),
  fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.nat(), { maxKeys: 3 }),
);

/** Replaces one field of a canonical value; when the result cannot be encoded, flips a byte instead. */
function mutateField(bytes: Uint8Array, pick: number, replacement: unknown): Uint8Array {
  const value = decodeCanonical(bytes);
  const all = paths(value);
  if (all.length === 0) return mutateBytes(bytes, [{ at: pick, byte: 1, op: 'flip' }]);
  try {
    return encodeCanonical(replaceAt(value, all[pick % all.length]!, replacement) as Canonical);
  } catch {
    return mutateBytes(bytes, [{ at: pick, byte: 1, op: 'flip' }]);
  }
}

const mutations = fc.array(
  fc.record({
    at: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
    op: fc.constantFrom<Mutation['op']>('flip', 'set', 'insert', 'delete'),
  }),
  { minLength: 1, maxLength: 4 },
);

/** How a payload leaves the rogue: whole and closed, cut short, or the stream reset mid-frame. */
type Delivery = 'whole' | 'truncated' | 'reset';
const delivery = fc.constantFrom<Delivery>('whole', 'whole', 'whole', 'truncated', 'reset');

describe('a member sending fuzzed frames on every protocol (fast-check)', () => {
  let network: Network;
  const nodes: MedchainNode[] = [];
  let rogue: Host;
  let rogueValidator: Signer;
  const captured = { consensus: [] as Uint8Array[], mempool: [] as Uint8Array[] };
  const rogueProtocols: FramedProtocol<Uint8Array>[] = [];
  let target: MedchainNode;
  let submitted = 0;

  beforeAll(async () => {
    network = await makeNetwork({ validators: 4 });
    for (const home of network.homes.slice(0, 3)) nodes.push(await startNode(home));
    target = nodes[0]!;
    const own = network.homes[3]!;
    rogueValidator = own.validator;
    const identity = await loadOrCreatePeerIdentity(own.home);
    const logger = createLogger({ level: 'silent' });
    const metrics = createMetrics({ node: 'rogue' });
    rogue = await createHost({
      privateKey: identity.privateKey,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      peers: nodes.map((node) => ({ peerId: node.parts.peerId, addrs: [] })),
      privateNetwork: true,
      logger,
      metrics,
    });
    // Everyone bound port 0: tell each side where the other listens.
    for (const node of nodes) {
      const libp2p = node.parts.host.libp2p;
      await rogue.libp2p.peerStore.patch(libp2p.peerId, { multiaddrs: libp2p.getMultiaddrs() });
      await libp2p.peerStore.patch(rogue.libp2p.peerId, {
        multiaddrs: rogue.libp2p.getMultiaddrs(),
      });
    }
    // Listen like a validator would, to collect real messages to mutate.
    for (const [protocol, sink] of [
      [CONSENSUS, captured.consensus],
      [MEMPOOL, captured.mempool],
    ] as const) {
      const framed = new FramedProtocol<Uint8Array>(rogue.libp2p, {
        protocol,
        maxFrameBytes: 8 * 1024 * 1024,
        decode: (bytes) => bytes.slice(),
        onMessage: (_peer, bytes) => {
          if (sink.length < 200) sink.push(bytes);
        },
        logger,
        metrics,
      });
      await framed.start();
      rogueProtocols.push(framed);
    }
  });

  afterAll(async () => {
    for (const framed of rogueProtocols) await framed.stop();
    await rogue?.stop();
    for (const node of nodes) await node.stop();
    await network?.remove();
  });

  function submit(count: number): Uint8Array[] {
    const hashes: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const result = nodes[i % nodes.length]!.parts.backend.submitTransaction(
        registration(`fuzz-${submitted++}`),
      );
      if (!result.accepted) throw new Error(`refused: ${result.code} ${result.message}`);
      hashes.push(result.hash);
    }
    return hashes;
  }

  const committedEverywhere = (hashes: readonly Uint8Array[]) =>
    nodes.every((node) =>
      hashes.every((hash) => {
        const location = node.parts.chain.store.loadTxLocation(hash);
        return location !== undefined && location.height <= node.parts.chain.height;
      }),
    );

  function expectSameChain(): void {
    const common = Math.min(...nodes.map((node) => node.parts.chain.height));
    const blocks = new Set(nodes.map((node) => node.parts.chain.loadBlock(common)!.hash.join()));
    const roots = new Set(nodes.map((node) => stateRootAfter(node, common)));
    expect(blocks.size).toBe(1);
    expect(roots.size).toBe(1);
  }

  /** Opens a stream from the rogue to `node` and delivers `bytes` as asked; never throws. */
  async function deliver(
    node: MedchainNode,
    protocol: string,
    bytes: Uint8Array,
    how: Delivery,
    cut: number,
  ): Promise<void> {
    const peer = node.parts.host.libp2p.peerId;
    // Every stream goes over the same connection: each one the node does not release keeps
    // one of its few inbound slots for that peer (8 per framed protocol), so a leak shows up
    // as refused streams and counters that stop moving, and in expectRogueStreamsReleased.
    let stream: Stream | undefined;
    try {
      stream = await rogue.libp2p.dialProtocol(peer, protocol);
      if (how === 'whole') {
        stream.send(bytes);
        await stream.close();
      } else {
        stream.send(bytes.subarray(0, bytes.length <= 1 ? 0 : 1 + (cut % (bytes.length - 1))));
        if (how === 'truncated') await stream.close();
        else stream.abort(new Error('rogue reset'));
      }
    } catch {
      // The node may close or abort the stream first (oversize, framing): that is its answer.
      stream?.abort(new Error('rogue gives up'));
    }
  }

  /** Waits until no node holds a stream the rogue opened (they all ended whole, cut or reset). */
  async function expectRogueStreamsReleased(what: string): Promise<void> {
    const held = () =>
      nodes.flatMap((node) =>
        node.parts.host.libp2p
          .getConnections(rogue.libp2p.peerId)
          .flatMap((connection) => connection.streams)
          .filter((stream) => stream.direction === 'inbound')
          .map((stream) => stream.protocol),
      );
    // 15 s at most, well inside the test's limit, so a leak fails with this message.
    await waitUntil(
      `${what}: the nodes release every stream the rogue opened`,
      () => held().length === 0,
      { tries: 150 },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; still held: ${held().join(', ')}`);
    });
  }

  const rejected = (node: MedchainNode, protocol: string, reason?: string) =>
    counterValue(node.metrics.net.framesRejected, {
      protocol,
      ...(reason === undefined ? {} : { reason }),
    });

  it(
    'the honest three commit and the rogue sees real consensus and gossip traffic',
    async () => {
      const hashes = submit(30);
      await waitUntil('first transactions commit', () => committedEverywhere(hashes));
      await waitUntil('real messages captured', () => {
        const types = new Set(captured.consensus.map((bytes) => decodeMessage(bytes).type));
        return types.has('prepare') && types.has('commit') && captured.mempool.length > 0;
      });
    },
    TIMEOUT,
  );

  it(
    'consensus: garbage, mutated, re-signed and forged messages are dropped and counted',
    async () => {
      const dropped = (reason: string) =>
        counterValue(target.metrics.consensus.messagesDropped, { reason });
      const before = {
        malformed: await dropped('malformed'),
        badSignature: await dropped('badSignature'),
        nonValidator: await dropped('nonValidator'),
        framing:
          (await rejected(target, CONSENSUS, 'oversize')) +
          (await rejected(target, CONSENSUS, 'framing')),
      };
      const stranger = new Signer(sha256(utf8('fuzz-protocols:not-a-validator')));
      const honestKeys = network.homes.slice(0, 3).map((home) => home.validator.publicKey);
      const real = fc.constantFrom(...captured.consensus);

      /** A real message made the rogue's own vote (or a forgery for `claim`), with fields changed. */
      const resigned = fc
        .record({
          bytes: real,
          signer: fc.constantFrom('rogue', 'forgeHonest', 'stranger'),
          height: fc.oneof(fc.constant(0), fc.integer({ min: -1, max: 3 }), fc.nat()),
          view: fc.integer({ min: 0, max: 3 }),
          digest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          honest: fc.nat(),
        })
        .map(({ bytes, signer, height, view, digest, honest }) => {
          const message = decodeMessage(bytes);
          if (message.type === 'decision' || message.type === 'checkpoint') return bytes;
          const edited = {
            ...message,
            ...(message.type === 'preprepare' || !('digest' in message) ? {} : { digest }),
            height: Math.max(1, target.parts.driver.height + height),
            view: message.view + view,
          } as SignedMessage;
          // 'forgeHonest' signs with the rogue's real key but names an honest validator.
          const key = signer === 'stranger' ? stranger : rogueValidator;
          const from = signer === 'forgeHonest' ? honestKeys[honest % 3]! : key.publicKey;
          const unsigned = { ...edited, from } as SignedMessage;
          return encodeMessage({
            ...unsigned,
            signature: key.sign(messageSigningHash(CHAIN_ID, unsigned)),
          } as SignedMessage);
        });

      const payload = fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 512 }).map(encodeFrame),
        fc.tuple(real, mutations).map(([bytes, edits]) => encodeFrame(mutateBytes(bytes, edits))),
        fc
          .tuple(real, fc.nat(), canonicalLeaf)
          .map(([bytes, pick, leaf]) => encodeFrame(mutateField(bytes, pick, leaf))),
        resigned.map(encodeFrame),
        // An announced length past the 5 MiB limit, or a varint no honest encoder writes.
        fc.constantFrom(
          Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3),
          Uint8Array.of(0x80, 0x80, 0x80, 0x00, 1),
          Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(payload, { minLength: 1, maxLength: 4 }),
          delivery,
          fc.nat(),
          fc.nat(),
          async (frames, how, cut, which) => {
            const node = nodes[which % nodes.length]!;
            const joined = Uint8Array.from(frames.flatMap((frame) => [...frame]));
            await deliver(node, CONSENSUS, joined, how, cut);
          },
        ),
        runs(150),
      );
      // A forgery for an honest validator by the rogue's real key, sent whole, at the live height.
      const honest = decodeMessage(
        captured.consensus.find((b) => decodeMessage(b).type === 'prepare')!,
      );
      const forged = {
        ...(honest as SignedMessage),
        height: target.parts.driver.height,
        view: target.parts.driver.view,
        from: honestKeys[1]!,
      } as SignedMessage;
      const forgedBytes = encodeMessage({
        ...forged,
        signature: rogueValidator.sign(messageSigningHash(CHAIN_ID, forged)),
      } as SignedMessage);
      await expectRogueStreamsReleased('consensus fuzz');
      await deliver(target, CONSENSUS, encodeFrame(forgedBytes), 'whole', 0);

      const counts = async () => ({
        malformed: await dropped('malformed'),
        badSignature: await dropped('badSignature'),
        nonValidator: await dropped('nonValidator'),
        framing:
          (await rejected(target, CONSENSUS, 'oversize')) +
          (await rejected(target, CONSENSUS, 'framing')),
      });
      const grew = (now: typeof before) =>
        Object.fromEntries(
          Object.entries(now).map(([key, value]) => [
            key,
            value > before[key as keyof typeof before],
          ]),
        );
      const allGrew = { malformed: true, badSignature: true, nonValidator: true, framing: true };
      await waitUntil('refusals are counted', async () =>
        Object.values(grew(await counts())).every(Boolean),
      ).catch(() => undefined);
      expect({ grew: grew(await counts()), before }).toEqual({ grew: allGrew, before });
    },
    TIMEOUT,
  );

  it(
    'mempool gossip: garbage, mutated batches and transactions are refused and counted',
    async () => {
      const decodeRejected = await rejected(target, MEMPOOL, 'decode');
      const mempoolRejected = await counterValue(target.metrics.mempool.rejected);
      const real = fc.constantFrom(...captured.mempool);
      /** A real batch with one transaction's bytes mutated, so the batch decodes but the tx does not verify. */
      const mutatedTx = fc.tuple(real, fc.nat(), mutations).map(([bytes, pick, edits]) => {
        const txs = decodeCanonical(bytes) as Uint8Array[];
        const i = pick % txs.length;
        return encodeCanonical(txs.map((tx, j) => (j === i ? mutateBytes(tx, edits) : tx)));
      });
      const payload = fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 512 }).map(encodeFrame),
        fc.tuple(real, mutations).map(([bytes, edits]) => encodeFrame(mutateBytes(bytes, edits))),
        fc
          .tuple(real, fc.nat(), canonicalLeaf)
          .map(([bytes, pick, leaf]) => encodeFrame(mutateField(bytes, pick, leaf))),
        mutatedTx.map(encodeFrame),
        fc.constantFrom(
          Uint8Array.of(0x81, 0x80, 0x40, 1, 2, 3), // 1 MiB + 1 announced: over the 512 KiB limit
          Uint8Array.of(0x80, 0x00, 1),
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(payload, { minLength: 1, maxLength: 4 }),
          delivery,
          fc.nat(),
          fc.nat(),
          async (frames, how, cut, which) => {
            const node = nodes[which % nodes.length]!;
            await deliver(node, MEMPOOL, Uint8Array.from(frames.flatMap((f) => [...f])), how, cut);
          },
        ),
        runs(100),
      );
      await expectRogueStreamsReleased('gossip fuzz');
      await waitUntil('gossip refusals are counted', async () => {
        return (
          (await rejected(target, MEMPOOL, 'decode')) > decodeRejected &&
          (await counterValue(target.metrics.mempool.rejected)) > mempoolRejected
        );
      });
    },
    TIMEOUT,
  );

  it(
    'blocks, snapshots and records: malformed, mutated, oversized and cut requests are refused and counted',
    async () => {
      const before = {
        blocks: await rejected(target, BLOCKS),
        snapshots: await rejected(target, SNAPSHOTS),
        records: await rejected(target, RECORDS),
      };
      const requester = new Signer(sha256(utf8('fuzz-protocols:requester')));
      const signedRequest = encodeSignedRequest(
        await signAccessRequest(requester, {
          recordId: sha256(utf8('no such record')),
          action: 'access',
          purpose: 'TREAT',
        }),
      );
      const request = (protocol: string) => {
        const real = fc.constantFrom(
          ...(protocol === BLOCKS
            ? [encodeBlocksRequest({ from: 1, count: 3 })]
            : protocol === SNAPSHOTS
              ? [encodeSnapshotRequest()]
              : [signedRequest]),
        );
        return fc.oneof(
          fc.uint8Array({ minLength: 0, maxLength: 512 }).map(encodeFrame),
          fc.tuple(real, mutations).map(([bytes, edits]) => encodeFrame(mutateBytes(bytes, edits))),
          fc
            .tuple(real, fc.nat(), canonicalLeaf)
            .map(([bytes, pick, leaf]) => encodeFrame(mutateField(bytes, pick, leaf))),
          fc.constantFrom(
            Uint8Array.of(0xff, 0xff, 0xff, 0x7f, 1, 2), // 256 MiB announced
            Uint8Array.of(0x80, 0x80, 0x00),
          ),
        );
      };
      await fc.assert(
        fc.asyncProperty(
          fc
            .constantFrom(BLOCKS, SNAPSHOTS, RECORDS)
            .chain((protocol) => fc.tuple(fc.constant(protocol), request(protocol))),
          delivery,
          fc.nat(),
          fc.nat(),
          async ([protocol, bytes], how, cut, which) => {
            await deliver(nodes[which % nodes.length]!, protocol, bytes, how, cut);
          },
        ),
        runs(100),
      );
      await expectRogueStreamsReleased('request fuzz');
      await waitUntil('request refusals are counted', async () => {
        return (
          (await rejected(target, BLOCKS)) > before.blocks &&
          (await rejected(target, SNAPSHOTS)) > before.snapshots &&
          (await rejected(target, RECORDS)) > before.records
        );
      });
    },
    TIMEOUT,
  );

  it(
    'afterwards the honest three keep committing the same chain, and nothing reached a handler as a throw',
    async () => {
      const hashes = submit(40);
      await waitUntil('new transactions commit everywhere', () => committedEverywhere(hashes));
      expectSameChain();
      for (const node of nodes) {
        expect(node.parts.host.libp2p.status).toBe('started');
        expect(
          await counterValue(node.metrics.consensus.messagesDropped, { reason: 'core_error' }),
        ).toBe(0);
        for (const protocol of [CONSENSUS, MEMPOOL]) {
          expect(await rejected(node, protocol, 'handler')).toBe(0);
        }
      }
    },
    TIMEOUT,
  );
});
