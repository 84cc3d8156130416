/**
 * A lock around one private apt cache, so two builds sharing a cache don't
 * update lists or write the same .deb at the same time. apt's own locking is
 * off (Debug::NoLocking) because it also needs root; this lock does not.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuildError } from '../errors.js';

const POLL_MS = 200;

/** Run `fn` holding `<dir>/lock`; waits for another holder up to `timeoutMs`. */
export async function withCacheLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const lock = join(dir, 'lock');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(lock); // atomic: exactly one process creates it
      await writeFile(join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (await isStale(lock)) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new BuildError(`timed out waiting for the apt cache lock ${lock}`, {
          hint: 'another ramforge build is using this cache; wait for it, or remove the lock directory if no build is running',
        });
      }
      await sleep(POLL_MS);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

async function isStale(lock: string): Promise<boolean> {
  let pid: number;
  try {
    pid = Number(await readFile(join(lock, 'pid'), 'utf8'));
  } catch {
    return false; // being created right now; its pid file follows immediately
  }
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
