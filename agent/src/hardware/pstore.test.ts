import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecOptions, ProgramRunner } from '../util/exec.js';
import { createDefaultConfig } from '../config.js';
import { createState } from '../state.js';
import { createMemoryLog } from '../../test/support/logs.js';
import { GenericHardwareManager } from './generic.js';
import { loadHardwareManagers } from './plugins.js';
import { erasePstore, findPstoreMounts } from './pstore.js';
import type { Node } from './types.js';

const PROC_MOUNTS = 'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw,relatime 0 0\n';
const WITH_PSTORE = `${PROC_MOUNTS}pstore /sys/fs/pstore pstore rw,nosuid,nodev,noexec,relatime 0 0\n`;

/** A host root with /proc/mounts and an empty /sys/fs/pstore. */
function fakeRoot(t: { after: (fn: () => void) => void }, procMounts: string): { root: string; pstore: string } {
  const root = mkdtempSync(join(tmpdir(), 'pstore-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'proc'));
  writeFileSync(join(root, 'proc/mounts'), procMounts);
  const pstore = join(root, 'sys/fs/pstore');
  mkdirSync(pstore, { recursive: true });
  return { root, pstore };
}

const addRecords = (dir: string, names: string[]): void => {
  for (const n of names) writeFileSync(join(dir, n), 'Oops: a previous tenant\n');
};

/** Records every call; `answers` maps the program to what it does (throw to fail). */
function fakeRunner(answers: Record<string, (argv: string[]) => void> = {}): ProgramRunner & { calls: string[] } {
  const calls: string[] = [];
  const fn = (async (argv: string[], _o?: ExecOptions) => {
    calls.push(argv.join(' '));
    answers[argv[0]!]?.(argv);
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner & { calls: string[] };
  fn.calls = calls;
  return fn;
}

test('findPstoreMounts: pstore mount points from /proc/mounts, escapes decoded', () => {
  assert.deepEqual(findPstoreMounts(PROC_MOUNTS), []);
  assert.deepEqual(findPstoreMounts(WITH_PSTORE), ['/sys/fs/pstore']);
  assert.deepEqual(findPstoreMounts('pstore /mnt/crash\\040log pstore rw 0 0\n'), ['/mnt/crash log']);
  assert.deepEqual(findPstoreMounts(''), []);
});

test('erase_pstore: not mounted (tinyipa): efi_pstore loaded, pstore mounted, its entries removed and named', async (t) => {
  const { root, pstore } = fakeRoot(t, PROC_MOUNTS);
  // The mount makes the records visible (the kernel's pstore fs over the EFI backend).
  const run = fakeRunner({ mount: () => addRecords(pstore, ['dmesg-efi-2', 'dmesg-efi-1']) });
  const log = createMemoryLog();
  const r = await erasePstore(root, run, log);
  assert.equal(r, 'removed 2 entries from /sys/fs/pstore (dmesg-efi-1, dmesg-efi-2)');
  // efi_pstore was not loaded before the step (no proc/modules line): unloaded again after it.
  assert.deepEqual(run.calls, ['modprobe efi_pstore', `mount -t pstore pstore ${pstore}`, 'modprobe -r efi_pstore']);
  assert.deepEqual(readdirSync(pstore), []);
  assert.ok(
    log.lines.some((l) => l.includes(r)),
    log.lines.join('\n'),
  );
});

test('erase_pstore: already mounted (dib: systemd mounts it): no mount; a failing modprobe is ignored; many names shortened', async (t) => {
  const { root, pstore } = fakeRoot(t, WITH_PSTORE);
  const names = Array.from({ length: 12 }, (_, i) => `dmesg-ramoops-${String(i).padStart(2, '0')}`);
  addRecords(pstore, names);
  const run = fakeRunner({
    modprobe: () => {
      throw new Error('modprobe: FATAL: Module efi_pstore not found');
    },
  });
  // The EFI backend built in (/sys/module/efi_pstore): the failing modprobe says nothing about the records.
  mkdirSync(join(root, 'sys/module/efi_pstore'), { recursive: true });
  const r = await erasePstore(root, run);
  assert.equal(r, `removed 12 entries from /sys/fs/pstore (${names.slice(0, 10).join(', ')}, ...)`);
  assert.deepEqual(run.calls, ['modprobe efi_pstore']);
  assert.deepEqual(readdirSync(pstore), []);
  // Mounted and empty: said so.
  assert.equal(await erasePstore(root, run), '/sys/fs/pstore held no entries');
  // Neither loadable nor built in: on a BIOS boot there are no EFI records; on a UEFI one they were not looked at,
  // and the result says so.
  rmSync(join(root, 'sys/module/efi_pstore'), { recursive: true });
  assert.equal(await erasePstore(root, run), '/sys/fs/pstore held no entries');
  mkdirSync(join(root, 'sys/firmware/efi'), { recursive: true });
  assert.equal(
    await erasePstore(root, run),
    '/sys/fs/pstore held no entries; efi_pstore could not be loaded, so crash records kept in EFI variables were not looked at',
  );
});

test('erase_pstore: pstore cannot be mounted: "No pstore found", nothing claimed and nothing touched', async (t) => {
  const { root, pstore } = fakeRoot(t, PROC_MOUNTS);
  addRecords(pstore, ['not-pstore']); // whatever lies in the unmounted directory is not looked at
  const run = fakeRunner({
    mount: () => {
      throw new Error('mount: unknown filesystem type pstore');
    },
  });
  const r = await erasePstore(root, run);
  assert.equal(
    r,
    'No pstore found: none mounted and mount -t pstore on /sys/fs/pstore failed (mount: unknown filesystem type pstore); nothing was erased',
  );
  assert.deepEqual(readdirSync(pstore), ['not-pstore']);
});

test('erase_pstore step: the generic manager works under config.rootPath with its runner and returns the result', async (t) => {
  const { root, pstore } = fakeRoot(t, WITH_PSTORE);
  addRecords(pstore, ['dmesg-efi-1']);
  const run = fakeRunner();
  const config = { ...createDefaultConfig(), rootPath: root, diskWaitAttempts: 1 };
  const managers = await loadHardwareManagers(config, {
    state: createState(config, 'v'),
    log: createMemoryLog(),
    run,
    builtins: (ctx) => [new GenericHardwareManager(ctx)],
  });
  const r = await managers.dispatchToManagers('erase_pstore', { uuid: 'n' } as unknown as Node, [], {});
  assert.equal(r, 'removed 1 entry from /sys/fs/pstore (dmesg-efi-1)');
  assert.deepEqual(run.calls, ['modprobe efi_pstore', 'modprobe -r efi_pstore']);
  // Loaded before the step: left loaded.
  writeFileSync(join(root, 'proc/modules'), 'efi_pstore 16384 0 - Live 0x0000000000000000\n');
  run.calls.length = 0;
  await managers.dispatchToManagers('erase_pstore', { uuid: 'n' } as unknown as Node, [], {});
  assert.deepEqual(run.calls, ['modprobe efi_pstore']);
});
