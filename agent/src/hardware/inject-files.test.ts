/**
 * inject_files through the generic manager with a scripted runner: `lsblk`
 * lists the install disk's partitions, `mount SRC DIR` puts a symlink to SRC's
 * backing directory where DIR was, `umount DIR` puts the empty directory back.
 * The effects are read from the backing directories afterwards.
 */
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  rmdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeConfig, postCommand, createTestAgent } from '../../test/helpers.js';
import { createMemoryLog } from '../../test/support/logs.js';
import { createState } from '../state.js';
import { ExecError, type ProgramRunner } from '../util/exec.js';
import { GenericHardwareManager } from './generic.js';
import { formatContentUrl, validateFiles } from './inject-files.js';
import type { HardwareManagerRegistry } from './manager.js';
import { loadHardwareManagers } from './plugins.js';
import type { Node, Step } from './types.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const LVM = 'e6d6d379-f507-44c2-a23c-238f2a3df928';

interface FakeDisk {
  run: ProgramRunner;
  calls: string[][];
  /** Backing directory per mount source. */
  stores: Record<string, string>;
  mounted: Set<string>;
}

/** /dev/sda: 1 ESP (EFI/), 2 root (etc/motd, etc/ssl -> an outside directory), 3 LVM PV, 4 swap (mount fails). */
function fakeDisk(base: string): FakeDisk {
  const stores: Record<string, string> = {};
  for (const p of ['sda1', 'sda2', 'sda3']) mkdirSync((stores[`/dev/${p}`] = join(base, p)), { recursive: true });
  stores['LABEL=ESP'] = stores['/dev/sda1']!;
  mkdirSync(join(stores['/dev/sda1']!, 'EFI'));
  mkdirSync(join(stores['/dev/sda2']!, 'etc'));
  writeFileSync(join(stores['/dev/sda2']!, 'etc/motd'), 'old motd\n');
  mkdirSync(join(stores['/dev/sda3']!, 'etc'));
  const calls: string[][] = [];
  const mounted = new Set<string>();
  const run: ProgramRunner = async (argv) => {
    calls.push(argv);
    const [cmd, a, b] = argv;
    const ok = (stdout = '') => ({ stdout, stderr: '', code: 0 });
    if (cmd === 'lsblk' && argv.at(-1) === '/dev/sda') {
      return ok(
        `/dev/sda disk \n/dev/sda1 part c12a7328-f81f-11d2-ba4b-00a0c93ec93b\n/dev/sda2 part 0fc63daf-8483-4772-8e79-3d69d8477de4\n/dev/sda3 part ${LVM}\n/dev/sda4 part 0657fd6d-a4ab-43c4-84e5-0933c84b4f4f\n`,
      );
    }
    if (cmd === 'mount' && a && b) {
      const store = stores[a];
      if (!store) throw new ExecError(argv, 32, '', `mount: ${b}: wrong fs type, bad option, bad superblock on ${a}`);
      rmdirSync(b);
      symlinkSync(store, b);
      mounted.add(b);
      return ok();
    }
    if (cmd === 'umount' && a) {
      if (!mounted.delete(a)) throw new ExecError(argv, 32, '', `umount: ${a}: not mounted`);
      unlinkSync(a);
      mkdirSync(a);
      return ok();
    }
    throw new Error(`unexpected command ${argv.join(' ')}`);
  };
  return { run, calls, stores, mounted };
}

/** The generic manager, with a manager ahead of it answering get_os_install_device (/dev/sda). */
async function managersFor(
  run: ProgramRunner,
  over = {},
): Promise<{ managers: HardwareManagerRegistry; log: ReturnType<typeof createMemoryLog> }> {
  const root = mkdtempSync(join(tmpdir(), 'rf-inject-root-'));
  const config = makeConfig({ rootPath: root, diskWaitAttempts: 1, hardwareManagersDir: join(root, 'none'), ...over });
  const log = createMemoryLog();
  const disk = { name: 'disk', evaluate_hardware_support: () => 2, get_os_install_device: () => '/dev/sda' };
  const managers = await loadHardwareManagers(config, {
    state: createState(config, 'v'),
    log,
    run,
    builtins: (ctx) => [new GenericHardwareManager(ctx), disk],
  });
  rmSync(root, { recursive: true, force: true });
  return { managers, log };
}

