/**
 * Bad input gets a clear message, never a blank page or a stack trace: a malformed key (a
 * keystore file that is not one, a clinician key that is not a key), a wrong passphrase, a past
 * expiry, a revoked consent used in a stale tab, a node that is down (really killed, then
 * restarted). Each message names its code, says what happened and what to do; the screen stays.
 * The fixture's page guard fails the test on any uncaught error in the page.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeySigner, toHex } from '@medchain/client';
import type { Locator, Page } from '@playwright/test';
import { cli } from '../../cli/test/helpers.js';
// The page's own datetime-local writer: the browser's time zone is the machine's.
import { toLocalInput } from '../web/ui/inputs.js';
import {
  appUrl,
  devnet,
  E2E_PASSPHRASE,
  expect,
  grantConsent,
  importKey,
  node,
  openScreen,
  registerPatient,
  registerProvider,
  storeRecord,
  test,
  writeKeystore,
} from './fixtures.js';

/** An error box: its code, what happened, what to do; no stack trace, no source location. */
async function expectClearError(box: Locator, code: string, what: string | RegExp) {
  await expect(box).toBeVisible({ timeout: 30_000 });
  await expect(box.locator('code').first()).toHaveText(code);
  await expect(box).toContainText(what);
  await expect(box).toContainText('What to do:');
  await expect(box).not.toContainText(
    /\bat \S+ \(\S+:\d+:\d+\)|\.(ts|tsx|js):\d+:\d+|\bundefined\b|\[object Object\]/,
  );
}

/** The screen is still there around the message. */
async function expectScreen(page: Page, name: string) {
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Screens' })).toBeVisible();
}

test('a malformed keystore file and a wrong passphrase', async ({ page }) => {
  const notKeystore = join(devnet().dir, 'e2e-keys', 'notes.json');
  writeKeystore(KeySigner.generate(), 'placeholder'); // makes the directory
  writeFileSync(notKeystore, '{"patient": "Alice", "notes": "not a keystore"}');
  await page.goto(appUrl('hospital-a', 'keys'));
  const form = page.getByRole('region', { name: 'Import a key' });
  await form.getByLabel('Keystore file').setInputFiles(notKeystore);
  await form.getByLabel('Passphrase of the keystore').fill(E2E_PASSPHRASE);
  await form.getByRole('button', { name: 'Import and unlock' }).click();
  await expectClearError(form.getByRole('alert'), 'KEYSTORE_INVALID', 'not a medchain keystore');
  await expectScreen(page, 'Keys');

  await form.getByLabel('Keystore file').setInputFiles(writeKeystore(KeySigner.generate(), 'k'));
  await form.getByLabel('Passphrase of the keystore').fill('not the passphrase');
  await form.getByRole('button', { name: 'Import and unlock' }).click();
  await expectClearError(
    form.getByRole('alert'),
    'WRONG_PASSPHRASE',
    'The passphrase does not open this key.',
  );
  await expect(page.getByText('No keys yet')).toBeVisible();
});

test('a malformed clinician key, a past expiry, a revoked consent in a stale tab', async ({
  page,
}) => {
  const [patient, drBob] = await Promise.all([
    registerPatient('hospital-a'),
    registerProvider('hospital-b', 'clinician'),
  ]);
  const stored = await storeRecord(patient.publicKey);
  await grantConsent(patient, drBob.publicKey, [stored.recordId]);
  await importKey(page, patient, 'patient', 'bad-input-patient');
  await openScreen(page, 'Patient');
  const form = page.getByRole('region', { name: 'Grant access' });
  const key = form.getByLabel('Clinician’s key');
  const ends = form.getByLabel('Access ends');

  await test.step('a malformed key', async () => {
    await key.fill('did:key:z6MkNotReallyAKey');
    await form.getByLabel('All Observation records').check();
    await form.getByRole('button', { name: 'Ends in 1 hour' }).click();
    await form.getByRole('button', { name: 'Grant access' }).click();
    await expect(form.getByText(/^Not a key: enter 64 hexadecimal characters/)).toBeVisible();
    await expect(key).toHaveAttribute('aria-invalid', 'true');
  });

  await test.step('a past expiry', async () => {
    await key.fill(toHex(drBob.publicKey));
    await ends.fill(toLocalInput(Date.now() - 86_400_000));
    await form.getByRole('button', { name: 'Grant access' }).click();
    await expect(form.getByText('The end must be in the future.')).toBeVisible();
    await expect(ends).toHaveAttribute('aria-invalid', 'true');
    // Nothing was sent: still the one consent from the setup.
    await expect(page.getByRole('button', { name: /^Revoke consent / })).toHaveCount(1);
    await expectScreen(page, 'Patient');
  });

  await test.step('a revoked consent used in a stale tab', async () => {
    const other = await page.context().newPage();
    await other.goto(appUrl('hospital-a', 'keys'));
    await other.getByLabel('Passphrase for bad-input-patient').fill(E2E_PASSPHRASE);
    await other.getByRole('button', { name: 'Unlock bad-input-patient' }).click();
    await openScreen(other, 'Patient');
    await other.getByRole('button', { name: /^Revoke consent / }).click();
    await expect(other.getByText(/^Nobody: you have no active consent/)).toBeVisible({
      timeout: 60_000,
    });
    await other.close();
    // This tab still shows the consent as active; revoking it again is told for what it is.
    await page.getByRole('button', { name: /^Revoke consent / }).click();
    const consents = page.getByRole('region', { name: 'Who can see my data, and until when' });
    await expectClearError(
      consents.getByRole('alert'),
      'CONSENT_REVOKED',
      'This consent was already revoked',
    );
    await expectScreen(page, 'Patient');
  });
});

test('a node that is down', async ({ page }) => {
  test.setTimeout(180_000);
  const down = node('hospital-d');
  const patient = await registerPatient('hospital-a');
  await importKey(page, patient, 'patient', 'node-down-patient');
  await openScreen(page, 'Patient');
  await expect(page.getByText(/^Registered since/)).toBeVisible();

  const file = JSON.parse(readFileSync(join(devnet().dir, 'devnet.json'), 'utf8')) as {
    nodes: { name: string; pid: number }[];
  };
  // A crash, as `devnet kill` does it (without a CLI start-up: seconds on a busy machine).
  process.kill(file.nodes.find((n) => n.name === down.name)!.pid, 'SIGKILL');
  try {
    await page.locator('summary', { hasText: 'Node:' }).click();
    await page.getByLabel('Node address').fill(down.api);
    await page.getByRole('button', { name: 'Use this node' }).click();
    const settings = page.locator('details', { has: page.getByLabel('Node address') });
    await expectClearError(
      settings.getByRole('alert'),
      'NODE_UNREACHABLE',
      'The node did not answer.',
    );
    await expect(settings.getByRole('alert')).toContainText('Check the node address');
    // The screen, reading through that node, says the same instead of going blank.
    await openScreen(page, 'Keys');
    await openScreen(page, 'Patient');
    await expectClearError(
      page.getByRole('main').getByRole('alert').first(),
      'NODE_UNREACHABLE',
      'The node did not answer.',
    );
    await expectScreen(page, 'Patient');
  } finally {
    // The other specs need all four: restart it and wait until it has caught up.
    const restart = await cli(['devnet', 'restart', down.name, '--dir', devnet().dir], {
      timeoutMs: 120_000,
    });
    expect(restart.code, restart.stderr).toBe(0);
  }
});
