/**
 * The dib ramdisk starts the agent while udev still loads drivers (its unit has no default dependencies, so
 * Node's start and the kernel's RNG seeding overlap the rest of the boot). Whatever reports or looks for the
 * machine's devices (a lookup, inspection, virtual media) first waits until udev handled every device queued so
 * far. Best effort: a ramdisk without udevadm, or a settle timeout, goes on with what is there.
 */
import type { Log } from './log.js';
import type { ProgramRunner } from './exec.js';

export async function settleDevices(run: ProgramRunner, log: Log): Promise<void> {
  try {
    await run(['udevadm', 'settle', '--timeout=60'], { timeoutMs: 70_000 });
  } catch (e) {
    log.debug(`udevadm settle: ${(e as Error).message}`);
  }
}
