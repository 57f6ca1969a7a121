export type {
  Clock,
  KvOp,
  KvRange,
  KvSnapshot,
  KvStore,
  MessageChannel,
  MessageChannelSpec,
  PeerEvent,
  PeerId,
  RequestChannel,
  RequestChannelSpec,
  ShellPorts,
  Storage,
  Timer,
  Timers,
  Transport,
  WalLog,
} from './ports.js';
export { consensusTuning, createShell, type Shell, type ShellOptions } from './shell.js';
export { sleep, systemClock, systemTimers } from './system.js';
