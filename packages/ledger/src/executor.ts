import { bytesEqual, toHex, verify } from '@medchain/crypto';
import { type Block, transactionsRoot } from './block.js';
import type { AccessLogBody } from './consent/bodies.js';
import { requireSignerRole } from './consent/roles.js';
import { accessRequestDigest, type RuleContext, rules } from './consent/rules.js';
import { LedgerError } from './errors.js';
import type { HistoryItem } from './history.js';
import type { LedgerParams } from './model.js';
import { type Receipt, TxFailure } from './receipt.js';
import { readValue, stateKeys, writeValue } from './schema.js';
import type { AuthenticatedState, KeyValueReader, StateOps } from './state/index.js';
import { parsedBody, type Transaction, transactionHash, verifyTransactionSignature } from './tx.js';
import { type Validator, validatorSetHash, validatorsFromState } from './validators.js';

/** What genesis stores under stateKeys.chain(): the rules every block runs under. */
export interface ChainConfig {
  readonly chainId: string;
  readonly params: LedgerParams;
}

export function readChainConfig(reader: KeyValueReader): ChainConfig {
  const config = readValue<ChainConfig>(reader, stateKeys.chain());
  if (config === undefined) {
    throw new LedgerError(
      'LEDGER_BLOCK_INVALID',
      'the state has no genesis (chain config missing)',
    );
  }
  return config;
}

export interface ExecutionOptions {
  /**
   * The node verifies each signature once, at mempool admission, and passes its verdict here
   * (keyed by tx hash, which covers the signature). Without it execution verifies every
   * signature itself.
   */
  readonly isSignatureValid?: (tx: Transaction, txHash: Uint8Array) => boolean;
  /**
   * The same for the requester's signature inside access.log / access.emergency: the mempool
   * checks {@link requestSignatureOf} at admission and answers here from its verdict, which
   * must be keyed by all three byte strings (a verdict is a fact about exactly those bytes).
   * Without it execution calls {@link isRequestSignatureValid}.
   */
  readonly isRequestSignatureValid?: (
    digest: Uint8Array,
    requester: Uint8Array,
    signature: Uint8Array,
  ) => boolean;
  /**
   * Called as each transaction's execution ends, in block order, with its receipt and what it
   * added to the history (empty for a failed one). A caller that stores them as they come
   * (the node: into the block's write batch) holds no block's worth of history items, which
   * lived through the block's scavenges and were promoted; BlockResult.history is then empty.
   * Should executeBlock throw after some calls (past the block's own checks only a broken
   * invariant can), the caller must drop what it stored.
   */
  readonly onExecuted?: (index: number, receipt: Receipt, history: readonly HistoryItem[]) => void;
}

