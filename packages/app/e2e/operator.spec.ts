/**
 * The operator dashboard on the shared devnet: every validator matched to its node with height,
 * view and peers; the height rising as blocks commit; certificates verified in the browser; a
 * node that stops answering shown as down with what to do; recorded equivocation evidence listed
 * (one answer replaced: an honest devnet records none); an admin registering and suspending a
 * clinician from the page; no serious accessibility violation; usable at a phone's width.
 */
import { KeySigner, toDidKey, toHex } from '@medchain/client';
import type { Page } from '@playwright/test';
import {
  appUrl,
  clientOf,
  devnet,
  expect,
  expectAccessible,
  expectFitsWidth,
  node,
  registerPatient,
  short,
  test,
} from './fixtures.js';

/** The Network panel's first figure, the height, as a number (NaN while unknown). */
async function shownHeight(page: Page): Promise<number> {
  const text = await page
    .getByRole('region', { name: 'Network' })
    .getByRole('definition')
    .first()
    .textContent();
  return Number(text);
}

test('the dashboard shows the 4 validators, their nodes and a rising height', async ({ page }) => {
  await page.goto(appUrl('hospital-a', 'operator'));
  await expect(page.getByRole('heading', { level: 1, name: 'Operator' })).toBeVisible();

  const validators = page.getByRole('table', { name: /4 validators/ });
  // A header row and one row per validator, each matched to a node that answers.
  await expect(validators.getByRole('row')).toHaveCount(5);
  for (const n of devnet().nodes) {
    await expect(validators.getByRole('row').filter({ hasText: n.api })).toBeVisible();
  }
  await expect(validators.getByText('healthy', { exact: true })).toHaveCount(4);

  await expect.poll(() => shownHeight(page)).toBeGreaterThanOrEqual(0);
  const before = await shownHeight(page);
  // An idle chain makes no blocks: a transaction makes some.
  await registerPatient('hospital-b');
  await expect.poll(() => shownHeight(page)).toBeGreaterThan(before);

  const blocks = page.getByRole('table', { name: /latest blocks/ });
  await expect(blocks.getByText('quorum verified').first()).toBeVisible();
  await expect(page.getByRole('region', { name: 'Equivocation evidence' })).toContainText(
    'No validator has signed two conflicting messages, as recorded by the 4 nodes answering',
  );
  await expectAccessible(page);
});

test('a node that stops answering is shown as down, with what to do', async ({ page }) => {
  const down = node('hospital-d');
  // The browser may call hospital-d (the page's CSP lists it); its requests now fail as a dead
  // node's would.
  await page.route(`${down.api}/**`, (route) => route.abort('connectionrefused'));
  await page.goto(appUrl('hospital-a', 'operator'));
  const item = page
    .getByRole('region', { name: 'Nodes' })
    .getByRole('listitem')
    .filter({ hasText: down.api });
  await expect(item.getByText('down', { exact: true })).toBeVisible();
  await expect(item).toContainText('Check that the node is running');
  // The other three still answer.
  await expect(
    page.getByRole('table', { name: /4 validators/ }).getByText('healthy', { exact: true }),
  ).toHaveCount(3);
});

test('equivocation evidence a node reports is listed, flagged, with the node that reported it', async ({
  page,
}) => {
  // An honest devnet records none: one node's answer is replaced by a recorded equivocation.
  const culprit = (await clientOf('hospital-a').status()).validators[1]!;
  const reporter = node('hospital-c');
  const signed = (byte: string) => ({ digest: byte.repeat(32), signature: byte.repeat(64) });
  await page.route(`${reporter.api}/v1/consensus/evidence`, (route) =>
    route.fulfill({
      headers: { 'access-control-allow-origin': node('hospital-a').api },
      json: {
        items: [
          {
            validator: culprit.publicKey,
            phase: 'prepare',
            height: 7,
            view: 1,
            first: signed('aa'),
            second: signed('bb'),
            verified: true,
            recordedAt: Date.now(),
          },
        ],
        total: 1,
      },
    }),
  );
  await page.goto(appUrl('hospital-a', 'operator'));
  const evidence = page.getByRole('table', { name: /Conflicting signed messages/ });
  const row = evidence.getByRole('row').filter({ hasText: `org ${culprit.orgId.slice(0, 8)}` });
  await expect(row).toContainText('prepare');
  await expect(row).toContainText('7, 1');
  await expect(row).toContainText(reporter.api);
  await expect(row.getByRole('cell', { name: 'yes', exact: true })).toBeVisible();
});

test('an admin registers a clinician, then suspends them', async ({ page }) => {
  const hospital = node('hospital-a');
  await page.goto(appUrl(hospital, 'keys'));
  await page.getByLabel('Keystore file').setInputFiles(hospital.adminKey);
  await page.getByLabel('Role of the imported key').selectOption('operator');
  await page.getByLabel('Passphrase of the keystore').fill(devnet().passphrase);
  await page.getByRole('button', { name: 'Import and unlock' }).click();
  // Opening a keystore runs scrypt in the browser: seconds on a busy machine.
  await expect(page.getByText(/Imported and unlocked/)).toBeVisible({ timeout: 60_000 });
  await page.getByRole('link', { name: 'Operator' }).click();

  const panel = page.getByRole('region', { name: 'Clinicians of your hospital' });
  await expect(panel).toContainText(hospital.orgId);

  // Bad input first: a malformed key is refused in the form.
  await panel.getByLabel('Clinician’s key').fill('not-a-key');
  await panel.getByRole('button', { name: 'Register clinician' }).click();
  await expect(panel.getByText('Not a key: enter 64 hexadecimal characters')).toBeVisible();

  const clinician = KeySigner.generate();
  const did = toDidKey(clinician.publicKey);
  await panel.getByLabel('Clinician’s key').fill(did);
  await panel.getByLabel('Role', { exact: true }).selectOption('emergency');
  await panel.getByRole('button', { name: 'Register clinician' }).click();
  await expect(panel.getByText(/Registered .* as emergency at height \d+/)).toBeVisible({
    timeout: 60_000,
  });

  // With the admin key the dashboard reads block bodies: the registration is a counted transaction.
  const blocks = page.getByRole('table', { name: /latest blocks/ });
  await expect(blocks.getByRole('cell', { name: '1', exact: true }).first()).toBeVisible();
  const txsPerSecond = page.getByRole('region', { name: 'Network' }).getByRole('definition').nth(2);
  await expect(txsPerSecond).toHaveText(/^\d+\.\d\d$/);

  // Registering the same key again: the ledger's refusal, in words.
  await panel.getByLabel('Clinician’s key').fill(did);
  await panel.getByRole('button', { name: 'Register clinician' }).click();
  await expect(panel.getByRole('alert')).toContainText('PROVIDER_EXISTS', { timeout: 60_000 });

  const hex = toHex(clinician.publicKey);
  const row = panel.getByRole('row').filter({ hasText: short(hex) });
  await expect(row).toContainText('active');
  await row.getByRole('button', { name: `Suspend ${short(hex)}` }).click();
  await row.getByRole('button', { name: `Confirm suspension of ${short(hex)}` }).click();
  await expect(row).toContainText('suspended', { timeout: 60_000 });
  await expect(row.getByRole('button', { name: `Suspend ${short(hex)}` })).toHaveCount(0);
});

test('the dashboard fits a phone’s width', async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(appUrl('hospital-b', 'operator'));
  await expect(page.getByRole('table', { name: /4 validators/ }).getByRole('row')).toHaveCount(5);
  await expectFitsWidth(page);
  await expectAccessible(page);
});
