import { setTimeout as sleep } from 'node:timers/promises';
import {
  ClientError,
  certificateFromJson,
  type EquivocationJson,
  type MedchainClient,
  type StatusJson,
} from '@medchain/client';
import { verifyCommitCertificate } from '@medchain/consensus';
import { fromHex, verify } from '@medchain/crypto';
import { DEFAULT_MAX_CLOCK_DRIFT_MS } from '@medchain/node';
import type { Acknowledged, LoadNode } from './chaos-load.js';

/** How often one read is retried after the node said when to come back (429 or 503). */
const READ_RETRIES = 20;
/** The longest wait one Retry-After may impose: the API's rate-limit window is a minute. */
const MAX_RETRY_AFTER_MS = 65_000;

export interface CheckOptions {
  readonly chainId: string;
  readonly nodes: readonly LoadNode[];
  /** A client of a node that may read its blocks (signed by a member organization's admin). */
  readonly reader: (node: LoadNode) => MedchainClient;
  readonly acknowledged: ReadonlyMap<string, Acknowledged>;
  /** How long every node may take to reach the highest height seen when the load stopped. */
  readonly convergenceTimeoutMs: number;
  /** The validators' clock drift tolerance; default the node's (DEFAULT_MAX_CLOCK_DRIFT_MS). */
  readonly maxClockDriftMs?: number;
}

export interface CheckResult {
  readonly ok: boolean;
  readonly violations: string[];
  /** Height every node reached and was compared up to (block by block). */
  readonly comparedHeight: number;
  /** Each node's status when the walk started. */
  readonly nodes: { name: string; height: number; stateRoot: string }[];
  readonly acknowledgedTxs: number;
  readonly committedTxs: number;
  readonly certificatesChecked: number;
  readonly votesChecked: number;
  /** What the API shows of the validators' votes, hence what "no double vote" covers. */
  readonly doubleVoteScope: string;
}

interface Located {
  readonly height: number;
  readonly index: number;
  readonly code: string;
  readonly message: string;
}

/** The most violations listed one by one; beyond that they are only counted. */
const MAX_LISTED = 50;

/**
 * What is wrong with a block's time, if anything: it must not go back from its parent's, and
 * it must not be further ahead of the checker's clock (read after the block was committed)
 * than the drift tolerance. An honest replica refuses a proposal further ahead of its own
 * clock, and with at most f validators skewed, every block had an unskewed replica's vote.
 */
export function blockTimeViolation(
  height: number,
  time: number,
  parentTime: number,
  checkedAt: number,
  maxClockDriftMs: number,
): string | undefined {
  if (time < parentTime) {
    return `height ${height}: block time ${time} is before its parent's ${parentTime}`;
  }
  if (time > checkedAt + maxClockDriftMs) {
    return `height ${height}: block time ${time} is ${time - checkedAt} ms ahead of the checker's clock (tolerance ${maxClockDriftMs} ms)`;
  }
  return undefined;
}

/**
 * The external checker, like CometBFT's e2e tests: it sees the nodes only through their HTTP
 * API. Waits until every node reached the highest height any node had, then walks every block
 * on every node and asserts: the same block hash and state root at every height on every node;
 * every acknowledged transaction at the acknowledged height and index with the same receipt on
 * every node; every commit certificate carries a quorum of valid validator signatures over that
 * block; no validator's signature appears for two different digests at one height and view, nor
 * in any node's equivocation evidence; and
 * block time never goes back nor runs ahead of the checker's clock beyond the drift tolerance.
 */
