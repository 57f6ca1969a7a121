import type { Canonical } from '@medchain/crypto';
import { expectedNonce } from '@medchain/ledger';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { SubmitResult } from '../src/api/backend.js';
import { createMetrics } from '../src/metrics.js';
import { RecordError } from '../src/records/errors.js';
import { RecordsService } from '../src/records/service.js';
import type { Transport } from '../src/shell/ports.js';
import type { Vault } from '../src/vault/index.js';
import { accessRequest, populatedBackend } from './api-chain.js';

/**
 * The custodian's one nonce sequence under concurrency and refusals: submissions the mempool
 * refuses (RATE_LIMITED here) while others are in flight must not leave a nonce gap, or every
 * later entry of the validator key waits behind it and record exchange and exports stall.
 */
function world(refuse: (call: number) => boolean, logTimeoutMs = 60_000) {
  const { backend, a, bClinician, record, consentId } = populatedBackend();
  let calls = 0;
  const submitTransaction = (raw: Uint8Array): SubmitResult => {
    const call = calls++;
    if (refuse(call)) return { accepted: false, code: 'RATE_LIMITED', message: 'test refusal' };
    return backend.submitTransaction(raw);
  };
  const service = new RecordsService({
    chainId: backend.doc.chainId,
    backend: {
      state: () => backend.state(),
      subscribe: (listener) => backend.subscribe(listener),
      transaction: (hash) => backend.transaction(hash),
      submitTransaction,
    },
    vault: {} as Vault,
    signer: a.validator,
    signerSeed: new Uint8Array(32),
    transport: {} as Transport,
    peerId: 'test-peer',
    allowPeer: () => false,
    now: () => backend.time,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
    logTimeoutMs,
  });
  const logBody = () =>
    ({
      ...accessRequest(backend, bClinician, record),
      decision: 'permit',
      consentId,
    }) as unknown as Canonical;
  return { backend, a, service, logBody };
}

/** Commits blocks until none of `calls` is waiting (each block takes the whole mempool). */
async function settle(
  backend: ReturnType<typeof populatedBackend>['backend'],
  calls: Promise<unknown>[],
) {
  let open = true;
  void Promise.allSettled(calls).then(() => {
    open = false;
  });
  for (let i = 0; open && i < 50; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    if (backend.mempool.size > 0) backend.commit();
  }
}

describe('the custodian nonce sequence', () => {
  it('stays gap-free when concurrent submissions are refused: every admitted entry commits OK', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 2, maxLength: 24 }),
        async (refusals) => {
          const { backend, a, service, logBody } = world((call) => refusals[call] === true);
          const before = expectedNonce(backend.state(), a.validator.publicKey);
          const calls = refusals.map(() =>
            service.commitTransaction('access.log', logBody()).then(
              () => 'OK',
              (error: unknown) => {
                if (!(error instanceof RecordError)) throw error;
                return String(error.details.admission ?? error.details.receipt);
              },
            ),
          );
          await settle(backend, calls);
          const outcomes = await Promise.all(calls);
          // Refused at admission, or committed OK: never a receipt failing on its nonce.
          expect(outcomes.every((o) => o === 'OK' || o === 'RATE_LIMITED')).toBe(true);
          const committed = outcomes.filter((o) => o === 'OK').length;
          expect(committed).toBe(refusals.filter((r) => !r).length);
          expect(expectedNonce(backend.state(), a.validator.publicKey)).toBe(before + committed);
          // The next entry is admitted at the next nonce and commits.
          const next = service.commitTransaction('access.log', logBody());
          await settle(backend, [next]);
          await expect(next).resolves.toBeInstanceOf(Uint8Array);
          await service.stop().catch(() => undefined);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('reuses the nonce of an entry that left the mempool uncommitted', async () => {
    const { backend, a, service, logBody } = world(() => false, 50);
    const nonce = expectedNonce(backend.state(), a.validator.publicKey);
    const first = service.commitTransaction('access.log', logBody());
    await new Promise((resolve) => setImmediate(resolve));
    // The pool loses it (as a node's mempool drops an expired transaction): its wait times out.
    backend.mempool.clear();
    await expect(first).rejects.toMatchObject({ details: { receipt: 'LOG_TIMEOUT' } });
    const second = service.commitTransaction('access.log', logBody());
    await new Promise((resolve) => setImmediate(resolve));
    expect([...backend.mempool.values()].map((tx) => tx.nonce)).toEqual([nonce]);
    await settle(backend, [second]);
    await expect(second).resolves.toBeInstanceOf(Uint8Array);
  });
});
