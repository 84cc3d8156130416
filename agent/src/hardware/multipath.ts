/**
 * IPA's _enable_multipath, for ramdisks that carry multipath-tools (an
 * operator's element or package list; ramforge's own flavors do not): load
 * the device-mapper multipath modules, start multipathd, and run
 * `multipath -ll` so the paths are enumerated before the disks are listed.
 * A SAN LUN seen over several paths is then one `mpath` device, and its
 * paths are left out of the disks (inventory/disks.ts). Without multipathd
 * nothing runs: no modprobe for a ramdisk that could not use it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Log } from '../util/log.js';
import { isProgramMissing, type ProgramRunner } from '../util/exec.js';

export interface MultipathContext {
  run: ProgramRunner;
  log: Log;
  /** '/' in the ramdisk; where /usr/sbin/mpathconf and /etc/multipath.conf are looked for. */
  root: string;
  /** Whether a program is on PATH. */
  hasCommand(name: string): Promise<boolean>;
}

/** True when multipath is set up (IPA's MULTIPATH_ENABLED). */
export async function enableMultipath({ run, log, root, hasCommand }: MultipathContext): Promise<boolean> {
  if (!(await hasCommand('multipathd'))) return false;
  // Debian's packages need no configuration file (compiled-in defaults); RHEL's mpathconf writes one, as IPA runs it.
  if (existsSync(join(root, 'usr/sbin/mpathconf')) && !existsSync(join(root, 'etc/multipath.conf'))) {
    await run(['/usr/sbin/mpathconf', '--enable', '--find_multipaths', 'yes', '--with_module', 'y', '--with_multipathd', 'y']).catch(
      () => undefined,
    );
  } else {
    for (const m of ['dm_multipath', 'multipath']) await run(['modprobe', m], { timeoutMs: 30_000 }).catch(() => undefined);
  }
  // Exits at once (0, or an error about its pid file) when multipathd already runs: either way it runs then.
  await run(['multipathd'], { timeoutMs: 30_000 }).catch(() => undefined);
  try {
    await run(['multipath', '-ll'], { timeoutMs: 60_000 });
    return true;
  } catch (e) {
    log.warn(
      `multipath: ${isProgramMissing(e) ? 'multipathd is here but multipath is not' : (e as Error).message}; multipath devices are not set up`,
    );
    return false;
  }
}