export async function checkChain(options: CheckOptions): Promise<CheckResult> {
  const violations: string[] = [];
  let dropped = 0;
  const violate = (text: string) => {
    if (violations.length < MAX_LISTED) violations.push(text);
    else dropped++;
  };
  const clients = options.nodes.map(options.reader);
  const statuses = await waitForConvergence(clients, options.convergenceTimeoutMs);
  // Every compared block was committed before this moment.
  const checkedAt = Date.now();
  const maxClockDriftMs = options.maxClockDriftMs ?? DEFAULT_MAX_CLOCK_DRIFT_MS;
  let parentTime = 0;
  const target = Math.max(...statuses.map((s) => s?.height ?? 0));
  options.nodes.forEach((node, i) => {
    if ((statuses[i]?.height ?? -1) < target) {
      violate(
        `${node.name} did not reach height ${target} within ${options.convergenceTimeoutMs} ms (at ${statuses[i]?.height ?? 'no answer'})`,
      );
    }
  });
  const validators: Uint8Array[] = (statuses.find((s) => s !== undefined)?.validators ?? []).map(
    (v) => fromHex(v.publicKey),
  );
  const compared = Math.min(...statuses.map((s) => s?.height ?? 0));

  const locations = new Map<string, Located>();
  /** `${validator}|${height}|${view}` -> digest it signed (commit votes in certificates). */
  const commitVotes = new Map<string, string>();
  const verifiedCertificates = new Set<string>();
  let votesChecked = 0;
  for (let height = 1; height <= compared; height++) {
    const blocks = await Promise.all(clients.map((c) => whenLetThrough(() => c.block(height))));
    const reference = blocks[0]!;
    const time: number = reference.header.time;
    const timeViolation = blockTimeViolation(height, time, parentTime, checkedAt, maxClockDriftMs);
    if (timeViolation !== undefined) violate(timeViolation);
    parentTime = time;
    blocks.forEach((block, i) => {
      const name = options.nodes[i]!.name;
      if (block.hash !== reference.hash) {
        violate(
          `height ${height}: ${name} has block ${block.hash}, ${options.nodes[0]!.name} ${reference.hash}`,
        );
      }
      if (block.header.stateRoot !== reference.header.stateRoot) {
        violate(`height ${height}: ${name} state root ${block.header.stateRoot} differs`);
      }
      const certificate = block.certificate;
      if (
        certificate === null ||
        certificate.height !== height ||
        certificate.digest !== block.hash
      ) {
        violate(`height ${height}: ${name}'s commit certificate is missing or not for this block`);
        return;
      }
      const key = JSON.stringify(certificate);
      if (!verifiedCertificates.has(key)) {
        verifiedCertificates.add(key);
        if (
          !verifyCommitCertificate(options.chainId, certificateFromJson(certificate), validators, {
            verify,
          })
        ) {
          violate(
            `height ${height}: ${name}'s commit certificate does not hold a quorum of valid signatures`,
          );
        }
        for (const vote of certificate.votes) {
          votesChecked++;
          const slot = `${vote.from}|${height}|${certificate.view}`;
          const earlier = commitVotes.get(slot);
          if (earlier === undefined) commitVotes.set(slot, certificate.digest);
          else if (earlier !== certificate.digest) {
            violate(
              `double vote: validator ${vote.from.slice(0, 16)} signed COMMIT for ${earlier.slice(0, 16)} and ${certificate.digest.slice(0, 16)} at height ${height}, view ${certificate.view}`,
            );
          }
        }
      }
      block.receipts.forEach((r, index) => {
        const seen = locations.get(r.txHash);
        const here = { height, index, code: r.code, message: r.message };
        if (seen === undefined) {
          if (i === 0) locations.set(r.txHash, here);
          else
            violate(
              `${name} has tx ${r.txHash} at ${height}/${index}, ${options.nodes[0]!.name} does not`,
            );
        } else if (i === 0 && (seen.height !== height || seen.index !== index)) {
          violate(
            `tx ${r.txHash} committed twice: ${seen.height}/${seen.index} and ${height}/${index}`,
          );
        } else if (
          seen.height !== height ||
          seen.index !== index ||
          seen.code !== r.code ||
          seen.message !== r.message
        ) {
          violate(
            `tx ${r.txHash}: ${name} has ${JSON.stringify(here)}, ${options.nodes[0]!.name} ${JSON.stringify(seen)}`,
          );
        }
      });
    });
  }

  for (const ack of options.acknowledged.values()) {
    const found = locations.get(ack.hash);
    if (found === undefined) {
      violate(
        `tx ${ack.hash} acknowledged as committed by ${ack.node} at ${ack.height}/${ack.index} is in no compared block`,
      );
    } else if (
      found.height !== ack.height ||
      found.index !== ack.index ||
      found.code !== ack.receipt.code ||
      found.message !== ack.receipt.message
    ) {
      violate(
        `tx ${ack.hash}: acknowledged by ${ack.node} as ${ack.height}/${ack.index} ${ack.receipt.code}, the chain has ${found.height}/${found.index} ${found.code}`,
      );
    }
  }
  const evidence = await Promise.all(clients.map((c) => whenLetThrough(() => c.evidence())));
  evidence.forEach((answer, i) => {
    for (const text of evidenceViolations(options.nodes[i]!.name, answer)) violate(text);
  });
  if (dropped > 0) violations.push(`... and ${dropped} more violations`);
  return {
    ok: violations.length === 0,
    violations,
    comparedHeight: compared,
    nodes: options.nodes.map((node, i) => ({
      name: node.name,
      height: statuses[i]?.height ?? -1,
      stateRoot: statuses[i]?.stateRoot ?? '',
    })),
    acknowledgedTxs: options.acknowledged.size,
    committedTxs: locations.size,
    certificatesChecked: verifiedCertificates.size,
    votesChecked,
    doubleVoteScope:
      "COMMIT votes inside every node's copy of each commit certificate, plus each node's equivocation evidence (GET /v1/consensus/evidence: every conflicting signed PRE-PREPARE, PREPARE, COMMIT or CHECKPOINT a node received, and certificate votes contradicting the vote it got); two conflicting VIEW-CHANGEs, or conflicting votes no honest node received, are not visible",
  };
}

