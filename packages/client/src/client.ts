import type { GenesisDocument, TxBodies, TxKind } from '@medchain/ledger';
import { ApiClient } from './api.js';
import { type ChainEvent, type EventStreamOptions, streamEvents } from './events.js';
import { LightClient } from './light.js';
import type { PartyKey } from './parties.js';
import {
  type AccessRequestFields,
  amendRecord,
  eraseRecord,
  type FetchedRecord,
  fetchRecord,
  type LoggedAccess,
  logAccess,
  putRecord,
  type SignedAccessRequest,
  type StoredRecord,
  signAccessRequest,
} from './records.js';
import type { KeySigner } from './signers.js';
import { type SendOptions, type SentTx, sendTransaction } from './transactions.js';

/**
 * The client an app holds: the node's typed API (ApiClient) plus transactions, the event stream,
 * records and a light client, all acting for `signer`.
 */
export class MedchainClient extends ApiClient {
  /** Builds, signs (the client's signer unless `options.signer`), submits and awaits the receipt. */
  sendTransaction<K extends TxKind>(
    kind: K,
    body: TxBodies[K],
    options?: SendOptions,
  ): Promise<SentTx> {
    return sendTransaction(this, kind, body, options);
  }

  /** Blocks (or, with `patient`, that patient's new audit entries) as they commit. */
  events(options?: EventStreamOptions): AsyncGenerator<ChainEvent, void, undefined> {
    return streamEvents(this, options);
  }

  /** A record from its custodian, opened and checked; `requester` must hold its seed. */
  fetchRecord(requester: KeySigner, fields: AccessRequestFields): Promise<FetchedRecord> {
    return fetchRecord(this, requester, fields);
  }

  /** A fresh access request signed by the client's signer (or `requester`). */
  signAccessRequest(
    fields: AccessRequestFields,
    requester = this.signer,
  ): Promise<SignedAccessRequest> {
    if (requester === undefined) throw new TypeError('signAccessRequest needs a signer');
    return signAccessRequest(requester, fields, this.now);
  }

  /** Custodian: decide a requester's access request and log it (access.log / access.emergency). */
  logAccess(signed: SignedAccessRequest, options?: SendOptions): Promise<LoggedAccess> {
    return logAccess(this, signed, options);
  }

  putRecord(
    args: { readonly patient: PartyKey; readonly content: Uint8Array; readonly nonce?: Uint8Array },
    options?: Omit<SendOptions, 'wait'>,
  ): Promise<StoredRecord> {
    return putRecord(this, args, options);
  }

  amendRecord(
    args: { readonly recordId: string | Uint8Array; readonly content: Uint8Array },
    options?: Omit<SendOptions, 'wait'>,
  ): Promise<StoredRecord> {
    return amendRecord(this, args, options);
  }

  eraseRecord(id: string | Uint8Array, options?: SendOptions) {
    return eraseRecord(this, id, options);
  }

  /** A light client over this node, trusting only `genesis`. */
  lightClient(genesis: GenesisDocument): LightClient {
    return new LightClient(this, genesis);
  }
}
