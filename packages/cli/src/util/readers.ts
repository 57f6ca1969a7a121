/** Who may sign each read (the node's authorization table), for --help and KEY_REQUIRED. */
const PATIENT_SIDE = "the patient's keystore or a live delegate's";
export const READERS = {
  patient: PATIENT_SIDE,
  consents: `${PATIENT_SIDE}; with --provider, that provider's or an admin's of its organization`,
  patientData: PATIENT_SIDE,
  record: `${PATIENT_SIDE}, or an admin's or provider's of the custodian organization`,
  consent: `${PATIENT_SIDE}, or a provider's (or its organization's) the consent names`,
  provider: 'any key the ledger knows',
  organization: "an admin's or provider's of that organization, or any member admin's",
  members: "a member organization's admin keystore",
  tx: "the transaction signer's keystore, or a member organization's admin's",
  proof:
    'the key that may read the proven entry (as for the matching query); none for public entries',
} as const;
