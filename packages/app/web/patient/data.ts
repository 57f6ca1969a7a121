import {
  allPages,
  ClientError,
  type ConsentJson,
  genesisFromJson,
  type MedchainClient,
  type OrganizationJson,
  type PatientJson,
  type RecordJson,
} from '@medchain/client';
import type { LedgerParams } from '@medchain/ledger';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { publicClient } from '../session.js';

/** What the patient screens read of the ledger for one patient key. */
export interface PatientData {
  /** undefined: not registered (the node knows no patient with this key). */
  readonly patient: PatientJson | undefined;
  readonly consents: readonly ConsentJson[];
  readonly records: readonly RecordJson[];
  readonly organizations: readonly OrganizationJson[];
  /** The chain's limits (longest consent, longest delegation), from its genesis. */
  readonly params: LedgerParams;
}

/** A key the ledger does not know as a patient: not an error, the screen offers to register. */
function notRegistered(error: unknown): boolean {
  return (
    error instanceof ClientError &&
    (error.code === 'KEY_UNKNOWN' || error.code === 'PATIENT_NOT_FOUND')
  );
}

/** The chain's limits per node: a genesis never changes, so each node's is read once. */
const paramsByNode = new Map<string, Promise<LedgerParams>>();

function chainParams(api: MedchainClient): Promise<LedgerParams> {
  const cached = paramsByNode.get(api.url);
  if (cached !== undefined) return cached;
  const reading = api.genesis().then((answer) => genesisFromJson(answer.genesis).params);
  paramsByNode.set(api.url, reading);
  // A failed read (node down) must not stay cached.
  reading.catch(() => {
    if (paramsByNode.get(api.url) === reading) paramsByNode.delete(api.url);
  });
  return reading;
}

async function load(client: MedchainClient, key: string): Promise<PatientData> {
  // Public routes, read unsigned: an unregistered key has no standing to sign with.
  const [members, params] = await Promise.all([
    publicClient().organizations(),
    chainParams(publicClient()),
  ]);
  const organizations = members.items.filter((o) => o.status === 'member');
  let patient: PatientJson;
  try {
    patient = await client.patient(key);
  } catch (error) {
    if (notRegistered(error)) {
      return { patient: undefined, consents: [], records: [], organizations, params };
    }
    throw error;
  }
  const [consents, records] = await Promise.all([
    client.allConsents(key),
    allPages((page) => client.patientRecords(key, page)),
  ]);
  return { patient, consents, records, organizations, params };
}

/**
 * The patient's entry, consents, records and the member organizations, loaded for `key` and
 * again on `reload()` (after each transaction) and when the tab comes back into view (another
 * tab or device may have changed them).
 */
export function usePatientData(client: MedchainClient, key: string) {
  const [data, setData] = useState<PatientData | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(false);
  const generation = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const loaded = await load(client, key);
      if (mine === generation.current) {
        setData(loaded);
        setError(undefined);
      }
    } catch (caught) {
      if (mine === generation.current) setError(caught);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, [client, key]);
  useEffect(() => {
    setData(undefined);
    void reload();
    const visible = () => {
      if (document.visibilityState === 'visible') void reload();
    };
    document.addEventListener('visibilitychange', visible);
    return () => document.removeEventListener('visibilitychange', visible);
  }, [reload]);
  return { data, error, loading, reload };
}
