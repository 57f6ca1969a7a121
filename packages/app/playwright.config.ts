import { defineConfig } from '@playwright/test';

/**
 * Browser tests of the web app: Debian's chromium (no browser download), headless, against one
 * real 4-validator devnet that e2e/global-setup.ts starts (and builds the app first when its
 * sources are newer than dist/). One worker: the machine has two cores and the devnet needs them.
 */
export default defineConfig({
  testDir: './e2e',
  tsconfig: './e2e/tsconfig.json',
  globalSetup: './e2e/global-setup.ts',
  globalTeardown: './e2e/global-teardown.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: 'list',
  forbidOnly: !!process.env.CI,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  outputDir: 'test-results',
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // Root (CI containers) cannot use chromium's sandbox.
      args: ['--no-sandbox'],
    },
    viewport: { width: 1280, height: 800 },
    actionTimeout: 15_000,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
});
