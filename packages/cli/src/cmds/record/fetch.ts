import { bytesEqual, decodeEnvelope, fromHex, Signer, toHex } from '@medchain/crypto';
import type { AccessRequest } from '@medchain/ledger';
import { signAccessRequest } from '../../util/access.js';
import type { ApiClient, ApiJson } from '../../util/client.js';
import { CliError } from '../../util/errors.js';
import { nodePackage } from '../../util/node-package.js';

export interface FetchedRecord {
  readonly content: Uint8Array;
  readonly request: AccessRequest;
  /** The node's answer: version, resourceType, contentHash, logTx, custodianKey, record. */
  readonly answer: ApiJson;
}

/**
 * The requester's side of a record read: sign the request with the requester's key, ask this
 * hospital's node to fetch it from the custodian, then open the envelope locally (the node
 * relays ciphertext it cannot read) and check the bytes against the hash the ledger anchors.
 * A denial is the node's 403 (ApiError RECORD_ACCESS_DENIED, the denial already logged).
 */
export async function fetchRecord(
  client: ApiClient,
  requesterSeed: Uint8Array,
  fields: Omit<AccessRequest, 'requester' | 'nonce' | 'time'>,
): Promise<FetchedRecord> {
  const { request, requestSignature } = signAccessRequest(new Signer(requesterSeed), fields);
  const id = toHex(request.recordId);
  const answer = await client.post(`/records/${id}/fetch`, {
    request: {
      ...request,
      recordId: id,
      requester: toHex(request.requester),
      nonce: toHex(request.nonce),
    },
    signature: toHex(requestSignature),
  });
  // The anchor as this node's ledger holds it: the served bytes must hash to it.
  const anchored = (await client.get(`/records/${id}?limit=1`)).record;
  const anchoredHash = fromHex(anchored.contentHash);
  if (!bytesEqual(anchoredHash, fromHex(answer.contentHash))) {
    throw new CliError(
      'RECORD_VERIFY_FAILED',
      `the custodian served version ${answer.version} (${answer.contentHash}), the ledger anchors ${anchored.contentHash}`,
    );
  }
  const { openServedRecord } = await nodePackage();
  try {
    const content = openServedRecord({
      request,
      envelope: decodeEnvelope(fromHex(answer.envelope)),
      recipientSeed: requesterSeed,
      custodianKey: fromHex(answer.custodianKey),
      anchoredHash,
    });
    return { content, request, answer };
  } catch (error) {
    throw new CliError('RECORD_VERIFY_FAILED', (error as Error).message);
  }
}
