import { chmodSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Replaces `path` whole or not at all (a temporary file, then rename): neither a reader nor a
 * process killed mid-write ever leaves half a file. `mode` is applied after the write, since
 * the mode given at creation is masked by the umask.
 */
export function writeFileAtomic(path: string, text: string, mode?: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, mode === undefined ? undefined : { mode });
  if (mode !== undefined) chmodSync(tmp, mode);
  renameSync(tmp, path);
}
