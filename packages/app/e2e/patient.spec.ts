import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importKeystore, KeySigner, toDidKey, toHex } from '@medchain/client';
import type { Page } from '@playwright/test';
import {
  appUrl,
  clientOf,
  createKey,
  devnet,
  E2E_PASSPHRASE,
  expect,
  expectFitsWidth,
  importKey,
  openScreen,
  registerPatient,
  registerProvider,
  storeRecord,
  test,
  writeKeystore,
} from './fixtures.js';

/**
 * The Keys and Patient screens in chromium against the devnet: keys made, imported, exported
 * and refused; a patient registers, grants, watches the countdown, revokes (also from a stale
 * tab); delegates; opt-outs; the live audit trail, verified and with break-glass flagged; the
 * FHIR export. Each test makes its own parties.
 */

/** The patient's screen with `signer` imported and unlocked, already registered on the chain. */
async function patientPage(page: Page, signer: KeySigner, name = 'pat'): Promise<void> {
  await importKey(page, signer, 'patient', name);
  await openScreen(page, 'Patient');
  await expect(page.getByText(/^Registered since/)).toBeVisible();
}

const whoCanSee = (page: Page) =>
  page.getByRole('region', { name: 'Who can see my data, and until when' });
const grantForm = (page: Page) => page.getByRole('region', { name: 'Grant access' });
const auditTrail = (page: Page) => page.getByRole('region', { name: 'Audit trail' });

test.describe('keys', () => {
  test('a key made in the page is exported in the CLI keystore format', async ({ page }) => {
    await page.goto(appUrl('hospital-a', 'keys'));
    const hex = await createKey(page, 'patient', 'exported');
    const item = page
      .getByRole('listitem')
      .filter({ has: page.getByRole('heading', { name: /exported/ }) });
    await expect(item.getByText('unlocked')).toBeVisible();
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export exported' }).click();
    const file = await (await download).path();
    const signer = importKeystore(readFileSync(file, 'utf8'), E2E_PASSPHRASE);
    expect(toHex(signer.publicKey)).toBe(hex);

    // Kept across a reload, locked: the passphrase unlocks it, a wrong one is told as such.
    await page.reload();
    await expect(item.getByText('locked', { exact: true })).toBeVisible();
    await page.getByLabel('Passphrase for exported').fill('not the passphrase');
    await page.getByRole('button', { name: 'Unlock exported' }).click();
    await expect(item.getByRole('alert')).toContainText('WRONG_PASSPHRASE');
    await expect(item.getByRole('alert')).toContainText('What to do');
    await page.getByLabel('Passphrase for exported').fill(E2E_PASSPHRASE);
    await page.getByRole('button', { name: 'Unlock exported' }).click();
    await expect(item.getByText('unlocked')).toBeVisible();
  });

  test('a malformed keystore file and a wrong passphrase are refused with advice', async ({
    page,
  }) => {
    const dir = join(devnet().dir, 'e2e-keys');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const bad = join(dir, 'not-a-keystore.json');
    writeFileSync(bad, '{"kind": "something else"}');
    await page.goto(appUrl('hospital-a', 'keys'));
    const form = page.getByRole('region', { name: 'Import a key' });
    await page.getByLabel('Keystore file').setInputFiles(bad);
    await page.getByLabel('Passphrase of the keystore').fill(E2E_PASSPHRASE);
    await page.getByRole('button', { name: 'Import and unlock' }).click();
    await expect(form.getByRole('alert')).toContainText('KEYSTORE_INVALID');
    await expect(form.getByRole('alert')).toContainText('not a medchain keystore file');

    const good = writeKeystore(KeySigner.generate(), 'other');
    await page.getByLabel('Keystore file').setInputFiles(good);
    await page.getByLabel('Passphrase of the keystore').fill('wrong passphrase');
    await page.getByRole('button', { name: 'Import and unlock' }).click();
    await expect(form.getByRole('alert')).toContainText('WRONG_PASSPHRASE');
    await expect(page.getByRole('list', { name: 'Stored keys' })).toHaveCount(0);
  });
});

