import type { Command } from 'commander';

export function registerDevnet(_program: Command): void {}
