import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, createKeystore, table } from '@medchain/cli';
import {
  type AuditEntryJson,
  ClientError,
  type KeySigner,
  type MedchainClient,
  type SentTx,
} from '@medchain/client';
import { bytesEqual, fromHex, toHex, utf8 } from '@medchain/crypto';
import {
  adminSigner,
  type DevnetNode,
  devnetClient,
  devnetPassphrase,
  readDevnet,
} from './state.js';

export interface DemoStep {
  readonly step: number;
  readonly title: string;
  readonly lines: string[];
  readonly txs: SentTx[];
  readonly decision?: string;
}

export interface DemoReport {
  readonly chainId: string;
  readonly keys: string;
  readonly recordId: string;
  readonly consentId: string;
  readonly steps: DemoStep[];
  readonly audit: AuditEntryJson[];
}

const HOUR = 3_600_000;
const short = (hex: string) => `${hex.slice(0, 10)}…`;

/** Waits until `client`'s node has applied `height` (bounded), so reads there see the tx. */
async function caughtUp(client: MedchainClient, height: number): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if ((await client.status()).height >= height) return;
    await sleep(250);
  }
  throw new CliError('DEMO_NODE_BEHIND', `${client.url} did not reach height ${height}`);
}

/**
 * The consent story on a running devnet, through the nodes' HTTP APIs only, every request signed
 * by the key of the party making it (authentication is on): hospitals register
 * clinicians, a patient registers, hospital A anchors a record, the patient grants hospital B's
 * clinician one hour of access, B's access is decided and logged, the patient revokes, a second
 * request is denied and logged, an emergency clinician breaks the glass, the patient reads the
 * audit trail. `say` prints each line as it happens.
 */