/**
 * Runs `read`, and again after the wait the node names when it answers 429 (RATE_LIMITED) or 503
 * with a Retry-After: the checker reads every block from every node, more than a member's
 * rate limit allows in a minute on a long run. Any other failure, or a wait beyond a minute,
 * is thrown as it came. Bounded by READ_RETRIES.
 */
export async function whenLetThrough<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (
        !(error instanceof ClientError) ||
        (error.status !== 429 && error.status !== 503) ||
        error.retryAfterMs === undefined ||
        error.retryAfterMs > MAX_RETRY_AFTER_MS ||
        attempt >= READ_RETRIES
      ) {
        throw error;
      }
      await sleep(error.retryAfterMs);
    }
  }
}

/**
 * A node's equivocation evidence (`GET /v1/consensus/evidence`) as violations: in a run with
 * only crash faults any item at all means a validator signed two different votes.
 */
export function evidenceViolations(name: string, answer: unknown): string[] {
  const list = answer as { items?: unknown; total?: unknown } | undefined;
  if (!Array.isArray(list?.items) || !Number.isSafeInteger(list?.total)) {
    return [`${name}: malformed evidence answer ${JSON.stringify(answer).slice(0, 200)}`];
  }
  const { items, total } = list as { items: Partial<EquivocationJson>[]; total: number };
  const out = items.map(
    (item) =>
      `double vote: ${name} holds evidence that validator ${String(item.validator).slice(0, 16)} signed two ${item.phase} votes at height ${item.height}, view ${item.view} (verified: ${item.verified})`,
  );
  if (total > items.length) {
    out.push(`${name}: ${total - items.length} more equivocations than it lists`);
  }
  return out;
}

/** Polls until every node reaches the highest height any node reports (bounded). */
async function waitForConvergence(
  clients: readonly MedchainClient[],
  timeoutMs: number,
): Promise<(StatusJson | undefined)[]> {
  const ask = () => Promise.all(clients.map((c) => c.status().catch(() => undefined)));
  const highest = (answers: readonly (StatusJson | undefined)[]) =>
    Math.max(0, ...answers.map((s) => s?.height ?? 0));
  let statuses = await ask();
  // The target moves with the highest height seen: a block still in flight when the load
  // stopped may commit on some nodes while the others are being asked.
  let target = highest(statuses);
  const deadline = Date.now() + timeoutMs;
  while (statuses.some((s) => (s?.height ?? -1) < target) && Date.now() < deadline) {
    await sleep(250);
    statuses = await ask();
    target = Math.max(target, highest(statuses));
  }
  return statuses;
}