test.describe('patient', () => {
  test('registers, grants a clinician one hour, sees the countdown, revokes', async ({ page }) => {
    const drBob = await registerProvider('hospital-b', 'clinician');
    await page.goto(appUrl('hospital-a', 'keys'));
    await createKey(page, 'patient', 'alice');
    await openScreen(page, 'Patient');
    await page.getByRole('button', { name: 'Register as a patient' }).click();
    await expect(page.getByText(/^Registered since/)).toBeVisible();
    await expect(whoCanSee(page)).toContainText('Nobody');

    const form = grantForm(page);
    await form.getByLabel('Clinician’s key').fill(toDidKey(drBob.publicKey));
    await form.getByLabel('All Observation records').check();
    await form.getByRole('button', { name: 'Ends in 1 hour' }).click();
    await form.getByRole('button', { name: 'Grant access' }).click();
    await expect(page.getByText(/^Access granted until/)).toBeVisible();

    const grantee = whoCanSee(page).getByRole('listitem');
    await expect(grantee).toHaveCount(1);
    await expect(grantee.getByRole('heading')).toContainText('Clinician');
    await expect(grantee).toContainText('clinician at hospital');
    await expect(grantee).toContainText(toHex(drBob.publicKey));
    await expect(grantee).toContainText('all Observation');
    await expect(grantee).toContainText('Treatment (TREAT)');
    await expect(grantee.locator('time.countdown')).toHaveText(/^(59|58) min( \d+ s)? left$/);

    await grantee.getByRole('button', { name: /^Revoke consent/ }).click();
    await expect(whoCanSee(page)).toContainText('Nobody');
    await expect(page.getByRole('region', { name: 'Past consents' })).toContainText('revoked');
  });

  test('a revoke from a stale tab says the consent is already revoked', async ({
    page,
    context,
  }) => {
    const patient = await registerPatient();
    const drBob = await registerProvider('hospital-b', 'clinician');
    await patientPage(page, patient);
    const form = grantForm(page);
    await form.getByLabel('Clinician’s key').fill(toHex(drBob.publicKey));
    await form.getByLabel('All Observation records').check();
    await form.getByRole('button', { name: 'Ends in 1 day' }).click();
    await form.getByRole('button', { name: 'Grant access' }).click();
    await expect(whoCanSee(page).getByRole('listitem')).toHaveCount(1);

    const other = await context.newPage();
    await other.goto(appUrl('hospital-a', 'keys'));
    await other.getByLabel('Passphrase for pat').fill(E2E_PASSPHRASE);
    await other.getByRole('button', { name: 'Unlock pat' }).click();
    await openScreen(other, 'Patient');
    await whoCanSee(other)
      .getByRole('button', { name: /^Revoke consent/ })
      .click();
    await expect(whoCanSee(other)).toContainText('Nobody');

    await whoCanSee(page)
      .getByRole('button', { name: /^Revoke consent/ })
      .click();
    const alert = whoCanSee(page).getByRole('alert');
    await expect(alert).toContainText('CONSENT_REVOKED');
    await expect(alert).toContainText('already revoked');
  });

  test('refuses a past end, a malformed key and an empty scope before sending', async ({
    page,
  }) => {
    const patient = await registerPatient();
    await patientPage(page, patient);
    const form = grantForm(page);
    await form.getByLabel('Clinician’s key').fill('not-a-key');
    await form.getByLabel('Access ends').fill('2020-01-01T10:00');
    await form.getByRole('button', { name: 'Grant access' }).click();
    await expect(form.getByText(/^Not a key/)).toBeVisible();
    await expect(form.getByText('The end must be in the future.')).toBeVisible();
    await expect(form.getByText('Choose at least one kind of record or one record.')).toBeVisible();
    await expect(form.getByLabel('Clinician’s key')).toHaveAttribute('aria-invalid', 'true');
    await expect(form.getByLabel('Access ends')).toHaveAttribute('aria-invalid', 'true');

    await form.getByLabel('Access ends').fill('');
    await form.getByRole('button', { name: 'Grant access' }).click();
    await expect(form.getByText(/an end date is required/)).toBeVisible();
    await expect(whoCanSee(page)).toContainText('Nobody');
  });

  test('adds and removes a delegate, with its end', async ({ page }) => {
    const patient = await registerPatient();
    const delegate = KeySigner.generate();
    await patientPage(page, patient);
    const panel = page.getByRole('region', { name: 'Delegates' });
    await panel.getByLabel('Delegate’s key').fill(toHex(delegate.publicKey));
    await panel.getByLabel('Relation').selectOption('guardian');
    await panel.getByRole('button', { name: 'Add delegate' }).click();
    const list = panel.getByRole('list', { name: 'Your delegates' });
    await expect(list.getByRole('listitem')).toHaveCount(1);
    await expect(list).toContainText('Guardian');
    await expect(list.locator('time.countdown')).toHaveText(/left$/);
    expect(
      (await clientOf('hospital-a', patient).delegate(patient.publicKey, delegate.publicKey))
        .relation,
    ).toBe('guardian');

    await list.getByRole('button', { name: /^Remove delegate/ }).click();
    await expect(panel.getByText('No delegate known to this browser.')).toBeVisible();
  });

  test('the audit trail shows a break-glass access live, flagged and verified; the opt-out denies the next', async ({
    page,
  }) => {
    const patient = await registerPatient();
    const record = await storeRecord(patient.publicKey);
    const drEve = await registerProvider('hospital-c', 'emergency');
    await patientPage(page, patient);
    const trail = auditTrail(page);
    await expect(trail).toContainText('Nobody has asked for your records yet.');

    const emergency = {
      recordId: record.recordId,
      action: 'access',
      purpose: 'ETREAT',
      emergencyReason: 'patient-unconscious',
    } as const;
    await clientOf('hospital-c', drEve).fetchRecord(drEve, emergency);
    const entry = trail.getByRole('listitem').first();
    await expect(entry).toContainText('Emergency access (break-glass)');
    await expect(entry).toContainText('allowed');
    await expect(entry).toContainText('patient unconscious');
    await expect(entry).toHaveClass(/flagged/);
    await expect(entry).toContainText(/verified \(block \d+\)/);

    // Opting out: the next emergency request is denied, and that denial is on the trail too.
    const policy = page.getByRole('region', { name: 'Emergency access and research' });
    await policy.getByLabel('Opt out of emergency (break-glass) access').check();
    await policy.getByRole('button', { name: 'Save choices' }).click();
    await expect(policy).toContainText('Now: emergency access refused');
    await expect(clientOf('hospital-c', drEve).fetchRecord(drEve, emergency)).rejects.toMatchObject(
      {
        code: 'RECORD_ACCESS_DENIED',
      },
    );
    await expect(trail.getByRole('listitem')).toHaveCount(2);
    const denied = trail.getByRole('listitem').first();
    await expect(denied).toContainText('denied');
    await expect(denied).toContainText('you opted out of emergency access');
    await expect(denied).toContainText(/verified \(block \d+\)/);
  });

  test('exports consents and the audit trail as FHIR Bundles', async ({ page }) => {
    const patient = await registerPatient();
    const drBob = await registerProvider('hospital-b', 'clinician');
    const record = await storeRecord(patient.publicKey);
    await patientPage(page, patient);
    const form = grantForm(page);
    await form.getByLabel('Clinician’s key').fill(toHex(drBob.publicKey));
    await form.getByLabel(/^Observation [0-9a-f]{8}…/).check();
    await form.getByRole('button', { name: 'Ends in 1 hour' }).click();
    await form.getByRole('button', { name: 'Grant access' }).click();
    await expect(page.getByText(/^Access granted until/)).toBeVisible();
    await clientOf('hospital-b', drBob).fetchRecord(drBob, {
      recordId: record.recordId,
      action: 'access',
      purpose: 'TREAT',
    });
    await expect(auditTrail(page).getByRole('listitem')).toHaveCount(1);

    const exportPanel = page.getByRole('region', { name: 'Export as FHIR' });
    const read = async (button: string) => {
      const download = page.waitForEvent('download');
      await exportPanel.getByRole('button', { name: button }).click();
      return JSON.parse(readFileSync(await (await download).path(), 'utf8'));
    };
    const consents = await read('Download consents (FHIR)');
    expect(consents).toMatchObject({ resourceType: 'Bundle', type: 'collection', total: 1 });
    expect(consents.entry[0].resource).toMatchObject({
      resourceType: 'Consent',
      status: 'active',
      patient: { reference: `Patient/${toHex(patient.publicKey)}` },
    });
    expect(JSON.stringify(consents.entry[0].resource)).toContain(`Observation/${record.recordId}`);
    const audit = await read('Download audit trail (FHIR)');
    expect(audit).toMatchObject({ resourceType: 'Bundle', total: 1 });
    expect(audit.entry[0].resource.resourceType).toBe('AuditEvent');
  });

  test('a node that does not answer is said so, and the screen recovers', async ({ page }) => {
    const patient = await registerPatient();
    await importKey(page, patient, 'patient', 'pat');
    await page.route('**/v1/**', (route) => route.abort('connectionrefused'));
    await openScreen(page, 'Patient');
    const alert = page.getByRole('alert').first();
    await expect(alert).toContainText('NODE_UNREACHABLE');
    await expect(alert).toContainText('node did not answer');
    await page.unroute('**/v1/**');
    await page.getByRole('button', { name: 'Try again' }).click();
    await expect(page.getByText(/^Registered since/)).toBeVisible();
  });

  test('fits a phone’s width', async ({ page }) => {
    await page.setViewportSize({ width: 360, height: 740 });
    const patient = await registerPatient();
    await patientPage(page, patient);
    await expectFitsWidth(page);
  });
});
