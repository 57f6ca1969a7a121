import { join } from 'node:path';
import { type Canonical, Signer, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  accessRequestDigest,
  auditTrail,
  buildBlock,
  consentsOfPatient,
  DEFAULT_LEDGER_PARAMS,
  encodeBlock,
  expectedNonce,
  getAuditAccumulator,
  isCompleteAuditTrail,
  parseGenesis,
  providersOfOrganization,
  recordHistory,
  recordId,
  recordsOfPatient,
  signTransaction,
  type Transaction,
  type TxKind,
  validatorSetHash,
} from '@medchain/ledger';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bucket, Chain, createLogger, createMetrics, Database } from '../src/index.js';
import { tempDir } from './helpers.js';

/**
 * The history index (Bucket.historyIndex) beside the blocks: written in each block's batch,
 * the same after a restart, rebuilt from the stored receipts when its bucket is lost, and
 * refused (LEDGER_HISTORY_MISSING) on a node whose history starts at a state snapshot.
 */

const CHAIN_ID = 'medchain-history-test';
const T0 = 1_750_000_000_000;
const signer = (label: string) => new Signer(sha256(utf8(`history-test:${label}`)));
const admin = signer('admin');
const validator = signer('validator');
const clinician = signer('clinician');
const patients = [signer('alice'), signer('bob')];
const orgId = sha256(utf8('history-test:org'));
const genesis = parseGenesis({
  chainId: CHAIN_ID,
  genesisTime: T0,
  organizations: [
    {
      id: orgId,
      adminKeys: [admin.publicKey],
      validatorKey: validator.publicKey,
      peerId: '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo',
    },
  ],
  params: { ...DEFAULT_LEDGER_PARAMS },
  consensus: {},
});
const logger = createLogger({ level: 'silent' });
const DAY = 86_400_000;

async function open(path: string) {
  const db = await Database.open(path);
  const chain = await Chain.open({ db, genesis, logger, metrics: createMetrics() });
  return { db, chain };
}

/** Commits one block of `build(...)`'s transactions, nonces counted from the chain. */
async function commit(chain: Chain, txs: ReadonlyArray<[Signer, TxKind, object]>) {
  const pending = new Map<string, number>();
  const signed: Transaction[] = txs.map(([from, kind, body]) => {
    const id = toHex(from.publicKey);
    const offset = pending.get(id) ?? 0;
    pending.set(id, offset + 1);
    const nonce = expectedNonce(chain.state, from.publicKey) + offset;
    return signTransaction(
      { chainId: CHAIN_ID, kind, body: body as Canonical, signer: from.publicKey, nonce },
      from,
    );
  });
  const time = chain.lastTime + 1_000;
  const block = buildBlock(
    {
      chainId: CHAIN_ID,
      height: chain.height + 1,
      time,
      parentHash: chain.lastHash,
      stateRoot: chain.stateRoot,
      validatorSetHash: validatorSetHash(chain.validators),
      proposer: validator.publicKey,
    },
    signed,
  );
  const executed = await chain.commitBlock(
    encodeBlock(block),
    { height: block.header.height, view: 0, digest: new Uint8Array(32), votes: [] },
    {},
  );
  expect(executed.receipts.map((r) => `${r.code} ${r.message}`.trim())).toEqual(
    signed.map(() => 'OK'),
  );
}

let requests = 0;
function accessLog(record: Uint8Array, time: number, consentId: Uint8Array | null) {
  requests += 1;
  const request = {
    recordId: record,
    requester: clinician.publicKey,
    action: 'access',
    purpose: 'TREAT',
    time,
    nonce: sha256(utf8(`request-${requests}`)).slice(0, 16),
  } as const;
  return {
    request,
    requestSignature: clinician.sign(accessRequestDigest(request)),
    decision: consentId === null ? 'deny' : 'permit',
    consentId,
  };
}

/** Everything the queries serve from the index, as one comparable value. */
function served(chain: Chain) {
  const history = chain.historyReader();
  const page = { limit: 200 };
  return toHex(
    utf8(
      JSON.stringify(
        [
          providersOfOrganization(chain.state, history, orgId, page),
          ...patients.flatMap((p) => [
            consentsOfPatient(chain.state, history, p.publicKey, page),
            recordsOfPatient(chain.state, history, p.publicKey, page),
            auditTrail(history, p.publicKey, page),
          ]),
          ...records.map((id) => recordHistory(history, id, page)),
        ],
        (_key, value) => (value instanceof Uint8Array ? toHex(value) : value),
      ),
    ),
  );
}

const records = patients.map((p) => recordId(orgId, p.publicKey, sha256(p.publicKey).slice(0, 16)));
let dir: Awaited<ReturnType<typeof tempDir>>;
let path: string;
let before: string;

