import { bytesEqual, encodeEnvelope, fromHex, toHex } from '@medchain/crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Json, toJson } from '../api/json.js';
import type { PutRecord, VaultVersion } from '../vault/index.js';
import { RecordError } from './errors.js';
import { checkSignedRequest, type SignedAccessRequest } from './protocol.js';
import type { FetchedRecord } from './service.js';

/** What the HTTP API needs of the node's record exchange (RecordsService implements it). */
export interface RecordsApi {
  putRecord(record: PutRecord): Promise<VaultVersion & { resourceType: string }>;
  eraseRecord(recordId: Uint8Array): Promise<boolean>;
  fetch(signed: SignedAccessRequest): Promise<FetchedRecord>;
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<Json | undefined>;

function records(api: RecordsApi | undefined): RecordsApi {
  if (api === undefined) {
    throw new RecordError('RECORD_NOT_IN_VAULT', 'this node does not run record exchange');
  }
  return api;
}

/** The request JSON (bytes as hex, as route schemas check) back to ledger values. */
function signedFromJson(body: {
  request: Record<string, string | number>;
  signature: string;
}): SignedAccessRequest {
  const raw = body.request;
  const request: Record<string, unknown> = {
    ...raw,
    recordId: fromHex(String(raw.recordId)),
    requester: fromHex(String(raw.requester)),
    nonce: fromHex(String(raw.nonce)),
  };
  return checkSignedRequest({ request, signature: fromHex(body.signature) });
}

export type RecordOperationId = 'putVaultRecord' | 'eraseVaultRecord' | 'fetchRecord';

/** Handlers of the record routes (routes.ts), built apart so the server stays one table. */
export function recordHandlers(api: RecordsApi | undefined): Record<RecordOperationId, Handler> {
  return {
    putVaultRecord: async (request, reply) => {
      const body = request.body as {
        recordId: string;
        patient: string;
        version: number;
        content: string;
      };
      const stored = await records(api).putRecord({
        recordId: fromHex(body.recordId),
        patient: fromHex(body.patient),
        version: body.version,
        content: fromHex(body.content),
      });
      reply.code(201);
      return toJson({ recordId: body.recordId, ...stored });
    },

    eraseVaultRecord: async (request) => {
      const id = fromHex((request.params as { id: string }).id);
      return { recordId: toHex(id), held: await records(api).eraseRecord(id) };
    },

    fetchRecord: async (request) => {
      const id = fromHex((request.params as { id: string }).id);
      const signed = signedFromJson(request.body as Parameters<typeof signedFromJson>[0]);
      if (!bytesEqual(signed.request.recordId, id)) {
        throw new RecordError('RECORD_BAD_REQUEST', 'the signed request names another record');
      }
      const fetched = await records(api).fetch(signed);
      const { answer } = fetched;
      return toJson({
        record: fetched.record,
        custodianKey: fetched.custodianKey,
        logTx: answer.logTx,
        version: answer.version,
        contentHash: answer.contentHash,
        resourceType: answer.resourceType,
        envelope: encodeEnvelope(answer.envelope),
      });
    },
  };
}
