import { isIP } from 'node:net';

const LOOPBACK_NAMES = new Set(['localhost', '::1', '[::1]']);

/** A host name or address only this machine reaches (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  if (LOOPBACK_NAMES.has(host.toLowerCase())) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host.startsWith('::ffff:127.');
}
