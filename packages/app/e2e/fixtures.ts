/**
 * What every spec needs of the devnet that global-setup.ts started (4 validators, hospital-a to
 * hospital-d, each serving the app under /app). Setup only for what the app itself does not do;
 * everything a user does goes through the page.
 *
 * ```ts
 * import { appUrl, expect, node, registerProvider, storeRecord, test, writeKeystore } from './fixtures.js';
 *
 * test('a clinician at hospital B opens a record', async ({ page }) => {
 *   const drBob = await registerProvider('hospital-b', 'clinician'); // a KeySigner, registered
 *   const file = writeKeystore(drBob, 'dr-bob');                     // import it in the page
 *   const patient = await registerPatient();                          // when the page is not the patient
 *   const stored = await storeRecord(patient.publicKey);              // hospital A anchors and stores
 *   await grantConsent(patient, drBob.publicKey, [stored.recordId]);  // or let the patient's page do it
 *   await page.goto(appUrl('hospital-b', 'keys'));                   // http://127.0.0.1:P/app/#/keys
 *   await page.getByLabel('Keystore file').setInputFiles(file);
 *   await page.getByLabel('Passphrase').fill(E2E_PASSPHRASE);
 * });
 * ```
 *
 * `test` is Playwright's, plus an automatic check: an uncaught page error or a CSP violation
 * fails the test (the app must never show a blank page or a stack trace). Every key this file
 * writes is under E2E_PASSPHRASE. One worker runs the specs in file order on the one devnet, so
 * a spec makes its own parties (fresh keys) and never assumes a chain height. Specs import
 * `@medchain/client` as any consumer does, built (`tsc -b`, which `test:e2e` runs first).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import {
  exportKeystore,
  fromHex,
  importKeystore,
  KeySigner,
  MedchainClient,
  type SentTx,
  type StoredRecord,
  toHex,
} from '@medchain/client';
import { test as base, expect, type Page } from '@playwright/test';
import { DEVNET_ENV } from './paths.js';

export { expect };

export type NodeName = 'hospital-a' | 'hospital-b' | 'hospital-c' | 'hospital-d';

export interface E2eNode {
  readonly name: NodeName;
  /** The node's API base URL, e.g. http://127.0.0.1:31001; the app is at `${api}/app/`. */
  readonly api: string;
  /** The member organization running it (hex). */
  readonly orgId: string;
  /** Its organization admin's keystore (under `passphrase`). */
  readonly adminKey: string;
}

export interface E2eDevnet {
  readonly dir: string;
  readonly chainId: string;
  /** The passphrase of the devnet's admin keystores (not E2E_PASSPHRASE). */
  readonly passphrase: string;
  readonly nodes: readonly E2eNode[];
}

/** The passphrase of every keystore the specs create (also what they type into the page). */
export const E2E_PASSPHRASE = 'correct horse battery staple';
/** How long a spec waits for a transaction's commit. */
const SEND = { timeoutMs: 60_000 };

let cached: E2eDevnet | undefined;

/** The running devnet (read once from its devnet.json). */
export function devnet(): E2eDevnet {
  if (cached !== undefined) return cached;
  const dir = process.env[DEVNET_ENV];
  if (dir === undefined || dir === '') {
    throw new Error(`${DEVNET_ENV} is not set: run the specs with playwright test (global-setup)`);
  }
  const file = JSON.parse(readFileSync(join(dir, 'devnet.json'), 'utf8')) as {
    chainId: string;
    nodes: E2eNode[];
  };
  cached = {
    dir,
    chainId: file.chainId,
    passphrase: readFileSync(join(dir, 'passphrase'), 'utf8').split('\n')[0]!,
    nodes: file.nodes.map(({ name, api, orgId, adminKey }) => ({ name, api, orgId, adminKey })),
  };
  return cached;
}

export function node(which: NodeName | E2eNode = 'hospital-a'): E2eNode {
  if (typeof which !== 'string') return which;
  const found = devnet().nodes.find((n) => n.name === which);
  if (found === undefined) throw new Error(`no node ${which} in the devnet`);
  return found;
}

/** The app served by `which`, at a hash route (`keys`, `patient`, `clinician`, `operator`). */
export function appUrl(which: NodeName | E2eNode = 'hospital-a', route = ''): string {
  return `${node(which).api}/app/#/${route}`;
}

