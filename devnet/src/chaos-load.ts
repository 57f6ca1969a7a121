import { setTimeout as sleep } from 'node:timers/promises';
import { ClientError, type MedchainClient, type ReceiptJson } from '@medchain/client';
import { Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import { signTransaction, type Transaction, transactionHash } from '@medchain/ledger';

/** What a node's API acknowledged: the transaction is committed here, with this receipt. */
export interface Acknowledged {
  readonly hash: string;
  readonly height: number;
  readonly index: number;
  readonly receipt: ReceiptJson;
  /** The node that answered. */
  readonly node: string;
}

export interface LoadNode {
  readonly name: string;
  readonly api: string;
}

/** Per request: a frozen node must not hold a client up. */
export const REQUEST_TIMEOUT_MS = 2_000;
const POLL_MS = 100;
/** A node that has not seen the tx for this long lost it (restarted): send it again elsewhere. */
const UNKNOWN_RESEND_MS = 3_000;
/** A node that holds it pending for this long may be cut off: try another one. */
const PENDING_RESEND_MS = 15_000;
/** Transactions signed ahead per client, so signing never sits between two submissions. */
const PRESIGN = 64;

/**
 * Steady load from `clients` keys (derived from the seed), each closed-loop: one transaction in
 * flight, the next signed nonce only after a node's API said the previous one is committed. A
 * client whose node is down, frozen or behind moves on to the next node and resends the same
 * bytes, so a crash never opens a nonce gap. Each client registers as a patient, then flips its
 * opt-out policy: every transaction changes the state, so state roots really are compared.
 */
export class ChaosLoad {
  readonly acknowledged = new Map<string, Acknowledged>();
  /** Refusals and errors by code (diagnostics, not a verdict). */
  readonly errors = new Map<string, number>();
  #stopped = false;
  #running: Promise<void>[] = [];

  constructor(
    private readonly chainId: string,
    private readonly nodes: readonly LoadNode[],
    private readonly clients: number,
    private readonly seed: number,
    /** A client of `node` acting for `signer` (the submitter reads its own transactions). */
    private readonly connect: (node: LoadNode, signer: Signer) => MedchainClient,
  ) {}

  start(): void {
    this.#running = Array.from({ length: this.clients }, (_, c) => this.#client(c));
  }

  /** Stops signing new transactions; the in-flight ones are abandoned (not acknowledged). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#running);
  }

  #count(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  #sign(signer: Signer, nonce: number): Transaction {
    const patient = signer.publicKey;
    const common = { chainId: this.chainId, signer: patient, nonce };
    return signTransaction(
      nonce === 1
        ? { ...common, kind: 'patient.register', body: {} }
        : {
            ...common,
            kind: 'patient.policy',
            body: { patient, breakGlassOptOut: nonce % 2 === 0, researchOptOut: nonce % 3 === 0 },
          },
      signer,
    );
  }

  async #client(c: number): Promise<void> {
    const signer = new Signer(sha256(utf8(`medchain chaos client ${this.seed} ${c}`)));
    let nonce = 1;
    let node = c % this.nodes.length;
    const pool: Transaction[] = [];
    while (!this.#stopped) {
      if (pool.length === 0) {
        for (let i = 0; i < PRESIGN; i++) pool.push(this.#sign(signer, nonce + i));
      }
      const tx = pool[0]!;
      const ack = await this.#deliver(
        signer,
        tx,
        () => {
          node = (node + 1) % this.nodes.length;
          return this.nodes[node]!;
        },
        this.nodes[node]!,
      );
      if (ack === undefined) continue; // stopped, or moving to another node
      this.acknowledged.set(ack.hash, ack);
      pool.shift();
      nonce++;
    }
  }

  /** Submits `tx` and polls until a node reports it committed; undefined once stopped. */
  async #deliver(
    signer: Signer,
    tx: Transaction,
    nextNode: () => LoadNode,
    first: LoadNode,
  ): Promise<Acknowledged | undefined> {
    const hash = toHex(transactionHash(tx));
    let node = first;
    while (!this.#stopped) {
      const api = this.connect(node, signer);
      try {
        await api.submit(tx);
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'ERROR';
        // DUPLICATE / BAD_NONCE: it may already be pending or committed there; ask.
        if (!(error instanceof ClientError && error.status === 409)) {
          this.#count(code);
          if (code !== 'MEMPOOL_FULL' && code !== 'NOT_READY' && code !== 'RATE_LIMITED') {
            node = nextNode();
          }
          await sleep(POLL_MS);
          continue;
        }
      }
      const ack = await this.#poll(api, hash, node.name);
      if (ack !== undefined) return ack;
      node = nextNode();
    }
    return undefined;
  }

  async #poll(api: MedchainClient, hash: string, name: string): Promise<Acknowledged | undefined> {
    const start = Date.now();
    let lastSeen = start;
    while (!this.#stopped) {
      try {
        const answer = await api.tx(hash);
        if (answer.status === 'committed') {
          return {
            hash,
            height: answer.height,
            index: answer.index,
            receipt: answer.receipt,
            node: name,
          };
        }
        lastSeen = Date.now();
        if (Date.now() - start > PENDING_RESEND_MS) return undefined;
      } catch (error) {
        if (!(error instanceof ClientError && error.status === 404)) {
          this.#count((error as { code?: string }).code ?? 'ERROR');
          return undefined;
        }
        if (Date.now() - lastSeen > UNKNOWN_RESEND_MS) return undefined;
      }
      await sleep(POLL_MS);
    }
    return undefined;
  }
}
