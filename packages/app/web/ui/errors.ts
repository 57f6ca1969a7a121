import { ClientError } from '@medchain/client';

/** What an error means to the person using the app: never a stack trace. */
export interface ErrorExplanation {
  readonly code: string;
  /** What happened, in words. */
  readonly what: string;
  /** What to do about it. */
  readonly todo: string;
}

const NODE =
  'Check the node address under "Node" at the top of the page, and that the node is running.';
const UNLOCK = 'Unlock the right key on the Keys tab and try again.';
const RELOAD = 'Reload the page to see the current state, then try again.';

/** Advice by code: the node's API and receipt codes and the client's own. */
const ADVICE: Readonly<Record<string, { what: string; todo: string }>> = {
  NODE_UNREACHABLE: { what: 'The node did not answer.', todo: NODE },
  TIMEOUT: {
    what: 'The node did not answer in time (or the transaction was not committed in time).',
    todo: 'Wait a moment and try again; if it keeps happening, try another node.',
  },
  BAD_ANSWER: { what: 'The node sent an answer this app cannot read.', todo: NODE },
  PROOF_INVALID: {
    what: 'The node’s answer could not be proven against a certified block: it may be lying.',
    todo: 'Do not trust this node’s answer; connect to another member hospital’s node.',
  },
  CERTIFICATE_INVALID: {
    what: 'A block header was not certified by the validators.',
    todo: 'Connect to another member hospital’s node.',
  },
  CHAIN_MISMATCH: {
    what: 'This node serves a different chain from the one this browser trusts.',
    todo: 'Check the node address. If the network was really reset, choose "Forget trusted chain" under Node.',
  },
  RECORD_VERIFY_FAILED: {
    what: 'The record received does not match its fingerprint on the ledger.',
    todo: 'Do not use it; tell the custodian hospital.',
  },
  KEYSTORE_INVALID: {
    what: 'This is not a medchain keystore file, or it is damaged.',
    todo: 'Choose the .json file written by "medchain keys generate" or exported from this app.',
  },
  WRONG_PASSPHRASE: {
    what: 'The passphrase does not open this key.',
    todo: 'Type the passphrase again (it is case-sensitive).',
  },
  INVALID_ARGUMENT: { what: 'Some input is not valid.', todo: 'Correct the field and try again.' },
  EVENT_STREAM_FAILED: {
    what: 'The live connection to the node failed several times in a row.',
    todo: `${NODE} Then reload the page.`,
  },
  UNSUPPORTED: {
    what: 'This browser lacks a feature the app needs (WebCrypto, IndexedDB).',
    todo: 'Use a current Chrome, Firefox, Safari or Edge, outside private browsing.',
  },
  ABORTED: { what: 'The operation was cancelled.', todo: 'Start it again if you still need it.' },
  SIGNATURE_INVALID: { what: 'The node did not accept the request’s signature.', todo: UNLOCK },
  SIGNATURE_NOT_YET_VALID: {
    what: 'The request’s signature is dated in the future.',
    todo: 'Check that this device’s clock is right, then try again.',
  },
  KEY_UNKNOWN: {
    what: 'The node does not know this key (it is not registered on the chain).',
    todo: 'Register first (patients: "Register" on the Patient tab; clinicians: ask your hospital).',
  },
  SIGNATURE_EXPIRED: {
    what: 'The request’s signature was too old when it arrived.',
    todo: 'Check that this device’s clock is right, then try again.',
  },
  SIGNATURE_REPLAYED: { what: 'The node saw this request twice.', todo: 'Try again.' },
  REQUEST_STALE: {
    what: 'The request was too old when it arrived.',
    todo: 'Check that this device’s clock is right, then try again.',
  },
  FORBIDDEN: {
    what: 'This key is not allowed to do that.',
    todo: 'Unlock the key of the party who may (the patient, a delegate, the hospital).',
  },
  NOT_AUTHORIZED: { what: 'This key is not allowed to do that.', todo: UNLOCK },
  NOT_PATIENT: { what: 'Only the patient can do that.', todo: UNLOCK },
  NOT_PATIENT_OR_DELEGATE: {
    what: 'Only the patient or one of their live delegates can do that.',
    todo: UNLOCK,
  },
  NOT_ORG_ADMIN: { what: 'Only an administrator of the hospital can do that.', todo: UNLOCK },
  PATIENT_NOT_FOUND: {
    what: 'This key is not registered as a patient yet.',
    todo: 'Choose "Register" on the Patient tab first.',
  },
  PATIENT_EXISTS: { what: 'This key is already registered as a patient.', todo: 'Nothing to do.' },
  KEY_IN_USE: {
    what: 'This key already has another role on the chain.',
    todo: 'Create a new key for this role on the Keys tab.',
  },
  GRANTEE_NOT_FOUND: {
    what: 'The chain knows no clinician or hospital with that key or id.',
    todo: 'Check the grantee’s key (64 hex or did:key) or the organization id.',
  },
  PROVIDER_NOT_FOUND: {
    what: 'The chain knows no clinician with that key.',
    todo: 'Check the key, or ask the hospital to register the clinician.',
  },
  PROVIDER_SUSPENDED: {
    what: 'This clinician is suspended by their hospital.',
    todo: 'Ask the hospital’s operator.',
  },
  ORG_NOT_FOUND: { what: 'No hospital has that id.', todo: 'Check the organization id.' },
  ORGANIZATION_NOT_FOUND: { what: 'No hospital has that id.', todo: 'Check the organization id.' },
  CONSENT_NOT_FOUND: { what: 'No consent has that id.', todo: RELOAD },
  CONSENT_REVOKED: { what: 'This consent was already revoked.', todo: RELOAD },
  DELEGATE_NOT_FOUND: { what: 'That delegate is not (or no longer) registered.', todo: RELOAD },
  INVALID_DELEGATE: {
    what: 'That key cannot be a delegate (it is the patient’s own key or not a party key).',
    todo: 'Enter the delegate’s own key.',
  },
  BAD_EXPIRY: {
    what: 'The expiry is not valid: it must be in the future and within the chain’s limit.',
    todo: 'Choose a later (or nearer) expiry.',
  },
  BAD_WINDOW: {
    what: 'The validity window is not valid (it must start before it ends).',
    todo: 'Correct the dates.',
  },
  WINDOW_TOO_LONG: {
    what: 'The validity window is longer than the chain allows.',
    todo: 'Choose a nearer expiry.',
  },
  SCOPE_INVALID: {
    what: 'The scope is not valid (unknown resource type, purpose or record).',
    todo: 'Check the scope fields.',
  },
  RECORD_NOT_FOUND: { what: 'No record has that id.', todo: 'Check the record id.' },
  RECORD_ERASED: { what: 'That record was erased by its custodian.', todo: 'Nothing to do.' },
  RECORD_ACCESS_DENIED: {
    what: 'Access to the record was denied, and the denial was logged.',
    todo: 'Ask the patient for consent, or use break-glass only in an emergency.',
  },
  NO_CONSENT: {
    what: 'No active consent allows this access.',
    todo: 'Ask the patient to grant access.',
  },
  BREAK_GLASS_OPT_OUT: {
    what: 'The patient opted out of emergency (break-glass) access.',
    todo: 'Ask the patient or their delegate.',
  },
  RESEARCH_OPT_OUT: { what: 'The patient opted out of research use.', todo: 'Nothing to do.' },
  NOT_EMERGENCY_ROLE: {
    what: 'This clinician may not use break-glass access.',
    todo: 'Ask an emergency physician.',
  },
  BAD_NONCE: { what: 'The transaction’s sequence number was out of date.', todo: 'Try again.' },
  DUPLICATE: { what: 'The node already has this transaction.', todo: RELOAD },
  RATE_LIMITED: { what: 'The node is busy (too many requests).', todo: 'Wait a few seconds.' },
  MEMPOOL_FULL: { what: 'The node is busy (its queue is full).', todo: 'Wait a few seconds.' },
  NOT_READY: { what: 'The node is still starting or catching up.', todo: 'Wait a few seconds.' },
  TOO_MANY_STREAMS: {
    what: 'Too many live connections to the node are open.',
    todo: 'Close other tabs of this app, then reload.',
  },
};

/** The message of an unknown code still says what to do. */
const FALLBACK = {
  what: 'The operation failed.',
  todo: 'Try again; if it fails again, reload the page.',
};

export function explainError(error: unknown): ErrorExplanation {
  if (error instanceof ClientError) {
    const advice = ADVICE[error.code];
    // The node's or client's own sentence is specific (which field, which limit); keep it.
    const what = advice === undefined ? `${FALLBACK.what} ${error.message}` : advice.what;
    const detail = advice !== undefined && error.message !== '' ? ` (${error.message})` : '';
    return { code: error.code, what: `${what}${detail}`, todo: (advice ?? FALLBACK).todo };
  }
  if (error instanceof DOMException && error.name === 'QuotaExceededError') {
    return {
      code: 'STORAGE_FULL',
      what: 'This browser’s storage is full.',
      todo: 'Free some space, or export and remove keys you no longer use.',
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'UNEXPECTED', what: `${FALLBACK.what} ${message}`, todo: FALLBACK.todo };
}
