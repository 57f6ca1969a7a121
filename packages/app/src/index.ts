import { fileURLToPath } from 'node:url';

/** The directory holding the built web app (`pnpm build` writes it; the node serves it under /app). */
export const APP_DIST_DIR = fileURLToPath(new URL('../dist/', import.meta.url));