const mode = (p: string): number => statSync(p).mode & 0o7777;
/** An agent error whose details match `re` (assert.throws with a RegExp only looks at the message). */
const details =
  (re: RegExp) =>
  (e: unknown): boolean =>
    re.test((e as { details?: string }).details ?? '');

describe('inject_files', () => {
  let base: string;
  let disk: FakeDisk;
  let outside: string;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'rf-inject-'));
    disk = fakeDisk(base);
    outside = join(base, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, join(disk.stores['/dev/sda2']!, 'etc/ssl'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('writes, deletes and places files by partition number, mount source or search; the property first', async () => {
    const { managers, log } = await managersFor(disk.run);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const node: Node = {
      uuid: 'n1',
      properties: {
        inject_files: [{ path: '/etc/sysctl.d/90-site.conf', content: b64('vm.swappiness = 1\n'), mode: 0o640, dirmode: 0o750 }],
      },
    };
    const files = [
      { path: '/etc/motd', deleted: true },
      { path: '/etc/hostname', content: b64('node-1\n'), owner: uid, group: gid, mode: 0o600 },
      { path: '/loader.conf', partition: 1, content: b64('timeout 3\n') },
      { path: '/EFI/site/boot.txt', partition: 'LABEL=ESP', content: b64('esp\n') },
      { path: '/etc/sysctl.d/90-site.conf', content: b64('vm.swappiness = 2\n') },
    ];
    const r = await managers.dispatchToManagers('inject_files', node, [], { files, verify_ca: true });
    assert.equal(r, null);
    const root = disk.stores['/dev/sda2']!;
    const esp = disk.stores['/dev/sda1']!;
    // The later entry (args) overwrote the property's; the first one created the directory with dirmode and the file with mode.
    assert.equal(readFileSync(join(root, 'etc/sysctl.d/90-site.conf'), 'utf8'), 'vm.swappiness = 2\n');
    assert.equal(mode(join(root, 'etc/sysctl.d')), 0o750);
    assert.equal(mode(join(root, 'etc/sysctl.d/90-site.conf')), 0o640);
    assert.equal(existsSync(join(root, 'etc/motd')), false);
    assert.equal(readFileSync(join(root, 'etc/hostname'), 'utf8'), 'node-1\n');
    assert.equal(mode(join(root, 'etc/hostname')), 0o600);
    assert.equal(statSync(join(root, 'etc/hostname')).uid, uid);
    assert.equal(readFileSync(join(esp, 'loader.conf'), 'utf8'), 'timeout 3\n');
    assert.equal(readFileSync(join(esp, 'EFI/site/boot.txt'), 'utf8'), 'esp\n');
    assert.equal(existsSync(join(disk.stores['/dev/sda3']!, 'etc/hostname')), false, 'nothing on the LVM partition');
    // The search mounted the ESP (no etc/) before the root, never the LVM PV; every mount was undone and its directory removed.
    const mounts = disk.calls.filter((c) => c[0] === 'mount');
    assert.deepEqual(
      mounts.map((c) => c[1]),
      ['/dev/sda1', '/dev/sda2', '/dev/sda1', '/dev/sda2', '/dev/sda1', '/dev/sda2', '/dev/sda1', 'LABEL=ESP', '/dev/sda1', '/dev/sda2'],
    );
    assert.equal(disk.mounted.size, 0);
    for (const c of mounts) assert.equal(existsSync(c[2]!), false, `${c[2]} removed`);
    assert.ok(
      log.lines.some((l) => l.includes('/etc found on partition /dev/sda2')),
      log.lines.join('\n'),
    );
  });

  it('deleted: a file under a directory that does not exist is nothing to delete (the same name higher up stays)', async () => {
    const { managers, log } = await managersFor(disk.run);
    const root = disk.stores['/dev/sda2']!;
    writeFileSync(join(root, 'etc/keep.conf'), 'keep\n');
    mkdirSync(join(root, 'etc/app'), { recursive: true });
    writeFileSync(join(root, 'etc/app/keep.conf'), 'keep too\n');
    const r = await managers.dispatchToManagers('inject_files', {}, [], {
      files: [
        { path: '/etc/no-such-dir/keep.conf', deleted: true },
        { path: '/etc/app/gone/deeper/keep.conf', partition: 2, deleted: true },
      ],
    });
    assert.equal(r, null);
    assert.equal(readFileSync(join(root, 'etc/keep.conf'), 'utf8'), 'keep\n');
    assert.equal(readFileSync(join(root, 'etc/app/keep.conf'), 'utf8'), 'keep too\n');
    assert.ok(
      log.lines.some((l) => l.includes('/etc/no-such-dir/keep.conf does not exist')),
      log.lines.join('\n'),
    );
    assert.equal(disk.mounted.size, 0);
  });

  it('mode keeps its setuid/setgid bits when owner and group are given too (chown clears them)', async () => {
    const { managers } = await managersFor(disk.run);
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    await managers.dispatchToManagers('inject_files', {}, [], {
      files: [
        { path: '/etc/helper', content: b64('#!/bin/sh\n'), mode: 0o4755, owner: uid, group: gid },
        { path: '/etc/shared', content: b64('x'), mode: 0o2775, group: gid },
      ],
    });
    const root = disk.stores['/dev/sda2']!;
    assert.equal(mode(join(root, 'etc/helper')), 0o4755);
    assert.equal(statSync(join(root, 'etc/helper')).uid, uid);
    assert.equal(mode(join(root, 'etc/shared')), 0o2775);
  });

  it('a symlink whose target does not exist yet is written through, as open() creates the target', async () => {
    const { managers } = await managersFor(disk.run);
    const root = disk.stores['/dev/sda2']!;
    mkdirSync(join(root, 'etc/app.conf.d'));
    symlinkSync('app.conf.d/real.conf', join(root, 'etc/app.conf'));
    symlinkSync('no-such-dir/real.conf', join(root, 'etc/broken.conf'));
    await managers.dispatchToManagers('inject_files', {}, [], {
      files: [{ path: '/etc/app.conf', content: b64('through\n'), mode: 0o640 }],
    });
    assert.equal(readFileSync(join(root, 'etc/app.conf.d/real.conf'), 'utf8'), 'through\n');
    assert.equal(mode(join(root, 'etc/app.conf.d/real.conf')), 0o640);
    assert.equal(lstatSync(join(root, 'etc/app.conf')).isSymbolicLink(), true);
    // The target's directory is missing: the step fails (IPA's open() gets ENOENT) and nothing is written anywhere.
    const before = readdirSync(join(root, 'etc')).sort();
    await assert.rejects(
      managers.dispatchToManagers('inject_files', {}, [], { files: [{ path: '/etc/broken.conf', content: b64('x') }] }),
      (e: Error & { details?: string }) => e.name === 'CommandExecutionError' && /broken\.conf/.test(e.details ?? ''),
    );
    assert.deepEqual(readdirSync(join(root, 'etc')).sort(), before);
    assert.equal(disk.mounted.size, 0);
  });

  it('a path found on no partition fails with DeviceNotFound naming what was scanned; a failing mount is skipped', async () => {
    const { managers, log } = await managersFor(disk.run);
    await assert.rejects(
      managers.dispatchToManagers('inject_files', {}, [], { files: [{ path: '/srv/data/x', content: '' }] }),
      (e: Error & { details?: string }) =>
        e.name === 'DeviceNotFound' &&
        /No partition found with path \/srv .*scanned: \/dev\/sda1, \/dev\/sda2, \/dev\/sda4/.test(e.details ?? ''),
    );
    assert.ok(log.lines.some((l) => l.startsWith('WARNING') && l.includes('/dev/sda4')));
    assert.equal(disk.mounted.size, 0);
  });

  it('refuses to follow a symlink out of the mounted filesystem', async () => {
    const { managers } = await managersFor(disk.run);
    await assert.rejects(
      managers.dispatchToManagers('inject_files', {}, [], { files: [{ path: '/etc/ssl/certs/site.pem', content: b64('x') }] }),
      (e: Error & { details?: string }) => e.name === 'CommandExecutionError' && /leads outside the filesystem/.test(e.details ?? ''),
    );
    assert.deepEqual(readdirSync(outside), []);
    assert.equal(disk.mounted.size, 0);
  });

  it('downloads URL content with {node[...]} and {ports[N][...]} filled in', async () => {
    const seen: string[] = [];
    const srv = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end(`served ${req.url}`);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as AddressInfo).port;
      const { managers } = await managersFor(disk.run);
      const url = `http://127.0.0.1:${port}/cfg/{node[uuid]}/{ports[0][address]}?x={{y}}`;
      await managers.dispatchToManagers('inject_files', { uuid: 'n-7' }, [{ address: '52:54:00:aa:bb:cc' }], {
        files: [{ path: '/etc/site.cfg', content: url }],
      });
      assert.deepEqual(seen, ['/cfg/n-7/52:54:00:aa:bb:cc?x={y}']);
      assert.equal(readFileSync(join(disk.stores['/dev/sda2']!, 'etc/site.cfg'), 'utf8'), 'served /cfg/n-7/52:54:00:aa:bb:cc?x={y}');
    } finally {
      srv.close();
    }
  });

  it('a content URL naming a missing field fails before anything is mounted or written', async () => {
    const { managers } = await managersFor(disk.run);
    const before = disk.calls.length;
    await assert.rejects(
      managers.dispatchToManagers('inject_files', { uuid: 'n' }, [], {
        files: [
          { path: '/etc/first.conf', content: b64('first') },
          { path: '/etc/second.conf', content: 'http://127.0.0.1:1/{node[properties][missing]}' },
        ],
      }),
      (e: Error & { details?: string }) =>
        e.name === 'InvalidCommandParamsError' && /\{node\[properties\]\[missing\]\}/.test(e.details ?? ''),
    );
    assert.equal(disk.calls.length, before);
    assert.equal(existsSync(join(disk.stores['/dev/sda2']!, 'etc/first.conf')), false);
  });

  it('an unmount that fails is a warning, as in IPA: the file is written and the step succeeds', async () => {
    // umount answers "target is busy" and leaves the mount in place.
    const busy: string[] = [];
    const run: ProgramRunner = async (argv) => {
      if (argv[0] === 'umount' && argv[1]) {
        disk.calls.push(argv);
        busy.push(argv[1]);
        throw new ExecError(argv, 32, '', `umount: ${argv[1]}: target is busy.`);
      }
      return disk.run(argv);
    };
    const { managers, log } = await managersFor(run);
    try {
      const r = await managers.dispatchToManagers('inject_files', {}, [], {
        files: [
          { path: '/etc/busy.conf', content: b64('searched\n') },
          { path: '/busy.txt', partition: 1, content: b64('by number\n') },
        ],
      });
      assert.equal(r, null);
      assert.equal(readFileSync(join(disk.stores['/dev/sda2']!, 'etc/busy.conf'), 'utf8'), 'searched\n');
      assert.equal(readFileSync(join(disk.stores['/dev/sda1']!, 'busy.txt'), 'utf8'), 'by number\n');
      // The search's look at the ESP (no etc/), the root where the file went, then partition 1: three mounts, none undone.
      assert.equal(busy.length, 3);
      const warnings = log.lines.filter((l) => l.startsWith('WARNING') && l.includes('unable to unmount temporary location'));
      assert.equal(warnings.length, 3, log.lines.join('\n'));
      for (const [i, dir] of busy.entries()) {
        assert.ok(warnings[i]!.includes(dir) && warnings[i]!.includes('target is busy'), warnings[i]);
        // A location still mounted is not removed from under the mount.
        assert.equal(existsSync(dir), true, `${dir} left in place`);
      }
    } finally {
      for (const dir of busy) {
        disk.mounted.delete(dir);
        unlinkSync(dir);
      }
    }
  });

  it('no files at all: nothing is mounted', async () => {
    const { managers } = await managersFor(disk.run);
    const before = disk.calls.length;
    assert.equal(await managers.dispatchToManagers('inject_files', { properties: {} }, [], {}), null);
    assert.equal(disk.calls.length, before);
  });
});