/** A client of `which`'s API, signing as `signer` when given. */
export function clientOf(which: NodeName | E2eNode = 'hospital-a', signer?: KeySigner) {
  return new MedchainClient({
    url: node(which).api,
    timeoutMs: 10_000,
    ...(signer === undefined ? {} : { signer }),
  });
}

/** The organization admin of `which`'s hospital (it registers and suspends its providers). */
export function adminSigner(which: NodeName | E2eNode = 'hospital-a'): KeySigner {
  return importKeystore(readFileSync(node(which).adminKey, 'utf8'), devnet().passphrase);
}

/** A new key registered as a provider of `which`'s hospital by its admin (committed). */
export async function registerProvider(
  which: NodeName | E2eNode,
  role: 'clinician' | 'nurse' | 'emergency' | 'researcher' = 'clinician',
): Promise<KeySigner> {
  const provider = KeySigner.generate();
  await clientOf(which, adminSigner(which)).sendTransaction(
    'provider.register',
    { provider: provider.publicKey, role },
    SEND,
  );
  return provider;
}

/** A new patient key, registered (for specs where the page is not the patient). */
export async function registerPatient(which: NodeName | E2eNode = 'hospital-a') {
  const patient = KeySigner.generate();
  await clientOf(which, patient).sendTransaction('patient.register', {}, SEND);
  return patient;
}

/** An Observation as hospitals store them (the demo's heart rate). */
export const HEART_RATE = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
  valueQuantity: { value: 72, unit: 'beats/minute' },
};

/**
 * A record for `patient` (registered) anchored and stored at `custodian`'s hospital by one of
 * its clinicians (a new one unless given). Resolves once the anchor is committed and the vault
 * holds the bytes.
 */
export async function storeRecord(
  patient: Uint8Array | string,
  options: {
    custodian?: NodeName;
    clinician?: KeySigner;
    resource?: object;
  } = {},
): Promise<StoredRecord & { clinician: KeySigner; resource: object }> {
  const custodian = options.custodian ?? 'hospital-a';
  const clinician = options.clinician ?? (await registerProvider(custodian, 'clinician'));
  const resource = options.resource ?? HEART_RATE;
  const stored = await clientOf(custodian, clinician).putRecord(
    {
      patient: typeof patient === 'string' ? fromHex(patient) : patient,
      content: new TextEncoder().encode(JSON.stringify(resource)),
    },
    SEND,
  );
  return { ...stored, clinician, resource };
}

/** The patient grants a provider access to records for `hours` (committed). */
export async function grantConsent(
  patient: KeySigner,
  grantee: Uint8Array,
  recordIds: readonly string[],
  hours = 1,
): Promise<SentTx> {
  const now = Date.now();
  return clientOf('hospital-a', patient).sendTransaction(
    'consent.grant',
    {
      patient: patient.publicKey,
      grantee: { type: 'provider', id: grantee },
      recordIds: recordIds.map((id) => fromHex(id)),
      resourceTypes: [],
      actions: ['access'],
      purposes: ['TREAT'],
      validFrom: now,
      validUntil: now + hours * 3_600_000,
    },
    SEND,
  );
}

/**
 * `requester` reads a record through `via`'s node (log-then-serve): resolves with the content
 * when permitted; a denial rejects with ClientError RECORD_ACCESS_DENIED. Either way the access
 * is in the patient's audit trail. `emergency`: break-glass (an emergency-role provider).
 */
export async function readRecord(
  via: NodeName | E2eNode,
  requester: KeySigner,
  recordId: string,
  emergency = false,
): Promise<Uint8Array> {
  const got = await clientOf(via, requester).fetchRecord(requester, {
    recordId: fromHex(recordId),
    action: 'access',
    purpose: emergency ? 'ETREAT' : 'TREAT',
    ...(emergency ? { emergencyReason: 'patient-unconscious' as const } : {}),
  });
  return got.content;
}

/** Resolves when `which` has applied `height` (so reads there see a commit). */
export async function waitForHeight(which: NodeName | E2eNode, height: number): Promise<void> {
  const client = clientOf(which);
  await expect
    .poll(async () => (await client.status()).height, { timeout: 20_000 })
    .toBeGreaterThanOrEqual(height);
}

