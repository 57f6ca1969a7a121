/**
 * The clinician's screen on the shared devnet: a clinician at hospital B opens a record hospital
 * A holds under the patient's consent (logged, then served, rendered as FHIR with the raw JSON
 * a click away); after the patient revokes, the same button in the now stale page is denied,
 * with the ledger's reason and why; an emergency physician breaks the glass; bad input is
 * refused in the form. The parties are set up through the API (the patient's own page is
 * another spec's); everything the clinician does goes through the page.
 */
import { fromHex, type KeySigner, toDidKey, toHex } from '@medchain/client';
import type { Page } from '@playwright/test';
import {
  clientOf,
  expect,
  expectAccessible,
  expectFitsWidth,
  grantConsent,
  importKey,
  type NodeName,
  openScreen,
  registerPatient,
  registerProvider,
  short,
  storeRecord,
  test,
  waitForHeight,
} from './fixtures.js';

/** Imports `signer` on the Keys screen of `at` as the clinician key, then opens the Clinician tab. */
async function signInAsClinician(page: Page, at: NodeName, signer: KeySigner, name: string) {
  await importKey(page, signer, 'clinician', name, at);
  await openScreen(page, 'Clinician');
  await expect(page.getByRole('heading', { level: 1, name: 'Clinician' })).toBeVisible();
}

test('a clinician at another hospital opens a consented record; after the revocation they are denied, with the reason', async ({
  page,
}) => {
  const drBob = await registerProvider('hospital-b', 'clinician');
  const patient = await registerPatient('hospital-a');
  const stored = await storeRecord(patient.publicKey, { custodian: 'hospital-a' });
  const grant = await grantConsent(patient, drBob.publicKey, [stored.recordId]);
  await waitForHeight('hospital-b', grant.height!);

  await signInAsClinician(page, 'hospital-b', drBob, 'dr-bob');
  await expect(page.getByRole('region', { name: 'Your key' })).toContainText('active');

  const patients = page.getByRole('region', { name: 'My patients’ consents' });
  await patients.getByLabel('Patient key').fill('did:key:not-a-key');
  await patients.getByRole('button', { name: 'Add patient' }).click();
  await expect(patients.getByText('Not a patient key')).toBeVisible();
  await patients.getByLabel('Patient key').fill(toDidKey(patient.publicKey));
  await patients.getByRole('button', { name: 'Add patient' }).click();
  await expect(patients.getByText('1 active consent of 1.')).toBeVisible();

  const open = patients.getByRole('button', { name: `Open record ${short(stored.recordId)}` });
  await open.click();
  const record = page.getByRole('region', { name: `Record ${short(stored.recordId)}` });
  await expect(record).toBeVisible({ timeout: 60_000 });
  await expect(record).toContainText('Opened under the patient’s consent');
  // The FHIR rendering: the type and what was measured, the value with its unit.
  await expect(record.getByRole('heading', { name: /Observation/ })).toContainText(
    'Heart rate (LOINC 8867-4): 72 beats/minute',
  );
  await expect(record.getByText('final', { exact: true })).toBeVisible();
  // The raw JSON, one click away.
  const raw = record.getByText('"8867-4"');
  await expect(raw).toBeHidden();
  await record.getByText('Raw FHIR JSON').click();
  await expect(raw).toBeVisible();
  await expectAccessible(page);

  // The patient revokes; the page still shows the consent as it was (a stale tab).
  const consent = await clientOf('hospital-a', patient).consent(grant.hash);
  const revoke = await clientOf('hospital-a', patient).sendTransaction(
    'consent.revoke',
    { consentId: fromHex(consent.id) },
    { timeoutMs: 60_000 },
  );
  await waitForHeight('hospital-b', revoke.height!);
  await open.click();
  const denied = page.getByRole('region', { name: /denied/ });
  await expect(denied).toBeVisible({ timeout: 60_000 });
  await expect(denied.getByRole('alert')).toContainText('NO_CONSENT');
  await expect(denied).toContainText('No active consent of the patient covers this request');
  await expect(denied).toContainText('The patient revoked this consent');
  await expect(denied).toContainText('the patient sees it in their audit trail');
  await expectAccessible(page);

  // The list, refreshed, says so too.
  await patients
    .getByRole('button', { name: `Refresh patient ${short(toHex(patient.publicKey))}` })
    .click();
  await expect(patients.getByText('0 active consents of 1.')).toBeVisible();
  await expect(patients.getByText('revoked', { exact: true })).toBeVisible();
});

