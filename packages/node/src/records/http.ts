import { accessRequestFromJson } from '@medchain/client';
import { bytesEqual, encodeEnvelope, fromHex, toHex } from '@medchain/crypto';
import {
  decideAccess,
  getRecord,
  type KeyValueReader,
  matchesRecordAnchor,
  recordHistory,
} from '@medchain/ledger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../api/http-error.js';
import { type Json, toJson } from '../api/json.js';
import type { PutRecord, VaultVersion } from '../vault/index.js';
import { RecordError } from './errors.js';
import type { SignedAccessRequest } from './protocol.js';
import { refuseRequesterWithoutRole } from './requester.js';
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

/**
 * The request JSON (bytes as hex, as route schemas check) back to ledger values, the
 * requester's signature checked: `@medchain/client`'s parser, failures as RECORD_BAD_REQUEST.
 */
function signedFromJson(body: unknown): SignedAccessRequest {
  try {
    return accessRequestFromJson(body);
  } catch (error) {
    throw new RecordError('RECORD_BAD_REQUEST', (error as Error).message);
  }
}

export type RecordOperationId =
  | 'putVaultRecord'
  | 'eraseVaultRecord'
  | 'fetchRecord'
  | 'accessDecision';

/** What the record routes read besides the record exchange. */
export interface RecordRouteContext {
  /** Committed state. */
  state(): KeyValueReader;
  /** The history index (ApiBackend.history): a record's versions. */
  history(): KeyValueReader;
  /** The member organization this node's validator key belongs to. */
  ownOrganization(): Uint8Array | undefined;
  /** The node's clock (ms). */
  now(): number;
  /** The key that signed the request (after the server verified it), if any. */
  signerOf(request: FastifyRequest): Uint8Array | undefined;
  /** Whether requests are authenticated (api.auth); when off, the vault takes unsigned uploads. */
  readonly authRequired: boolean;
}

const forbidden = (code: string, message: string) => new HttpError(403, code, message);

/**
 * The vault takes version v of a record only once the ledger has it, from the key that
 * anchored or amended it: the record is this organization's, version v's author is the
 * request's signer and its anchor is the content's commitment under the given salt (or, with
 * no salt, its plain sha256: a version anchored before salts). A squatter can then neither
 * store a version nobody anchored nor take a version number before its author does.
 */
function checkUpload(context: RecordRouteContext, signer: Uint8Array, upload: PutRecord): void {
  const { recordId, patient, version, content, salt } = upload;
  const state = context.state();
  const record = getRecord(state, recordId);
  const own = context.ownOrganization();
  if (record === undefined || own === undefined || !bytesEqual(record.custodian, own)) {
    throw forbidden(
      'VAULT_NOT_ANCHORED_BY_SIGNER',
      `record ${toHex(recordId)} is not anchored with this organization as custodian: anchor it (record.anchor) before storing it`,
    );
  }
  const versions = recordHistory(context.history(), recordId, { offset: version - 1, limit: 1 });
  const entry = versions.items[0];
  if (
    !bytesEqual(record.patient, patient) ||
    entry === undefined ||
    entry.version !== version ||
    !bytesEqual(entry.author, signer) ||
    !matchesRecordAnchor(entry.contentHash, content, salt)
  ) {
    throw forbidden(
      'VAULT_NOT_ANCHORED_BY_SIGNER',
      `version ${version} of record ${toHex(recordId)} must be anchored (or amended) by the signing key, for this patient, with contentHash = recordCommitment(salt, content) (or sha256 of the content, without a salt), before it is stored`,
    );
  }
}

/** Handlers of the record routes (routes.ts), built apart so the server stays one table. */
export function recordHandlers(
  api: RecordsApi | undefined,
  context: RecordRouteContext,
): Record<RecordOperationId, Handler> {
  return {
    putVaultRecord: async (request, reply) => {
      const body = request.body as {
        recordId: string;
        patient: string;
        version: number;
        content: string;
        salt?: string;
      };
      const upload: PutRecord = {
        recordId: fromHex(body.recordId),
        patient: fromHex(body.patient),
        version: body.version,
        content: fromHex(body.content),
        ...(body.salt === undefined ? {} : { salt: fromHex(body.salt) }),
      };
      const signer = context.signerOf(request);
      if (context.authRequired) {
        // The server has verified a signature by now; a missing one is a wiring bug, refused.
        if (signer === undefined) throw forbidden('FORBIDDEN', 'no verified request signer');
        checkUpload(context, signer, upload);
      }
      const stored = await records(api).putRecord(upload);
      reply.code(201);
      return toJson({ recordId: body.recordId, ...stored });
    },

    eraseVaultRecord: async (request) => {
      const id = fromHex((request.params as { id: string }).id);
      // Shredding follows a committed record.erase of a record this organization keeps; a
      // never-anchored id has nothing to erase and must not be tombstoned ahead of its anchor.
      const record = getRecord(context.state(), id);
      const own = context.ownOrganization();
      if (record === undefined || own === undefined || !bytesEqual(record.custodian, own)) {
        throw forbidden(
          'VAULT_NOT_CUSTODIAN',
          `record ${toHex(id)} is not anchored with this organization as custodian`,
        );
      }
      return { recordId: toHex(id), held: await records(api).eraseRecord(id) };
    },

    accessDecision: async (request) => {
      const { request: asked } = signedFromJson(request.body);
      // At the request's own time, as the custodian's log entry will be judged near it: only
      // the decision and its consent leave the node, not the entries it was read from.
      const decision = decideAccess(context.state(), {
        requester: asked.requester,
        action: asked.action,
        recordId: asked.recordId,
        purpose: asked.purpose,
        time: asked.time,
        ...(asked.emergencyReason === undefined ? {} : { emergencyReason: asked.emergencyReason }),
      });
      return toJson(decision);
    },

    fetchRecord: async (request) => {
      const id = fromHex((request.params as { id: string }).id);
      const signed = signedFromJson(request.body);
      if (!bytesEqual(signed.request.recordId, id)) {
        throw new RecordError('RECORD_BAD_REQUEST', 'the signed request names another record');
      }
      refuseRequesterWithoutRole(context.state(), signed.request.requester, id, context.now());
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
