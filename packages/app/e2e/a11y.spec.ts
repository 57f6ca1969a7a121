/**
 * Every screen, in the states a user sees, scanned with axe-core (WCAG 2.1 A and AA rules):
 * no serious or critical violation. The parties and their history are set up through the API so
 * each screen shows its lists, forms, errors and flagged entries, not an empty page.
 */
import { toHex } from '@medchain/client';
import {
  adminSigner,
  appUrl,
  E2E_PASSPHRASE,
  expect,
  expectAccessible,
  grantConsent,
  importKey,
  openScreen,
  readRecord,
  registerPatient,
  registerProvider,
  short,
  storeRecord,
  test,
} from './fixtures.js';

const WCAG21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

test('every screen, in the states a user sees', async ({ page }) => {
  test.setTimeout(240_000);
  // One history for all the screens: a patient with a consent, a permitted read by the
  // clinician and a break-glass read (flagged), both in the audit trail.
  const [patient, drBob, drEve] = await Promise.all([
    registerPatient('hospital-a'),
    registerProvider('hospital-b', 'clinician'),
    registerProvider('hospital-c', 'emergency'),
  ]);
  const stored = await storeRecord(patient.publicKey);
  await grantConsent(patient, drBob.publicKey, [stored.recordId]);
  await Promise.all([
    readRecord('hospital-b', drBob, stored.recordId),
    readRecord('hospital-c', drEve, stored.recordId, true),
  ]);

  await test.step('keys: none stored, one unlocked, locked with a refused passphrase', async () => {
    await page.goto(appUrl('hospital-a', 'keys'));
    await expect(page.getByText('No keys yet')).toBeVisible();
    await expectAccessible(page, 'keys, none stored', WCAG21_AA);
    await importKey(page, patient, 'patient', 'a11y-patient');
    await expectAccessible(page, 'keys, one unlocked', WCAG21_AA);
    await page.reload();
    await page.getByLabel('Passphrase for a11y-patient').fill('not the passphrase');
    await page.getByRole('button', { name: 'Unlock a11y-patient' }).click();
    await expect(page.getByRole('list', { name: 'Stored keys' }).getByRole('alert')).toBeVisible();
    await expectAccessible(page, 'keys, locked, a wrong passphrase refused', WCAG21_AA);
    await page.getByLabel('Passphrase for a11y-patient').fill(E2E_PASSPHRASE);
    await page.getByRole('button', { name: 'Unlock a11y-patient' }).click();
    await expect(page.getByRole('button', { name: 'Lock a11y-patient' })).toBeVisible();
  });

  await test.step('patient: consents, audit trail with a flagged entry, grant form errors', async () => {
    await openScreen(page, 'Patient');
    await expect(page.getByText(/^Live: 2 entries/)).toBeVisible({ timeout: 30_000 });
    await expect(
      page.getByRole('region', { name: 'Who can see my data, and until when' }),
    ).toContainText(toHex(drBob.publicKey));
    await expectAccessible(page, 'patient, one consent, two audit entries', WCAG21_AA);
    const form = page.getByRole('region', { name: 'Grant access' });
    await form.getByLabel('Clinician’s key').fill('not a key');
    await form.getByRole('button', { name: 'Grant access' }).click();
    await expect(form.getByText(/^Not a key/)).toBeVisible();
    await expectAccessible(page, 'patient, grant form with field errors', WCAG21_AA);
  });

  await test.step('clinician: no patient yet, then a record open with its raw JSON', async () => {
    await importKey(page, drBob, 'clinician', 'a11y-clinician', 'hospital-b');
    await openScreen(page, 'Clinician');
    await expectAccessible(page, 'clinician, no patient yet', WCAG21_AA);
    const patients = page.getByRole('region', { name: 'My patients’ consents' });
    await patients.getByLabel('Patient key').fill(toHex(patient.publicKey));
    await patients.getByRole('button', { name: 'Add patient' }).click();
    await patients.getByRole('button', { name: `Open record ${short(stored.recordId)}` }).click();
    const record = page.getByRole('region', { name: `Record ${short(stored.recordId)}` });
    await expect(record).toContainText('Heart rate', { timeout: 60_000 });
    await record.getByText('Raw FHIR JSON').click();
    await expectAccessible(page, 'clinician, a record open with its raw JSON', WCAG21_AA);
  });

  await test.step('operator: the dashboard, with the admin key unlocked', async () => {
    await importKey(page, adminSigner('hospital-a'), 'operator', 'a11y-admin', 'hospital-a');
    await openScreen(page, 'Operator');
    await expect(page.getByRole('table', { name: /4 validators/ })).toBeVisible();
    await expect(page.getByText('quorum verified').first()).toBeVisible();
    await expect(page.getByRole('region', { name: 'Clinicians of your hospital' })).toBeVisible();
    await expectAccessible(page, 'operator dashboard, admin unlocked', WCAG21_AA);
  });
});
