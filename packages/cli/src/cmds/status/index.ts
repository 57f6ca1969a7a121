import type { StatusJson } from '@medchain/client';
import type { Command } from 'commander';
import { clientOf, example, outputOf, withNode } from '../../util/common.js';
import { fields } from '../../util/output.js';

export function statusLines(s: StatusJson): string[] {
  return fields({
    chainId: s.chainId,
    height: String(s.height),
    lastBlockHash: s.lastBlockHash,
    stateRoot: s.stateRoot,
    view: String(s.view),
    validators: String(s.validators.length),
    peers: `${s.peers.length}${s.peers.length > 0 ? ` (${s.peers.join(', ')})` : ''}`,
    syncing: s.syncing ? 'yes' : 'no',
    mempool: `${s.mempoolSize} tx`,
  });
}

export function registerStatus(program: Command): void {
  example(
    withNode(
      program.command('status').description("a node's chain id, height, view, peers and mempool"),
    ),
    'medchain status --node http://127.0.0.1:7701',
  ).action(async (_options: unknown, cmd: Command) => {
    const status = await clientOf(cmd).status();
    outputOf(cmd).result(status, statusLines);
  });
}
