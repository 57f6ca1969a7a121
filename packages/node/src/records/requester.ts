import type { KeyValueReader } from '@medchain/ledger';
import { identify, recordSubject, standingsOf } from '../api/auth.js';
import { RecordError } from './errors.js';

/**
 * Who may ask for a record at all: an active provider, the record's patient or a live delegate
 * (at `now`, the node's clock). Anyone else is refused (REQUESTER_NO_ROLE) before anything is
 * relayed or logged: a key with no role could otherwise make the custodian write denials into
 * a patient's permanent audit trail, free and without limit. The requester's node checks it
 * (POST /v1/records/:id/fetch) and so does the custodian, for a member node that relays over
 * libp2p without asking.
 */
export function refuseRequesterWithoutRole(
  state: KeyValueReader,
  requester: Uint8Array,
  recordId: Uint8Array,
  now: number,
): void {
  const identity = identify(state, requester);
  if (identity.provider !== undefined) return;
  const standings = standingsOf(state, identity, recordSubject(state, recordId), undefined, now);
  if (standings.has('patient') || standings.has('delegate')) return;
  throw new RecordError(
    'REQUESTER_NO_ROLE',
    'the requester is neither an active provider, nor the patient, nor a live delegate',
  );
}
