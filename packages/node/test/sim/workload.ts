import { type SeededRandom, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  DEFAULT_LEDGER_PARAMS,
  encodeTransaction,
  type GenesisDocument,
  parseGenesis,
  signTransaction,
  type Transaction,
  transactionHash,
} from '@medchain/ledger';

export const SIM_CHAIN_ID = 'medchain-sim';
/** Genesis time of every run; the nodes' clocks start a little after it. */
export const SIM_GENESIS_TIME = Date.UTC(2026, 0, 1);

/** A founding organization: its validator (the node) and its admin key (a client). */
export interface SimOrganization {
  readonly validator: Signer;
  readonly admin: Signer;
  readonly peerId: string;
}

/** Keys derived once per process: deriving a public key costs as much as a signature. */
const keyPool: Signer[] = [];
function pooledKey(i: number): Signer {
  for (let k = keyPool.length; k <= i; k++)
    keyPool.push(new Signer(sha256(utf8(`node-sim:key:${k}`))));
  return keyPool[i]!;
}
/** Keys named in transaction bodies (providers, delegates): any of a small pool. */
const BODY_KEYS = 32;

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Deterministic keys for every run (the seed changes the schedule, not the keys). */
export function simOrganizations(n: number): SimOrganization[] {
  return Array.from({ length: n }, (_, i) => ({
    validator: new Signer(sha256(utf8(`node-sim:validator:${i}`))),
    admin: new Signer(sha256(utf8(`node-sim:admin:${i}`))),
    // A well-formed libp2p-looking id (the genesis checks its alphabet and length only).
    peerId: `12D3KooWSim${BASE58[i % BASE58.length]!.repeat(41)}`,
  }));
}

export function simGenesis(
  organizations: readonly SimOrganization[],
  consensus: { readonly checkpointInterval: number; readonly baseTimeoutTicks: number },
): GenesisDocument {
  return parseGenesis({
    chainId: SIM_CHAIN_ID,
    genesisTime: SIM_GENESIS_TIME,
    organizations: organizations.map((org, i) => ({
      id: sha256(utf8(`node-sim:org:${i}`)),
      adminKeys: [org.admin.publicKey],
      validatorKey: org.validator.publicKey,
      peerId: org.peerId,
    })),
    params: { ...DEFAULT_LEDGER_PARAMS },
    consensus: { ...consensus },
  });
}

/** One signed transaction of the workload, and where it stands. */
export interface WorkItem {
  readonly client: number;
  readonly nonce: number;
  readonly tx: Transaction;
  readonly bytes: Uint8Array;
  readonly hash: string;
}

/**
 * A client: one key submitting its transactions in nonce order, the next only after the
 * previous was acknowledged (as the client package does). Organization admins register
 * providers (their role is in genesis, so any nonce is admissible); patients register
 * themselves first, then revoke delegations they never gave (admissible on the signer alone;
 * the block commits it with a failed receipt, which still uses the nonce).
 */
export class Client {
  readonly items: WorkItem[] = [];
  /** Index of the next item to submit. */
  next = 0;

  constructor(
    readonly index: number,
    readonly signer: Signer,
    kind: 'admin' | 'patient',
    count: number,
    random: SeededRandom,
  ) {
    for (let nonce = 1; nonce <= count; nonce++) {
      const other = pooledKey(random.int(BODY_KEYS)).publicKey;
      const tx =
        kind === 'admin'
          ? signTransaction(
              {
                chainId: SIM_CHAIN_ID,
                kind: 'provider.register',
                body: { provider: other, role: 'nurse' },
                signer: signer.publicKey,
                nonce,
              },
              signer,
            )
          : signTransaction(
              {
                chainId: SIM_CHAIN_ID,
                ...(nonce === 1
                  ? { kind: 'patient.register', body: {} }
                  : {
                      kind: 'patient.undelegate',
                      body: { patient: signer.publicKey, delegate: other },
                    }),
                signer: signer.publicKey,
                nonce,
              },
              signer,
            );
      this.items.push({
        client: index,
        nonce,
        tx,
        bytes: encodeTransaction(tx),
        hash: toHex(transactionHash(tx)),
      });
    }
  }

  get done(): boolean {
    return this.next >= this.items.length;
  }
}

/** The clients of a run: every organization's admin, and `patients` fresh patients. */
export function simClients(
  organizations: readonly SimOrganization[],
  patients: number,
  txsPerClient: number,
  random: SeededRandom,
): Client[] {
  const clients: Client[] = [];
  for (const org of organizations) {
    clients.push(new Client(clients.length, org.admin, 'admin', txsPerClient, random));
  }
  for (let i = 0; i < patients; i++) {
    const key = pooledKey(BODY_KEYS + i);
    clients.push(new Client(clients.length, key, 'patient', txsPerClient, random));
  }
  return clients;
}
