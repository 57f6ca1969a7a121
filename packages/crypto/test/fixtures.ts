import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** Reads a file from test/fixtures, transparently gunzipping `.gz` files. */
export function readFixture(name: string): Buffer {
  const raw = readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
  return name.endsWith('.gz') ? gunzipSync(raw) : raw;
}

/**
 * Parses the `KEY = value` blocks of NIST .rsp files and similar vector files: blank lines
 * separate records, `#` starts a comment, `[...]` section headers are skipped.
 */
export function parseRecords(text: string): Record<string, string>[] {
  const records: Record<string, string>[] = [];
  let current: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('[')) {
      if (Object.keys(current).length > 0) records.push(current);
      current = {};
      continue;
    }
    if (line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`unparsable vector line: ${line}`);
    current[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  if (Object.keys(current).length > 0) records.push(current);
  return records;
}