/** `signer` as a keystore file under E2E_PASSPHRASE (the CLI's format), for the page to import. */
export function writeKeystore(signer: KeySigner, name: string, passphrase = E2E_PASSPHRASE) {
  const dir = join(devnet().dir, 'e2e-keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${name}-${toHex(signer.publicKey).slice(0, 8)}.json`);
  // The cheapest scrypt the format allows: the page opens it in milliseconds, not seconds.
  writeFileSync(path, exportKeystore(signer, passphrase, { N: 2 ** 10, r: 8, p: 1 }), {
    mode: 0o600,
  });
  return path;
}

export type AppRole = 'patient' | 'clinician' | 'operator';

/**
 * Imports `signer` into the app served by `which` as `role` and unlocks it, through the Keys
 * screen (keys are per origin, i.e. per node, and unlocked until the page reloads). Leaves the
 * page on the Keys screen; go on with `openScreen` (a hash change keeps the key unlocked).
 */
export async function importKey(
  page: Page,
  signer: KeySigner,
  role: AppRole,
  name: string,
  which: NodeName | E2eNode = 'hospital-a',
): Promise<void> {
  const file = writeKeystore(signer, name);
  await page.goto(appUrl(which, 'keys'));
  await page.getByLabel('Keystore file').setInputFiles(file);
  await page.getByLabel('Name for the imported key').fill(name);
  await page.getByLabel('Role of the imported key').selectOption(role);
  await page.getByLabel('Passphrase of the keystore').fill(E2E_PASSPHRASE);
  await page.getByRole('button', { name: 'Import and unlock' }).click();
  // The page opens the keystore in a worker: its first start is slow on a busy machine.
  await expect(page.getByText(`Imported and unlocked “${name}”.`)).toBeVisible({
    timeout: 60_000,
  });
}

/** Creates a key in the page (Keys screen, under E2E_PASSPHRASE), unlocked; returns its public key (hex). */
export async function createKey(page: Page, role: AppRole, name: string): Promise<string> {
  await openScreen(page, 'Keys');
  const form = page.locator('form', { has: page.getByRole('button', { name: 'Create key' }) });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Role').selectOption(role);
  await form.getByLabel('Passphrase', { exact: true }).fill(E2E_PASSPHRASE);
  await form.getByLabel('Repeat the passphrase').fill(E2E_PASSPHRASE);
  await form.getByRole('button', { name: 'Create key' }).click();
  await expect(page.getByText(`Created and unlocked “${name}”.`)).toBeVisible({
    timeout: 60_000,
  });
  const item = page
    .getByRole('list', { name: 'Stored keys' })
    .getByRole('listitem')
    .filter({
      has: page.getByRole('heading', { name }),
    });
  const hex = (await item.locator('dd.mono').first().textContent())?.trim() ?? '';
  expect(hex).toMatch(/^[0-9a-f]{64}$/);
  return hex;
}

/** Goes to a screen through the app's navigation (no reload: unlocked keys stay unlocked). */
export async function openScreen(
  page: Page,
  screen: 'Keys' | 'Patient' | 'Clinician' | 'Operator',
): Promise<void> {
  await page
    .getByRole('navigation', { name: 'Screens' })
    .getByRole('link', { name: screen })
    .click();
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
}

/** A long hex key or id as the app shortens it for display: 8 first and 6 last characters. */
export const short = (hex: string) => `${hex.slice(0, 8)}…${hex.slice(-6)}`;

/**
 * No serious or critical axe-core violation on the page as it is now, listed by rule and
 * element. `tags` keeps only those rules (e.g. WCAG 2.1 A/AA); without, every rule runs.
 * `state` names what was scanned when it fails.
 */
export async function expectAccessible(
  page: Page,
  state?: string,
  tags?: readonly string[],
): Promise<void> {
  const axe = new AxeBuilder({ page });
  const scan = await (tags === undefined ? axe : axe.withTags([...tags])).analyze();
  const serious = scan.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) =>
      v.nodes.map((n) => `${v.id} (${v.impact}): ${v.help} at ${n.target.join(' ')}`),
    );
  expect(serious, state).toEqual([]);
}

/** Nothing on the page is wider than the viewport (no sideways scrolling). */
export async function expectFitsWidth(page: Page): Promise<void> {
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  expect(overflow).toBeLessThanOrEqual(0);
}

/**
 * Playwright's test with an automatic guard: an uncaught exception in the page, or a request
 * or script the CSP refused, fails the test that caused it.
 */
export const test = base.extend<{ pageGuard: undefined }>({
  pageGuard: [
    async ({ page }, use) => {
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`uncaught in the page: ${error.stack}`));
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
          problems.push(`CSP: ${message.text()}`);
        }
      });
      await use(undefined);
      expect(problems, 'page errors').toEqual([]);
    },
    { auto: true },
  ],
});