beforeAll(async () => {
  dir = await tempDir('history');
  path = join(dir.path, 'db');
  const { db, chain } = await open(path);
  await commit(chain, [
    [admin, 'provider.register', { provider: clinician.publicKey, role: 'clinician' }],
    ...patients.map((p): [Signer, TxKind, object] => [p, 'patient.register', {}]),
  ]);
  await commit(
    chain,
    patients.map((p, i) => [
      clinician,
      'record.anchor',
      {
        patient: p.publicKey,
        custodian: orgId,
        resourceType: 'Observation',
        contentHash: sha256(utf8(`content-${i}`)),
        nonce: sha256(p.publicKey).slice(0, 16),
      },
    ]),
  );
  await commit(chain, [
    [clinician, 'record.amend', { recordId: records[0]!, contentHash: sha256(utf8('v2')) }],
  ]);
  const grantTime = chain.lastTime;
  await commit(chain, [
    [
      patients[0]!,
      'consent.grant',
      {
        patient: patients[0]!.publicKey,
        grantee: { type: 'provider', id: clinician.publicKey },
        recordIds: [],
        resourceTypes: ['Observation'],
        actions: ['access'],
        purposes: ['TREAT'],
        validFrom: grantTime,
        validUntil: grantTime + 30 * DAY,
      },
    ],
  ]);
  const consentId = consentsOfPatient(chain.state, chain.historyReader(), patients[0]!.publicKey)
    .items[0]!.id;
  // Several audit entries for one patient in one block, and one for the other.
  const time = chain.lastTime + 1_000;
  await commit(chain, [
    [validator, 'access.log', accessLog(records[0]!, time, consentId)],
    [validator, 'access.log', accessLog(records[0]!, time, consentId)],
    [validator, 'access.log', accessLog(records[1]!, time, null)],
  ]);
  before = served(chain);
  await db.close();
});

afterAll(async () => {
  await dir.remove();
});

describe('the history index', () => {
  it('serves what the blocks did, and each trail is whole against the state', async () => {
    const { db, chain } = await open(path);
    try {
      const history = chain.historyReader();
      expect(auditTrail(history, patients[0]!.publicKey).total).toBe(2);
      expect(recordHistory(history, records[0]!).items.map((v) => v.version)).toEqual([1, 2]);
      expect(providersOfOrganization(chain.state, history, orgId).total).toBe(1);
      for (const p of patients) {
        const trail = auditTrail(history, p.publicKey).items;
        expect(isCompleteAuditTrail(trail, getAuditAccumulator(chain.state, p.publicKey))).toBe(
          true,
        );
      }
      // Reopened: the same as before the restart.
      expect(served(chain)).toBe(before);
    } finally {
      await db.close();
    }
  });

  it('is rebuilt from the stored blocks and receipts when its bucket is lost', async () => {
    const wiped = await Database.open(path);
    const batch = wiped.batch();
    let entries = 0;
    for await (const [key] of wiped.entries(Bucket.historyIndex)) {
      batch.del(Bucket.historyIndex, key);
      entries++;
    }
    expect(entries).toBeGreaterThan(0);
    await wiped.write(batch);
    await wiped.close();
    const { db, chain } = await open(path);
    try {
      expect(served(chain)).toBe(before);
    } finally {
      await db.close();
    }
  });

  it('after a snapshot install, answers LEDGER_HISTORY_MISSING instead of partial lists', async () => {
    const other = await tempDir('history-snapshot');
    try {
      const source = await open(path);
      const entries: [Uint8Array, Uint8Array][] = [];
      for await (const entry of source.db.entries(Bucket.state)) entries.push(entry);
      const head = {
        height: source.chain.height,
        hash: source.chain.lastHash,
        time: source.chain.lastTime,
        stateRoot: source.chain.stateRoot,
      };
      await source.db.close();
      const db = await Database.open(join(other.path, 'db'));
      await Chain.open({ db, genesis, logger, metrics: createMetrics() });
      await Chain.installSnapshot(db, { ...head, entries });
      const chain = await Chain.open({ db, genesis, logger, metrics: createMetrics() });
      expect(chain.historyFrom).toBe(head.height);
      expect(() => auditTrail(chain.historyReader(), patients[0]!.publicKey)).toThrow(
        expect.objectContaining({ code: 'LEDGER_HISTORY_MISSING' }),
      );
      // It still indexes the blocks it commits itself.
      await commit(chain, [[patients[1]!, 'patient.policy', policy(patients[1]!)]]);
      await db.close();
    } finally {
      await other.remove();
    }
  });
});

function policy(p: Signer) {
  return { patient: p.publicKey, breakGlassOptOut: false, researchOptOut: true };
}
