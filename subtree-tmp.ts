import { readFileSync } from 'node:fs';
const [file, rootName, topArg] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file!, 'utf8'));
const byId = new Map<number, any>(p.nodes.map((n: any) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
p.samples.forEach((id: number, i: number) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
const incl = new Map<string, number>(); const selfBy = new Map<string, number>();
let total = 0;
for (const [id, us] of self) {
  const chain: any[] = []; let cur: number | undefined = id;
  while (cur !== undefined) { chain.push(byId.get(cur)); cur = parent.get(cur); }
  const at = chain.findIndex((n) => n.callFrame.functionName === rootName);
  if (at < 0) continue;
  total += us;
  const seen = new Set<string>();
  for (const n of chain.slice(0, at + 1)) {
    const url = n.callFrame.url.replace(/.*packages\//, '').replace(/.*node_modules\/\.pnpm\/([^/]+)\/.*/, '$1');
    const k = `${n.callFrame.functionName || '(anon)'} ${url}:${n.callFrame.lineNumber + 1}`;
    if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + us); }
  }
  const n0 = chain[0]; const k0 = `${n0.callFrame.functionName || '(anon)'} ${n0.callFrame.url.replace(/.*packages\//, '')}`;
  selfBy.set(k0, (selfBy.get(k0) ?? 0) + us);
}
console.log(`under ${rootName}: ${(total / 1000).toFixed(0)} ms`);
const top = Number(topArg ?? 40);
console.log('-- inclusive'); for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((v / total) * 100).toFixed(1).padStart(5)}% ${k}`);
console.log('-- self'); for (const [k, v] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((v / total) * 100).toFixed(1).padStart(5)}% ${k}`);