export async function runDemo(dir: string, say: (line: string) => void): Promise<DemoReport> {
  const devnet = readDevnet(dir);
  const passphrase = devnetPassphrase(dir);
  const [a, b, c] = [
    devnet.nodes[0]!,
    devnet.nodes[1] ?? devnet.nodes[0]!,
    devnet.nodes[2] ?? devnet.nodes[0]!,
  ];
  /** `who`'s client of `node`: its requests signed with `who`'s key. */
  const as = (node: DevnetNode, who?: KeySigner) =>
    devnetClient(devnet, node, { timeoutMs: 5_000, ...(who === undefined ? {} : { signer: who }) });
  const send = { timeoutMs: 60_000 };
  const steps: DemoStep[] = [];
  let current: DemoStep | undefined;
  const step = (title: string) => {
    current = { step: steps.length + 1, title, lines: [], txs: [] };
    steps.push(current);
    say('');
    say(`${current.step}. ${title}`);
  };
  const line = (text: string) => {
    current!.lines.push(text);
    say(`   ${text}`);
  };
  const txLine = (who: string, what: string, tx: SentTx) => {
    current!.txs.push(tx);
    line(`${who} ${what}: ${tx.kind} ${short(tx.hash)} committed at height ${tx.height}`);
  };

  const keysDir = join(dir, 'demo', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const keys = new Map<string, KeySigner>();
  const keyOf = (name: string) => {
    const key = createKeystore(join(keysDir, `${name}.json`), passphrase);
    keys.set(name, key);
    return key;
  };

  say(
    `medchain demo on devnet "${devnet.chainId}" (${devnet.nodes.length} validators). Keys: ${keysDir}`,
  );

  step('Hospitals join: the founding members run the validators and register their clinicians');
  const members = await as(a).organizations();
  for (const node of devnet.nodes) {
    const member = members.items.find((o) => o.id === node.orgId);
    line(
      `${node.name}: organization ${short(node.orgId)} ${member?.status ?? 'unknown'}, validator node ${node.peerId.slice(0, 16)}…`,
    );
  }
  const [drAda, drBob, drEve, patient] = ['dr-ada', 'dr-bob', 'dr-eve', 'patient'].map(keyOf) as [
    KeySigner,
    KeySigner,
    KeySigner,
    KeySigner,
  ];
  const [adminA, adminB, adminC] = [a, b, c].map((node) => adminSigner(dir, node)) as [
    KeySigner,
    KeySigner,
    KeySigner,
  ];
  const registrations = await Promise.all([
    as(a, adminA).sendTransaction(
      'provider.register',
      { provider: drAda.publicKey, role: 'clinician' },
      send,
    ),
    as(b, adminB).sendTransaction(
      'provider.register',
      { provider: drBob.publicKey, role: 'clinician' },
      send,
    ),
    as(c, adminC).sendTransaction(
      'provider.register',
      { provider: drEve.publicKey, role: 'emergency' },
      send,
    ),
  ]);
  txLine(a.name, 'registers clinician dr-ada', registrations[0]);
  txLine(b.name, 'registers clinician dr-bob', registrations[1]);
  txLine(c.name, 'registers emergency physician dr-eve', registrations[2]);

  step('A patient registers (a pseudonymous key: no name or medical data goes on the ledger)');
  txLine(
    'patient',
    `${short(toHex(patient.publicKey))} registers`,
    await as(a, patient).sendTransaction('patient.register', {}, send),
  );

  step(
    `${a.name} anchors a record: only its fingerprint goes on the ledger, the data stays at the hospital`,
  );
  const observation = {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    valueQuantity: { value: 72, unit: 'beats/minute' },
  };
  const content = utf8(JSON.stringify(observation));
  writeFileSync(join(keysDir, 'observation.json'), content);
  const stored = await as(a, drAda).putRecord({ patient: patient.publicKey, content }, send);
  const record = stored.recordId;
  txLine(
    'dr-ada',
    `anchors Observation ${short(record)} (salted commitment ${short(stored.contentHash)})`,
    stored.tx,
  );
  line(
    `then stores it in ${a.name}'s vault, encrypted under its own data key (the vault takes only what dr-ada's key anchored)`,
  );

  step(`The patient grants ${b.name}'s clinician dr-bob read access to that record for one hour`);
  const now = Date.now();
  const grant = await as(a, patient).sendTransaction(
    'consent.grant',
    {
      patient: patient.publicKey,
      grantee: { type: 'provider', id: drBob.publicKey },
      recordIds: [fromHex(record)],
      resourceTypes: [],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: now,
      validUntil: now + HOUR,
    },
    send,
  );
  txLine(
    'patient',
    `grants consent ${short(grant.hash)} until ${new Date(now + HOUR).toISOString()}`,
    grant,
  );

  /** The committed access log entry (read by the custodian's admin), as the report lists txs. */
  const logged = async (hash: string): Promise<SentTx> => {
    const status = await as(a, adminA).tx(hash);
    if (status.status !== 'committed') {
      throw new CliError('DEMO_UNEXPECTED', `the access log ${hash} is not committed`);
    }
    return {
      kind: status.tx.kind,
      hash,
      signer: status.tx.signer,
      nonce: status.tx.nonce,
      status: 'committed',
      height: status.height,
      index: status.index,
      receipt: status.receipt,
    };
  };
  /**
   * A clinician reads through their own hospital's node: the custodian (A) decides, commits
   * the access log entry, and only then sends the record sealed to the clinician's key; the
   * clinician opens it locally and checks it against the anchored hash.
   */
  const access = async (
    who: string,
    via: DevnetNode,
    emergency: boolean,
  ): Promise<{ decision: 'permit' | 'deny'; tx: SentTx }> => {
    line(`${who} signs a request and asks ${via.name}'s node, which relays it to ${a.name}`);
    const requester = keys.get(who)!;
    try {
      const got = await as(via, requester).fetchRecord(requester, {
        recordId: fromHex(record),
        action: 'access',
        purpose: emergency ? 'ETREAT' : 'TREAT',
        ...(emergency ? { emergencyReason: 'patient-unconscious' as const } : {}),
      });
      const tx = await logged(got.answer.logTx);
      current!.txs.push(tx);
      line(
        `${a.name} (the custodian) permits and commits ${tx.kind} ${short(tx.hash)} at height ${tx.height} before sending anything`,
      );
      if (!bytesEqual(got.content, content)) {
        throw new CliError('DEMO_UNEXPECTED', 'the record read differs from the one stored');
      }
      line(
        `${who} receives the record sealed to their key, opens it and checks it: ${got.content.length} bytes, sha256 equals the anchor`,
      );
      return { decision: 'permit', tx };
    } catch (error) {
      if (!(error instanceof ClientError && error.code === 'RECORD_ACCESS_DENIED')) throw error;
      // The node's denial carries the logged decision: its reason and the access.log tx.
      const { logTx: hash, reason } = (error.details ?? {}) as { logTx?: string; reason?: string };
      if (hash === undefined) throw error;
      const tx = await logged(hash);
      current!.txs.push(tx);
      line(`${a.name} (the custodian) denies (${reason ?? error.code}); no bytes sent`);
      line(`the denial is committed too: ${tx.kind} ${short(tx.hash)} at height ${tx.height}`);
      return { decision: 'deny', tx };
    }
  };

  step('dr-bob reads the record');
  const read = await access('dr-bob', b, false);
  if (read.decision !== 'permit')
    throw new CliError('DEMO_UNEXPECTED', 'the consented read was denied');

  step('The patient revokes the consent');
  txLine(
    'patient',
    `revokes ${short(grant.hash)}`,
    await as(a, patient).sendTransaction(
      'consent.revoke',
      { consentId: fromHex(grant.hash) },
      send,
    ),
  );

  step('dr-bob asks again');
  const denied = await access('dr-bob', b, false);
  if (denied.decision !== 'deny')
    throw new CliError('DEMO_UNEXPECTED', 'the read after revocation was permitted');
  line('denied, and the denial is on the ledger too');

  step(
    `An emergency: dr-eve at ${c.name} uses break-glass (no consent; the patient did not opt out)`,
  );
  const emergency = await access('dr-eve', c, true);
  if (emergency.decision !== 'permit')
    throw new CliError('DEMO_UNEXPECTED', 'break-glass was denied');
  line('permitted, flagged as break-glass in the audit trail');

  step(`The patient reads their audit trail (from ${c.name}'s node)`);
  await caughtUp(as(c), emergency.tx.height!);
  const trail = await as(c, patient).audit(patient.publicKey);
  const who = new Map([
    [toHex(drBob.publicKey), 'dr-bob'],
    [toHex(drEve.publicKey), 'dr-eve'],
  ]);
  for (const text of table(
    ['#', 'requester', 'purpose', 'decision', 'note'],
    trail.items.map((e) => [
      String(e.index),
      who.get(e.requester) ?? short(e.requester),
      e.purpose,
      e.decision,
      e.emergency
        ? `BREAK-GLASS (${e.emergencyReason})`
        : (e.denyReason ?? `consent ${short(e.consentId ?? '')}`),
    ]),
  )) {
    line(text);
  }
  say('');
  const patientFile = join(keysDir, 'patient.json');
  const ca = devnet.tls === undefined ? '' : ` --ca ${devnet.tls.ca}`;
  say(`Done. Try: medchain query audit ${patientFile} --key ${patientFile} --node ${c.api}${ca}`);
  return {
    chainId: devnet.chainId,
    keys: keysDir,
    recordId: record,
    consentId: grant.hash,
    steps,
    audit: trail.items,
  };
}
