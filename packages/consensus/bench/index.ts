/**
 * `pnpm bench:consensus`: the core alone, n validators in one process, normal case (no
 * faults): how many messages per second one core steps, and the heights per second the whole
 * in-process cluster reaches. Delivery is a plain FIFO array, so nearly all the time is the
 * cores' (parsing, hashing, verifying, counting, signing). Rates are per second of this
 * process's CPU time (process.cpuUsage), so other load on the machine barely moves them.
 */
import { loadavg } from 'node:os';
import { Signer, sha256, utf8, verify } from '@medchain/crypto';
import {
  ConsensusCore,
  type ConsensusMessage,
  type ConsensusSigner,
  type SignatureVerifier,
} from '../src/index.js';
import { proposalOf, SimState, simApplication } from '../test/sim/app.js';
import { simKeys } from '../test/sim/keys.js';

interface Keys {
  readonly signers: ConsensusSigner[];
  readonly verifier: SignatureVerifier;
}

function ed25519Keys(n: number): Keys {
  const signers = [...Array(n).keys()].map((i) => new Signer(sha256(utf8(`bench-${i}`))));
  return { signers, verifier: { verify } };
}

function run(n: number, heights: number, keys: Keys): { steps: number; cpuMs: number } {
  const application = simApplication(n);
  const validators = keys.signers.map((s) => s.publicKey);
  const cores = keys.signers.map(
    (signer) =>
      new ConsensusCore({
        chainId: 'bench',
        signer,
        verifier: keys.verifier,
        application,
        genesisValidators: validators,
        checkpointInterval: 10,
      }),
  );
  const states = cores.map(() => new SimState());
  const queue: { to: number; message: ConsensusMessage }[] = [];
  let nonce = 0;
  const drain = (i: number): void => {
    const core = cores[i]!;
    while (core.hasReady()) {
      const ready = core.ready();
      for (const out of ready.messages) {
        for (let to = 0; to < n; to++) if (to !== i) queue.push({ to, message: out.message });
      }
      for (const block of ready.committed) {
        core.applied(
          block.height,
          states[i]!.apply(block.height, block.proposal.payload, (v) => validators[v]!),
        );
      }
      if (ready.proposalRequest !== null) {
        core.propose(
          proposalOf({ height: ready.proposalRequest.height, proposer: i, nonce: nonce++ }),
        );
      }
      core.advance();
    }
  };
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < n; i++) drain(i);
  let steps = 0;
  for (let head = 0; head < queue.length && cores[0]!.currentHeight <= heights; head++) {
    const { to, message } = queue[head]!;
    cores[to]!.step(message);
    steps++;
    drain(to);
    if (head > 100_000) {
      queue.splice(0, head + 1);
      head = -1;
    }
  }
  const cpu = process.cpuUsage(cpuStart);
  if (cores[0]!.currentHeight <= heights) throw new Error('bench: cluster stalled');
  return { steps, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function report(label: string, n: number, heights: number, keys: Keys): void {
  run(n, Math.max(2, Math.floor(heights / 10)), keys); // warm up
  const { steps, cpuMs } = run(n, heights, keys);
  const perSecond = (count: number) => Math.round((count * 1000) / cpuMs).toLocaleString('en-US');
  console.log(
    `${label.padEnd(22)} n=${String(n).padEnd(3)} ${perSecond(steps).padStart(9)} msgs stepped/s   ${perSecond(heights).padStart(6)} heights/s (cluster of ${n} in 1 process)   ${Math.round((cpuMs * 1000) / steps)} µs/msg`,
  );
}

console.log(`consensus core, normal case; load average ${loadavg()[0]!.toFixed(1)}`);
report('sim signatures', 4, 2_000, simKeys(4));
report('sim signatures', 16, 200, simKeys(16));
report('Ed25519 (node:crypto)', 4, 300, ed25519Keys(4));
report('Ed25519 (node:crypto)', 16, 20, ed25519Keys(16));
