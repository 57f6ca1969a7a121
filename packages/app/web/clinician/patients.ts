/**
 * The patients a clinician follows in this browser. The ledger indexes consents by patient, so a
 * clinician asks "what did this patient grant me?" per patient: the list is the clinician's own
 * (pseudonymous keys, no names), kept in localStorage per clinician key.
 */
import { partyKeyHex } from '@medchain/client';
import { useCallback, useState } from 'preact/hooks';

const storageKey = (clinician: string) => `medchain.clinician.patients.${clinician}`;

function load(clinician: string): string[] {
  try {
    const stored: unknown = JSON.parse(localStorage.getItem(storageKey(clinician)) ?? '[]');
    return Array.isArray(stored)
      ? stored.filter((key): key is string => typeof key === 'string' && /^[0-9a-f]{64}$/.test(key))
      : [];
  } catch {
    return [];
  }
}

export interface PatientList {
  readonly patients: readonly string[];
  /** Adds a patient by hex or did:key (INVALID_ARGUMENT otherwise); answers its hex. */
  readonly add: (key: string) => string;
  readonly remove: (hex: string) => void;
}

export function usePatientList(clinician: string): PatientList {
  const [patients, setPatients] = useState(() => load(clinician));
  const [owner, setOwner] = useState(clinician);
  if (owner !== clinician) {
    // Another clinician key was unlocked: show its own list.
    setOwner(clinician);
    setPatients(load(clinician));
  }
  const save = useCallback(
    (next: string[]) => {
      localStorage.setItem(storageKey(clinician), JSON.stringify(next));
      setPatients(next);
    },
    [clinician],
  );
  const add = useCallback(
    (key: string) => {
      const hex = partyKeyHex(key.trim());
      const current = load(clinician);
      if (!current.includes(hex)) save([hex, ...current]);
      return hex;
    },
    [clinician, save],
  );
  const remove = useCallback(
    (hex: string) => save(load(clinician).filter((key) => key !== hex)),
    [clinician, save],
  );
  return { patients, add, remove };
}