test('a record requested without consent is denied and logged; a malformed id is refused in the form', async ({
  page,
}) => {
  const drCarol = await registerProvider('hospital-c', 'clinician');
  const patient = await registerPatient('hospital-a');
  const stored = await storeRecord(patient.publicKey, { custodian: 'hospital-a' });
  await signInAsClinician(page, 'hospital-c', drCarol, 'dr-carol');

  const form = page.getByRole('region', { name: 'Request a record' });
  await form.getByLabel('Record id').fill('12345');
  await expect(form.getByText('A record id is 64 hexadecimal characters.')).toBeVisible();
  await form.getByLabel('Record id').fill(stored.recordId);
  await form.getByRole('button', { name: 'Request record' }).click();
  const denied = page.getByRole('region', { name: /denied/ });
  await expect(denied).toBeVisible({ timeout: 60_000 });
  await expect(denied).toContainText('NO_CONSENT');
  await expect(denied).toContainText(
    /The denial is itself on the ledger \(transaction [0-9a-f]{64}\)/,
  );
});

test('an emergency physician breaks the glass: the record opens, marked as break-glass', async ({
  page,
}) => {
  const drEve = await registerProvider('hospital-c', 'emergency');
  const patient = await registerPatient('hospital-a');
  const stored = await storeRecord(patient.publicKey, { custodian: 'hospital-a' });
  await signInAsClinician(page, 'hospital-c', drEve, 'dr-eve');

  const glass = page.getByRole('region', { name: /Break-glass access/ });
  await expect(glass).toContainText('your role: emergency');
  await glass.getByLabel('Record id (emergency)').fill(stored.recordId);
  await glass.getByLabel('Emergency reason').selectOption('patient-unconscious');
  const breakGlass = glass.getByRole('button', { name: 'Break the glass and open the record' });
  await expect(breakGlass).toBeDisabled();
  await glass.getByLabel(/I confirm this is an emergency/).check();
  await breakGlass.click();
  const record = page.getByRole('region', { name: `Record ${short(stored.recordId)}` });
  await expect(record).toBeVisible({ timeout: 60_000 });
  await expect(record).toContainText('Opened under break-glass');
  await expect(record.getByRole('heading', { name: /Observation/ })).toBeVisible();
  await expectAccessible(page);
});

test('a clinician of the custodian hospital stores a record from the page', async ({ page }) => {
  const drAda = await registerProvider('hospital-a', 'clinician');
  const patient = await registerPatient('hospital-a');
  await signInAsClinician(page, 'hospital-a', drAda, 'dr-ada');

  const store = page.getByRole('region', { name: 'Store a record for a patient' });
  await store.getByLabel('Patient key for the new record').fill(toHex(patient.publicKey));
  await store.getByLabel('FHIR resource (JSON)').fill('{"status": "final"}');
  await store.getByRole('button', { name: 'Anchor and store the record' }).click();
  await expect(
    store.getByText(/A FHIR resource is a JSON object with a resourceType/),
  ).toBeVisible();
  await store.getByLabel('FHIR resource (JSON)').fill(
    JSON.stringify({
      resourceType: 'Condition',
      clinicalStatus: { coding: [{ code: 'active' }] },
      code: { text: 'Asthma' },
    }),
  );
  await store.getByRole('button', { name: 'Anchor and store the record' }).click();
  const stored = store.getByRole('status').filter({ hasText: 'Stored Condition record' });
  await expect(stored).toBeVisible({ timeout: 60_000 });
  const recordId = (await stored.locator('.mono').textContent()) ?? '';
  expect(recordId).toMatch(/^[0-9a-f]{64}$/);
  // The patient's own records list it.
  const records = await clientOf('hospital-a', patient).patientRecords(patient.publicKey);
  expect(records.items.map((r) => r.id)).toContain(recordId);

  await page.setViewportSize({ width: 360, height: 740 });
  await expectFitsWidth(page);
});
