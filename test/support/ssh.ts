/**
 * Logging in to a booted ramdisk with a key, as the boot tests do: no agent,
 * no known_hosts (host keys are made at boot), one key only.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';

export interface SshLogin {
  port: number;
  /** The private key file. */
  key: string;
  user?: string;
}

/** ssh's options for a test login with one key to a guest on 127.0.0.1. */
function sshArgs(l: SshLogin, command: string): string[] {
  return [
    ...['-i', l.key, '-p', String(l.port), '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes'],
    ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=30', '-o', 'LogLevel=ERROR'],
    `${l.user ?? 'root'}@127.0.0.1`,
    command,
  ];
}

/** Run `command` once; the caller judges the result. */
export function sshOnce(l: SshLogin, command: string, timeoutMs = 90_000): SpawnSyncReturns<string> {
  return spawnSync('ssh', sshArgs(l, command), { encoding: 'utf8', timeout: timeoutMs });
}

/** A login with no key at all (`-i /dev/null`, nothing else offered): the boot tests expect it refused. */
export function sshWithoutKey(port: number, user = 'root'): SpawnSyncReturns<string> {
  return sshOnce({ port, key: '/dev/null', user }, 'true', 60_000);
}

/** Run `command` until it succeeds (sshd may still be starting or making its host key); its stdout. */
export async function sshUntil(l: SshLogin, command: string, o: { timeoutMs: number; pauseMs?: number }): Promise<string> {
  const deadline = Date.now() + o.timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = sshOnce(l, command);
    if (r.status === 0) return r.stdout;
    last = `exit ${r.status}: ${r.stderr}`;
    await new Promise((res) => setTimeout(res, o.pauseMs ?? 2000));
  }
  throw new Error(`ssh never succeeded: ${last}`);
}
