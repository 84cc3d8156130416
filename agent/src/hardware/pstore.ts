/**
 * erase_pstore (IPA's GenericHardwareManager.erase_pstore): remove the kernel
 * crash records in pstore; they can carry the previous tenant's data.
 *
 * IPA only looks at a pstore already mounted and logs "No pstore found"
 * otherwise. No ramdisk here mounts it for the agent: tinyipa's rcS never
 * mounts pstore, and dib masks modprobe@efi_pstore.service, so the EFI
 * records (the usual backend on servers) are not loaded there. So the step
 * loads efi_pstore (a failure is ignored: the backend may be built in or
 * absent), mounts pstore on /sys/fs/pstore when /proc/mounts lists none, then
 * removes every entry. Its result says what was removed, or that no pstore
 * could be mounted and nothing was looked at.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProgramRunner } from '../util/exec.js';
import { parseProcMounts } from '../util/proc-mounts.js';
import type { Log } from '../util/log.js';

/** Mount points of pstore filesystems in /proc/mounts text (octal escapes such as \040 decoded). */
export function findPstoreMounts(procMounts: string): string[] {
  return parseProcMounts(procMounts)
    .filter((m) => m.fsType === 'pstore')
    .map((m) => m.mountPoint);
}

/** How many removed names the result lists before "...". */
const NAMES_SHOWN = 10;

/** `root`: the host root (config.rootPath; a fixture tree in unit tests): /proc/mounts and the mount point are read under it. */
export async function erasePstore(root: string, run: ProgramRunner, log?: Log): Promise<string> {
  // Loaded for this step only: left loaded, any later oops in the ramdisk would be written to EFI variables.
  const loadedBefore = /^efi_pstore /m.test(await readFile(join(root, 'proc/modules'), 'utf8').catch(() => ''));
  const loaded = await run(['modprobe', 'efi_pstore']).then(
    () => true,
    (e: Error) => {
      log?.info(`erase_pstore: modprobe efi_pstore: ${e.message} (going on)`);
      return false;
    },
  );
  // A UEFI boot whose efi_pstore is neither loaded now nor built in: the records kept in EFI variables (the usual
  // backend on servers) were not looked at, which the result must say rather than report an empty pstore as a
  // clean one. (A BIOS boot has no EFI variables.)
  const exists = (p: string): Promise<boolean> =>
    stat(join(root, p)).then(
      () => true,
      () => false,
    );
  const noEfiBackend = !loaded && (await exists('sys/firmware/efi')) && !(await exists('sys/module/efi_pstore'));
  try {
    const how = await eraseMounted(root, run, log);
    return noEfiBackend ? `${how}; efi_pstore could not be loaded, so crash records kept in EFI variables were not looked at` : how;
  } finally {
    if (loaded && !loadedBefore) await run(['modprobe', '-r', 'efi_pstore']).catch(() => undefined);
  }
}

async function eraseMounted(root: string, run: ProgramRunner, log?: Log): Promise<string> {
  const mounts = findPstoreMounts(await readFile(join(root, 'proc/mounts'), 'utf8').catch(() => ''));
  let mountPoint = mounts[0];
  if (mountPoint === undefined) {
    mountPoint = '/sys/fs/pstore';
    try {
      await run(['mount', '-t', 'pstore', 'pstore', join(root, mountPoint)]);
    } catch (e) {
      const why = `No pstore found: none mounted and mount -t pstore on ${mountPoint} failed (${(e as Error).message}); nothing was erased`;
      log?.info(`erase_pstore: ${why}`);
      return why;
    }
  }
  const dir = join(root, mountPoint);
  const entries = (await readdir(dir)).sort();
  for (const e of entries) await rm(join(dir, e), { force: true, recursive: true });
  const shown = entries.slice(0, NAMES_SHOWN).join(', ') + (entries.length > NAMES_SHOWN ? ', ...' : '');
  const how = entries.length
    ? `removed ${entries.length} ${entries.length === 1 ? 'entry' : 'entries'} from ${mountPoint} (${shown})`
    : `${mountPoint} held no entries`;
  log?.info(`erase_pstore: ${how}`);
  return how;
}
