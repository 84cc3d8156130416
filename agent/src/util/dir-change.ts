/**
 * Waiting for a device to appear without paying for a full look each time.
 * The agent starts while the ramdisk still loads drivers (udev, or tinyipa's
 * rcS), and looks for its root disk (lsblk, a process: ~0.1 s of CPU under
 * emulation) and for a NIC (`ip -j addr` among other reads) between sleeps.
 * A new disk or NIC shows up in /sys/block or /sys/class/net first, and a
 * readdir there is nearly free, so the sleeps between looks end as soon as
 * the directory's entries change. Plain sleeps found a device up to a whole
 * retry interval late: in a dib boot under TCG, the disk 0.3 s and the NIC
 * 0.5 s after their drivers made them, both on the path to /v1/status.
 */
import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often a waiting caller reads the directory. */
export const DIR_POLL_MS = 50;

/** The entries of `dir`, sorted and joined; '' where it cannot be read (a fixture root without it). */
export async function dirEntries(dir: string): Promise<string> {
  return (await readdir(dir).catch(() => [] as string[])).sort().join(' ');
}

/** Sleeps `ms`, or less: until the entries of `dir` differ from `before` (dirEntries' form). */
export async function sleepUntilDirChanges(dir: string, before: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  for (let left = ms; left > 0; left = end - Date.now()) {
    await sleep(Math.min(DIR_POLL_MS, left));
    if ((await dirEntries(dir)) !== before) return;
  }
}
