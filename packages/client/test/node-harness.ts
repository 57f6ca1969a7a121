import { sealEnvelope, sha256, toHex, utf8 } from '@medchain/crypto';
import {
  decideAccess,
  encodeServedRecord,
  encodeTransaction,
  getRecord,
  recordAnchor,
  recordEnvelopeContext,
  type ServedRecord,
  type Transaction,
} from '@medchain/ledger';
import {
  type ApiServer,
  createApiServer,
  type EventStreamOptions,
} from '../../node/src/api/index.js';
import { createLogger } from '../../node/src/logger.js';
import { createMetrics } from '../../node/src/metrics.js';
import { RecordError } from '../../node/src/records/errors.js';
import type { RecordsApi } from '../../node/src/records/http.js';
import { type LedgerBackend, populatedBackend } from '../../node/test/api-chain.js';
import { randomBytes } from '../src/random.js';

/**
 * A real node API (fastify on 127.0.0.1, authentication on) over the api-chain test ledger:
 * genesis, mempool admission and blocks executed and certified for real. Blocks are made by
 * `commitEvery` ms of a timer (or by hand), so a client's submit-then-wait path runs as against a
 * node. Record exchange is the custodian's side in-process: vault in memory, the ledger's access
 * rule, access.log committed, then the record sealed to the requester with st-a's validator key.
 */

/** The api-chain harness derives every key from its label; the seed is needed to seal envelopes. */
export const seedOf = (label: string) => sha256(utf8(`api-test:${label}`));

export async function startNode(
  options: {
    commitEveryMs?: number;
    backend?: LedgerBackend;
    events?: Partial<EventStreamOptions>;
    /** Origins a browser page may call the API from (CORS). */
    corsOrigins?: readonly string[];
  } = {},
) {
  const world = populatedBackend();
  const backend = options.backend ?? world.backend;
  const vault = new Map<string, ServedRecord>();
  const records: RecordsApi = {
    async putRecord(record) {
      vault.set(`${toHex(record.recordId)}/${record.version}`, record);
      const resourceType = JSON.parse(new TextDecoder().decode(record.content)).resourceType;
      const contentHash = recordAnchor(record.content, record.salt);
      return { version: record.version, contentHash, resourceType };
    },
    async eraseRecord(recordId) {
      return vault.delete(`${toHex(recordId)}/1`);
    },
    async fetch(signed) {
      const reader = backend.state();
      const record = getRecord(reader, signed.request.recordId);
      if (record === undefined) throw new RecordError('RECORD_NOT_FOUND', 'no such record');
      const decision = decideAccess(reader, { ...signed.request, time: backend.time + 1000 });
      const custodian = world.a.admin;
      const tx: Transaction = backend.sign(custodian, 'access.log', {
        request: signed.request,
        requestSignature: signed.signature,
        decision: decision.decision,
        consentId: decision.decision === 'permit' ? decision.consentId : null,
      });
      const admitted = backend.submitTransaction(encodeTransaction(tx));
      if (!admitted.accepted) throw new RecordError('RECORD_LOG_FAILED', admitted.message);
      backend.commit();
      if (decision.decision === 'deny') {
        throw new RecordError('RECORD_ACCESS_DENIED', `denied: ${decision.reason}`);
      }
      const stored = vault.get(`${toHex(record.id)}/${record.version}`);
      if (stored === undefined) throw new RecordError('RECORD_NOT_IN_VAULT', 'not in the vault');
      const envelope = sealEnvelope({
        senderSeed: seedOf('st-a/validator'),
        recipient: signed.request.requester,
        context: recordEnvelopeContext(signed.request),
        payload: encodeServedRecord(stored),
        randomBytes,
      });
      return {
        record,
        custodianKey: world.a.validator.publicKey,
        answer: {
          status: 'served',
          logTx: admitted.hash,
          version: record.version,
          contentHash: record.contentHash,
          resourceType: record.resourceType,
          envelope,
        },
      };
    },
  };
  const server: ApiServer = createApiServer({
    backend,
    logger: createLogger({ level: 'silent' }),
    metrics: createMetrics(),
    port: 0,
    records,
    genesis: backend.doc,
    nodeKey: world.a.validator.publicKey,
    events: { heartbeatMs: 60_000, ...options.events },
    ...(options.corsOrigins === undefined ? {} : { corsOrigins: options.corsOrigins }),
  });
  const url = await server.start();
  let timer: ReturnType<typeof setInterval> | undefined;
  if (options.commitEveryMs !== undefined) {
    timer = setInterval(() => {
      if (backend.mempool.size > 0) backend.commit();
    }, options.commitEveryMs);
  }
  return {
    ...world,
    backend,
    url,
    server,
    async close() {
      if (timer !== undefined) clearInterval(timer);
      await server.close();
    },
  };
}
