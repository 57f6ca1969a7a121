/**
 * Bytes by allocating function in a sampling heap profile (`heap-sampling.mjs`): self and
 * inclusive, as shares of all sampled bytes. Usage: heap-summary.ts FILE.heapprofile [top]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children: ProfileNode[];
}
interface HeapProfile {
  head: ProfileNode;
  samples: { nodeId: number; size: number }[];
}

const [file, topArg] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: heap-summary.ts FILE.heapprofile [top]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as HeapProfile;
const top = Number(topArg ?? 30);
const bytesAt = new Map<number, number>();
for (const sample of profile.samples) {
  bytesAt.set(sample.nodeId, (bytesAt.get(sample.nodeId) ?? 0) + sample.size);
}
const name = (frame: CallFrame) =>
  `${frame.functionName || '(anonymous)'} ${frame.url.replace(/.*\/(packages|node_modules)\//, '')}:${frame.lineNumber}`;
const self = new Map<string, number>();
const inclusive = new Map<string, number>();
let total = 0;
function walk(node: ProfileNode, stack: readonly string[]): void {
  const here = bytesAt.get(node.id) ?? 0;
  const key = name(node.callFrame);
  total += here;
  self.set(key, (self.get(key) ?? 0) + here);
  const path = stack.includes(key) ? stack : [...stack, key];
  for (const frame of path) inclusive.set(frame, (inclusive.get(frame) ?? 0) + here);
  for (const child of node.children) walk(child, path);
}
walk(profile.head, []);
const print = (title: string, table: Map<string, number>) => {
  console.log(`\n${title}:`);
  for (const [key, bytes] of [...table].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${key}`);
  }
};
console.log(`total sampled ${(total / 1e6).toFixed(1)} MB`);
print('self bytes by function', self);
print('inclusive bytes by function', inclusive);
