/**
 * Summarizes a V8 .cpuprofile (from `node --cpu-prof`): self time of the top functions, and
 * self time grouped by where the code lives (our packages, node internals, dependencies).
 * Usage: npx tsx devnet/bench/profile-summary.ts FILE.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: profile-summary.ts FILE.cpuprofile [top]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

function place(url: string): string {
  const pkg = /packages\/(\w+)\/(?:src|dist)\/(.*)$/.exec(url);
  if (pkg !== null) return `@medchain/${pkg[1]} ${pkg[2]}`;
  const dep = /node_modules\/\.pnpm\/([^/]+)\//.exec(url);
  if (dep !== null) return dep[1]!.replace(/@[\d.]+.*$/, '');
  if (url.startsWith('node:')) return url;
  return url === '' ? '(native/vm)' : url.replace(/^file:\/\//, '');
}

const functions = new Map<string, number>();
const places = new Map<string, number>();
for (const [id, us] of selfUs) {
  const node = byId.get(id)!;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = place(url);
  const key = `${functionName || '(anonymous)'}  ${where}${url === '' ? '' : `:${lineNumber + 1}`}`;
  functions.set(key, (functions.get(key) ?? 0) + us);
  const group = where.startsWith('@medchain/') ? where.split(' ')[0]! : where.split(' ')[0]!;
  places.set(group, (places.get(group) ?? 0) + us);
}
const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
const top = Number(topArg ?? 25);
console.log(`total sampled ${(total / 1e6).toFixed(2)} s`);
console.log('\nself time by function:');
for (const [key, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(us)}  ${key}`);
}
console.log('\nself time by place:');
for (const [key, us] of [...places].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(us)}  ${key}`);
}

// Inclusive time (self + callees) of our own functions: which part of the node the time is under.
const parentOf = new Map<number, number>();
for (const node of profile.nodes)
  for (const child of node.children ?? []) parentOf.set(child, node.id);
const inclusive = new Map<string, number>();
for (const [id, us] of selfUs) {
  const counted = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
    const { functionName, url } = byId.get(at)!.callFrame;
    const where = place(url);
    if (!where.startsWith('@medchain/')) continue;
    const key = `${functionName || '(anonymous)'}  ${where}`;
    if (counted.has(key)) continue;
    counted.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}
console.log('\ninclusive time of @medchain functions:');
for (const [key, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${pct(us)}  ${key}`);
}
