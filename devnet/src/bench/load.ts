import { randomBytes } from '@medchain/client';
import { type Canonical, fromHex, Signer, sha256, toHex } from '@medchain/crypto';
import {
  accessRequestDigest,
  encodeTransaction,
  recordId,
  signTransaction,
  type TxKind,
  transactionHash,
} from '@medchain/ledger';

/** A signed transaction ready to send: its bytes, hash, and the node its signer talks to. */
export interface PlannedTx {
  readonly kind: TxKind;
  readonly bytes: Uint8Array;
  readonly hash: string;
  /** Index of the devnet node it is submitted to (a signer always uses the same node). */
  readonly node: number;
}

/** One member organization of the devnet, as the workload needs it. */
export interface Org {
  readonly id: Uint8Array;
  readonly admin: Signer;
  /** The admin's next unused nonce. */
  readonly adminNonce: number;
}

interface Key {
  readonly signer: Signer;
  nonce: number;
  readonly node: number;
}

interface Patient {
  readonly key: Key;
  readonly org: number;
  record: Uint8Array;
  /** The consent, granted in setup, that lets `requester` read `record` for treatment. */
  standingConsent: Uint8Array;
  readonly requester: Key;
  /** A clinician who gets (and loses) a consent in each round: never the requester. */
  readonly other: Key;
}

const DAY = 86_400_000;

/**
 * Consent traffic from many keys. Setup (committed before the clock starts): the organizations
 * register clinicians and patients register; a clinician of each patient's hospital anchors a
 * record; each patient grants a clinician of another hospital standing access to it. Then each
 * round, per patient: a new patient registers, the patient grants a second clinician access and
 * revokes it, the custodian logs two access decisions of the standing grant (permit), and a new
 * record is anchored. Nonces are sequential per signer in the order of the plan.
 */
export class Workload {
  readonly #chainId: string;
  readonly #clinicians: Key[][];
  readonly #patients: Patient[];
  #round = 0;

  constructor(
    chainId: string,
    private readonly orgs: readonly Org[],
    clients: number,
    cliniciansPerOrg: number,
  ) {
    this.#chainId = chainId;
    const n = orgs.length;
    this.#clinicians = orgs.map((_, o) =>
      Array.from({ length: cliniciansPerOrg }, () => ({
        signer: new Signer(randomBytes(32)),
        nonce: 1,
        node: o,
      })),
    );
    this.#patients = Array.from({ length: clients }, (_, p) => {
      const org = p % n;
      const other = (p + 1) % n;
      return {
        key: { signer: new Signer(randomBytes(32)), nonce: 1, node: p % n },
        org,
        record: new Uint8Array(0),
        standingConsent: new Uint8Array(0),
        requester: this.#clinician(other, p + 1),
        other: this.#clinician(other, p + 2),
      };
    });
  }

  #clinician(org: number, i: number): Key {
    const list = this.#clinicians[org]!;
    return list[i % list.length]!;
  }

  #sign(key: Key, kind: TxKind, body: Canonical): PlannedTx {
    const tx = signTransaction(
      {
        chainId: this.#chainId,
        kind,
        body,
        signer: key.signer.publicKey,
        nonce: key.nonce++,
      },
      key.signer,
    );
    return {
      kind,
      bytes: encodeTransaction(tx),
      hash: toHex(transactionHash(tx)),
      node: key.node,
    };
  }

  #anchor(patient: Patient, by: Key): { tx: PlannedTx; id: Uint8Array } {
    const custodian = this.orgs[patient.org]!.id;
    const nonce = randomBytes(16);
    const tx = this.#sign(by, 'record.anchor', {
      patient: patient.key.signer.publicKey,
      custodian,
      resourceType: 'Observation',
      contentHash: sha256(nonce),
      nonce,
    });
    return { tx, id: recordId(custodian, patient.key.signer.publicKey, nonce) };
  }

  /** Stage 1: clinicians (by their organization's admin) and patients register. */
  registrations(): PlannedTx[] {
    const txs: PlannedTx[] = [];
    this.orgs.forEach((org, o) => {
      const admin: Key = { signer: org.admin, nonce: org.adminNonce, node: o };
      for (const clinician of this.#clinicians[o]!) {
        txs.push(
          this.#sign(admin, 'provider.register', {
            provider: clinician.signer.publicKey,
            role: 'clinician',
          }),
        );
      }
    });
    for (const patient of this.#patients) txs.push(this.#sign(patient.key, 'patient.register', {}));
    return txs;
  }

  /** Stage 2: one record per patient, anchored by a clinician of the patient's hospital. */
  records(): PlannedTx[] {
    return this.#patients.map((patient, p) => {
      const { tx, id } = this.#anchor(patient, this.#clinician(patient.org, p));
      patient.record = id;
      return tx;
    });
  }

  /** Stage 3: each patient's standing consent for the requester, valid for a day. */
  standingConsents(now: number): PlannedTx[] {
    return this.#patients.map((patient) => {
      const tx = this.#grant(patient, patient.requester, now, now + DAY);
      patient.standingConsent = fromHex(tx.hash);
      return tx;
    });
  }

  #grant(patient: Patient, grantee: Key, from: number, until: number): PlannedTx {
    return this.#sign(patient.key, 'consent.grant', {
      patient: patient.key.signer.publicKey,
      grantee: { type: 'provider', id: grantee.signer.publicKey },
      recordIds: [patient.record],
      resourceTypes: [],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: from,
      validUntil: until,
    });
  }

  #accessLog(patient: Patient, by: Key, now: number): PlannedTx {
    const request = {
      recordId: patient.record,
      requester: patient.requester.signer.publicKey,
      action: 'access' as const,
      purpose: 'TREAT' as const,
      time: now,
      nonce: randomBytes(16),
    };
    return this.#sign(by, 'access.log', {
      request,
      requestSignature: patient.requester.signer.sign(accessRequestDigest(request)),
      decision: 'permit',
      consentId: patient.standingConsent,
    });
  }

  /** The first patient's record, requester and standing consent, to check the rule's answer. */
  sample(): { recordId: Uint8Array; requester: Signer; consentId: Uint8Array } {
    const patient = this.#patients[0]!;
    return {
      recordId: patient.record,
      requester: patient.requester.signer,
      consentId: patient.standingConsent,
    };
  }

  /** Transactions per round per patient. */
  static readonly TXS_PER_ROUND = 6;

  /** At least `count` timed transactions, whole rounds, signed now (access times are `now`). */
  timed(count: number, now: number): PlannedTx[] {
    const txs: PlannedTx[] = [];
    while (txs.length < count) {
      const round = this.#round++;
      this.#patients.forEach((patient, p) => {
        const fresh: Key = {
          signer: new Signer(randomBytes(32)),
          nonce: 1,
          node: patient.key.node,
        };
        txs.push(this.#sign(fresh, 'patient.register', {}));
        const grant = this.#grant(patient, patient.other, now, now + DAY);
        txs.push(grant);
        txs.push(this.#sign(patient.key, 'consent.revoke', { consentId: fromHex(grant.hash) }));
        txs.push(this.#accessLog(patient, this.#clinician(patient.org, p + round), now));
        txs.push(this.#accessLog(patient, this.#clinician(patient.org, p + round + 1), now));
        txs.push(this.#anchor(patient, this.#clinician(patient.org, p + round + 2)).tx);
      });
    }
    return txs;
  }
}

/** A label for the kind mix, for the report. */
export const WORKLOAD_MIX =
  'per patient per round: 1 patient.register (new key), 1 consent.grant + 1 consent.revoke, 2 access.log (permit under a standing consent, requester-signed request), 1 record.anchor';