describe('inject_files partition search order', () => {
  it('looks at the partitions in partition-number order, whatever order lsblk lists them in (IPA: parted)', async () => {
    const base = mkdtempSync(join(tmpdir(), 'rf-inject-order-'));
    try {
      const stores: Record<string, string> = {};
      for (const p of ['sda1', 'sda2', 'sda3', 'sda10']) mkdirSync((stores[`/dev/${p}`] = join(base, p)), { recursive: true });
      // Two roots (A/B): partitions 2 and 10 both hold etc/; the first by number is the one IPA writes to.
      for (const p of ['sda2', 'sda10']) mkdirSync(join(stores[`/dev/${p}`]!, 'etc'));
      const mounted = new Set<string>();
      const run: ProgramRunner = async (argv) => {
        const [cmd, a, b] = argv;
        const ok = { stdout: '', stderr: '', code: 0 };
        // lsblk's list output follows sysfs, not the partition table (seen: p2, p3, p1).
        if (cmd === 'lsblk')
          return { ...ok, stdout: '/dev/sda disk \n/dev/sda10 part x\n/dev/sda3 part x\n/dev/sda2 part x\n/dev/sda1 part x\n' };
        if (cmd === 'mount' && a && b) {
          rmdirSync(b);
          symlinkSync(stores[a]!, b);
          mounted.add(b);
          return ok;
        }
        if (cmd === 'umount' && a) {
          mounted.delete(a);
          unlinkSync(a);
          mkdirSync(a);
          return ok;
        }
        throw new Error(`unexpected command ${argv.join(' ')}`);
      };
      const { managers } = await managersFor(run);
      await managers.dispatchToManagers('inject_files', {}, [], { files: [{ path: '/etc/site.conf', content: b64('a\n') }] });
      assert.equal(readFileSync(join(stores['/dev/sda2']!, 'etc/site.conf'), 'utf8'), 'a\n');
      assert.equal(existsSync(join(stores['/dev/sda10']!, 'etc/site.conf')), false, 'not on the other root');
      assert.equal(mounted.size, 0);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('inject_files validation', () => {
  it('names every bad entry and field at once (InvalidCommandParamsError)', () => {
    assert.throws(
      () =>
        validateFiles(
          [{ path: '/etc/a', content: b64('a'), colour: 'red' }],
          [
            { content: b64('x') },
            { path: 'etc/rel', content: '' },
            { path: '/top', content: '' },
            { path: '/etc/dir/', content: '' },
            { path: '/etc/../../x', content: '' },
            { path: '/etc/b', content: b64('b'), deleted: true },
            { path: '/etc/c' },
            { path: '/etc/d', content: 'not base64!' },
            { path: '/etc/e', content: '', mode: '0644' },
            { path: '/etc/f', content: '', owner: true, group: 1.5, dirmode: 0o10000 },
            { path: '/etc/g', content: '', partition: '--bind' },
            { path: '/etc/h', content: '', partition: 2.5 },
            { path: '/etc/i', content: 'ftp://host/x' },
            'just a string',
          ],
        ),
      (e: Error & { details?: string }) => {
        const d = e.details ?? '';
        assert.equal(e.name, 'InvalidCommandParamsError');
        for (const re of [
          /files\[0\].*unexpected fields colour/,
          /files\[1\].*path is required/,
          /files\[2\].*path must be absolute/,
          /files\[3\].*root directory requires "partition"/,
          /files\[4\].*only files are supported/,
          /files\[5\].*must not contain "\.\."/,
          /files\[6\].*content cannot be used with deleted/,
          /files\[7\].*content is required unless deleted/,
          /files\[8\].*content is not valid base64/,
          /files\[9\].*mode must be a number/,
          /files\[10\].*owner must be a number/,
          /files\[10\].*group must be a number/,
          /files\[10\].*dirmode must be 0-4095/,
          /files\[11\].*partition must not start with "-"/,
          /files\[12\].*partition must be a partition number/,
          /files\[13\].*a content URL must be http\(s\)/,
          /files\[14\].*must be an object/,
        ]) {
          assert.match(d, re);
        }
        return true;
      },
    );
    assert.throws(() => validateFiles({ path: '/etc/x' }, []), details(/inject_files node property must be a list, got an object/));
    assert.throws(() => validateFiles([], 'x'), details(/files argument must be a list, got string/));
    assert.deepEqual(validateFiles(null, undefined), []);
    // IPA's `if partition:`: 0 names no partition, so the disk is searched, and a file in / still needs one.
    assert.equal(validateFiles([{ path: '/etc/x', content: '', partition: 0 }], undefined).length, 1);
    assert.throws(
      () => validateFiles([{ path: '/top', content: '', partition: 0 }], undefined),
      details(/files\[0\].*root directory requires "partition"/),
    );
  });

  it('a bad entry fails execute_deploy_step with InvalidCommandParamsError and mounts nothing; get_deploy_steps offers the step', async () => {
    const calls: string[][] = [];
    const run: ProgramRunner = async (argv) => {
      calls.push(argv);
      return { stdout: '', stderr: '', code: 0 };
    };
    const { managers } = await managersFor(run, { injectFilesPriority: 42 });
    const agent = await createTestAgent({ managers: managers.managers.map((m) => m.manager) });
    const steps = await postCommand(agent.app, { name: 'deploy.get_deploy_steps', params: { node: {}, ports: [] } }, '?wait=true');
    const inject = (steps.json.command_result.deploy_steps.GenericHardwareManager as Step[]).find((s) => s.step === 'inject_files');
    assert.equal(inject?.priority, 42);
    assert.equal(inject?.interface, 'deploy');
    assert.equal(inject?.abortable, undefined);
    assert.deepEqual(Object.keys(inject?.argsinfo ?? {}), ['files', 'verify_ca']);
    for (const args of [{ files: [{ path: '/etc/x', mode: 'rw' }] }, { files: [], verify_ca: 'no' }, { files: 'x' }]) {
      const r = await postCommand(
        agent.app,
        { name: 'deploy.execute_deploy_step', params: { step: { step: 'inject_files', interface: 'deploy', args }, node: {}, ports: [] } },
        '?wait=true',
      );
      assert.equal(r.json.command_status, 'FAILED', JSON.stringify(args));
      assert.equal(r.json.command_error.type, 'InvalidCommandParamsError');
    }
    assert.deepEqual(
      calls.filter((c) => c[0] === 'mount'),
      [],
    );
  });

  it('formats content URLs as str.format does for node and ports, refusing what it cannot', () => {
    const node = { uuid: 'u', properties: { n: 3, flag: true, none: null } };
    assert.equal(
      formatContentUrl('http://h/{node[uuid]}/{node[properties][n]}/{node[properties][flag]}/{node[properties][none]}/{{x}}', node, []),
      'http://h/u/3/True/None/{x}',
    );
    assert.throws(() => formatContentUrl('http://h/{node.uuid}', node, []), details(/unsupported field/));
    assert.throws(() => formatContentUrl('http://h/{node[missing]}', node, []), details(/no "missing"/));
    assert.throws(() => formatContentUrl('http://h/{node[properties]}', node, []), details(/not a single value/));
    assert.throws(() => formatContentUrl('http://h/{ports[0][address]}', node, []), details(/no "0"/));
    assert.throws(() => formatContentUrl('http://h/{node[uuid]', node, []), details(/unclosed/));
  });
});