/** The requester's signature over an access request, as execution checks it. */
export interface RequestSignature {
  /** accessRequestDigest(request): the signed message. */
  readonly digest: Uint8Array;
  readonly requester: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * The inner signature an access.log or access.emergency carries: the very arguments the
 * executor will pass to `isRequestSignatureValid`, so admission can check the same bytes once.
 * `undefined` for the other kinds. Throws LedgerError LEDGER_MALFORMED on a malformed body.
 */
export function requestSignatureOf(tx: Transaction): RequestSignature | undefined {
  if (tx.kind !== 'access.log' && tx.kind !== 'access.emergency') return undefined;
  const { request, requestSignature } = parsedBody(tx) as AccessLogBody;
  return {
    digest: accessRequestDigest(request),
    requester: request.requester,
    signature: requestSignature,
  };
}

/** The default for `isRequestSignatureValid`: the crypto package's one verification rule. */
export function isRequestSignatureValid(
  digest: Uint8Array,
  requester: Uint8Array,
  signature: Uint8Array,
): boolean {
  return verify(requester, digest, signature);
}

/**
 * Returned when a block changed the member organizations: the complete validator set after
 * the block, sorted by public key, and its hash. The ledger does not choose when it takes
 * effect: consensus derives that height (the same on every node) from the block's height.
 */
export interface ValidatorSetChange {
  readonly validators: readonly Validator[];
  readonly hash: Uint8Array;
}

export interface BlockResult {
  /** One per transaction, in block order. */
  readonly receipts: readonly Receipt[];
  /** The state root after this block: it goes in the header of the next block. */
  readonly stateRoot: Uint8Array;
  /** State writes to store atomically with the block, before the next block executes. */
  readonly ops: StateOps;
  /**
   * What each transaction added to the history (history.ts), in block order; empty for a
   * failed one. The node indexes it in the block's batch. Empty (no entry per transaction)
   * when ExecutionOptions.onExecuted was given: each went there instead.
   */
  readonly history: readonly (readonly HistoryItem[])[];
  readonly validatorSetChange: ValidatorSetChange | null;
}

export function expectedNonce(reader: KeyValueReader, signer: Uint8Array): number {
  return nonceAfter(reader, stateKeys.nonce(signer));
}

/** expectedNonce for a signer whose nonce key the caller has computed already. */
function nonceAfter(reader: KeyValueReader, nonceKey: Uint8Array): number {
  return (readValue<number>(reader, nonceKey) ?? 0) + 1;
}

interface BlockEnv {
  readonly state: AuthenticatedState;
  readonly config: ChainConfig;
  readonly time: number;
  readonly isSignatureValid: (tx: Transaction, txHash: Uint8Array) => boolean;
  readonly isRequestSignatureValid: RuleContext['isRequestSignatureValid'];
  membershipChanged(): void;
}

const ok = (txHash: Uint8Array): Receipt => ({ txHash, code: 'OK', message: '' });

function failed(txHash: Uint8Array, failure: TxFailure): Receipt {
  return { txHash, code: failure.code, message: failure.message };
}

/**
 * Runs one transaction. Envelope checks (chain id, signature, nonce) fail without touching
 * the state. Past them the nonce is consumed, and a rule failure reverts everything else the
 * transaction wrote (a checkpoint per transaction).
 */
function executeTransaction(env: BlockEnv, tx: Transaction, history: HistoryItem[]): Receipt {
  const txHash = transactionHash(tx);
  const { state } = env;
  if (tx.chainId !== env.config.chainId) {
    return failed(txHash, new TxFailure('WRONG_CHAIN', `chain id is not ${env.config.chainId}`));
  }
  if (!env.isSignatureValid(tx, txHash)) {
    return failed(txHash, new TxFailure('BAD_SIGNATURE', 'the signature does not verify'));
  }
  const nonceKey = stateKeys.nonce(tx.signer);
  const nonce = nonceAfter(state, nonceKey);
  if (tx.nonce !== nonce) {
    return failed(txHash, new TxFailure('BAD_NONCE', `expected nonce ${nonce}`));
  }
  writeValue(state, nonceKey, nonce);
  const checkpoint = state.checkpoint();
  try {
    // A transaction the mempool decoded carries its parsed body: not parsed a second time.
    const body = parsedBody(tx);
    const ctx: RuleContext = {
      state,
      signer: tx.signer,
      time: env.time,
      txHash,
      params: env.config.params,
      membershipChanged: env.membershipChanged,
      history,
      isRequestSignatureValid: env.isRequestSignatureValid,
    };
    // The signer's role first (the check mempool admission runs too), then the rest of the rule.
    const role = requireSignerRole(state, tx.kind, body, tx.signer, env.time);
    (rules[tx.kind] as (ctx: RuleContext, body: unknown, role: unknown) => void)(ctx, body, role);
    return ok(txHash);
  } catch (error) {
    state.revertTo(checkpoint);
    history.length = 0;
    if (error instanceof TxFailure) return failed(txHash, error);
    if (error instanceof LedgerError && error.code === 'LEDGER_MALFORMED') {
      return failed(txHash, new TxFailure('MALFORMED_BODY', error.message));
    }
    throw error;
  }
}

function blockInvalid(what: string): LedgerError {
  return new LedgerError('LEDGER_BLOCK_INVALID', what);
}

/**
 * Executes a committed block on the state left by its parent and commits the result. The
 * header must carry this state's root, the state's chain id and the root of its transactions
 * (anything else is an invalid block: LedgerError LEDGER_BLOCK_INVALID, state untouched).
 * Every transaction then gets a receipt; none can make the block invalid. The caller writes
 * `ops` to the store with the block.
 */
export function executeBlock(
  state: AuthenticatedState,
  block: Block,
  options: ExecutionOptions = {},
): BlockResult {
  const config = readChainConfig(state);
  const { header, txs } = block;
  if (header.chainId !== config.chainId) throw blockInvalid(`chain id is not ${config.chainId}`);
  if (!bytesEqual(header.stateRoot, state.root())) {
    throw blockInvalid(`header state root is not the parent's state root ${toHex(state.root())}`);
  }
  if (!bytesEqual(header.txRoot, transactionsRoot(txs))) {
    throw blockInvalid('header tx root does not match the transactions');
  }
  let membershipChanged = false;
  const validatorsBefore = validatorSetHash(validatorsFromState(state));
  const env: BlockEnv = {
    state,
    config,
    time: header.time,
    isSignatureValid: options.isSignatureValid ?? verifyTransactionSignature,
    isRequestSignatureValid: options.isRequestSignatureValid ?? isRequestSignatureValid,
    membershipChanged: () => {
      membershipChanged = true;
    },
  };
  try {
    const { onExecuted } = options;
    const history: HistoryItem[][] = [];
    const receipts = txs.map((tx, i) => {
      const items: HistoryItem[] = [];
      const receipt = executeTransaction(env, tx, items);
      if (onExecuted === undefined) history.push(items);
      else onExecuted(i, receipt, items);
      return receipt;
    });
    let validatorSetChange: ValidatorSetChange | null = null;
    if (membershipChanged) {
      const validators = validatorsFromState(state);
      const hash = validatorSetHash(validators);
      if (!bytesEqual(hash, validatorsBefore)) validatorSetChange = { validators, hash };
    }
    const { root, ops } = state.commit();
    return { receipts, stateRoot: root, ops, history, validatorSetChange };
  } catch (error) {
    // Only a broken invariant gets here (rules fail through receipts): leave the state as it was.
    state.discard();
    throw error;
  }
}
