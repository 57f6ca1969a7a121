import { fileURLToPath } from 'node:url';

/** packages/app/ */
export const APP_DIR = fileURLToPath(new URL('../', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The devnet's directory, set by global-setup (or by you, to reuse a running devnet). */
export const DEVNET_ENV = 'MEDCHAIN_E2E_DEVNET';
/** Set by global-setup when it started the devnet, so teardown stops only its own. */
export const OWNED_ENV = 'MEDCHAIN_E2E_DEVNET_OWNED';
/** Where the story writes the README's screenshots. */
export const SCREENSHOTS_DIR = fileURLToPath(
  new URL('../../../docs/screenshots/', import.meta.url),
);
