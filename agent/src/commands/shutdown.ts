/**
 * Powering the node off or rebooting it at the end of a flow
 * (standby.power_off, standby.run_image): sync, then `poweroff -f` /
 * `reboot -f`. -f because the ramdisk has no service manager worth stopping
 * and a hung shutdown would leave the node half alive.
 *
 * Where that program is missing (the coreos flavor's agent runs chrooted in
 * its container, which has no init system and so no poweroff), fails, or
 * declines (systemd's says "Running in chroot, ignoring request."), the
 * kernel's /proc/sysrq-trigger does it ('o' off, 'b' reboot), as IPA's
 * _run_shutdown_command falls back to it. The trigger file obeys root
 * regardless of the kernel.sysrq mask. A sync that fails is only a warning
 * (IPA's full_sync is too): the node goes down either way.
 * Everything goes through `run`, so tests record it instead of shutting
 * down.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecError, type ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';

export type ShutdownAction = 'poweroff' | 'reboot';

export async function shutdownHost(run: ProgramRunner, log: Log, action: ShutdownAction, pauseMs = 500): Promise<null> {
  log.info(`${action === 'poweroff' ? 'powering off' : 'rebooting'} the node`);
  // busybox and util-linux both have sync(1).
  await run(['sync'], { timeoutMs: 120_000 }).catch((e: unknown) =>
    log.warn(`sync before ${action} failed (${e instanceof Error ? e.message : String(e)}): going on`),
  );
  // Lets the RUNNING answer reach the conductor.
  await sleep(pauseMs);
  let why: string;
  try {
    const r = await run([action, '-f']);
    if (!/ignoring request/i.test(`${r.stdout}\n${r.stderr}`)) return null;
    why = `${action} -f declined: ${r.stderr.trim() || r.stdout.trim()}`;
  } catch (e) {
    why =
      e instanceof ExecError && e.code === null
        ? `${action} is not available here (${e.stderr.trim() || e.message})`
        : `${action} -f failed (${e instanceof Error ? e.message : String(e)})`;
  }
  log.warn(`${why}: using /proc/sysrq-trigger`);
  await run(['tee', '/proc/sysrq-trigger'], { input: action === 'poweroff' ? 'o' : 'b' });
  return null;
}
