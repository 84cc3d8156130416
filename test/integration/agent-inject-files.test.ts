/**
 * inject_files on a real disk (a loop device, root): a GPT disk with a
 * /boot-like ext4 partition, a root ext4 partition holding /etc and an
 * unformatted one. The generic manager's step mounts what it needs with the
 * real mount(8); afterwards, with nothing mounted, debugfs reads the
 * filesystems back: content, mode, owner, the created directory's mode and
 * the deleted file.
 *
 *   TMPDIR=/tmp bash scripts/test.sh test/integration/agent-inject-files.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericHardwareManager } from '../../agent/src/hardware/generic.js';
import { loadHardwareManagers } from '../../agent/src/hardware/plugins.js';
import { createDefaultConfig } from '../../agent/src/config.js';
import { createState } from '../../agent/src/state.js';
import { createMemoryLog } from '../../agent/test/support/logs.js';
import { attachLoop, canUseLoop, sh } from '../../agent/test/support/loop-device.js';

const skip = !canUseLoop() && 'needs root for losetup and mount';
const MiB = 1 << 20;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** debugfs's view of one path on an unmounted ext4 filesystem. */
function debugfs(dev: string, request: string): string {
  return execFileSync('debugfs', ['-R', request, dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function inode(dev: string, path: string): { mode: number; uid: number; gid: number; type: string } | null {
  const out = debugfs(dev, `stat ${path}`);
  const m = /Type:\s+(\S+)\s+Mode:\s+(\d+)/.exec(out);
  const u = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(out);
  if (!m || !u) return null;
  return { type: m[1]!, mode: Number.parseInt(m[2]!, 8), uid: Number(u[1]), gid: Number(u[2]) };
}

/** Mounts anywhere on the host whose source is one of the loop device's partitions. */
const mountsOf = (dev: string): string[] =>
  sh('findmnt', ['-rn', '-o', 'SOURCE,TARGET'])
    .split('\n')
    .filter((l) => l.startsWith(`${dev}p`));

test('inject_files writes and deletes files on a real ext4 partition found by its /etc, and unmounts everything', {
  skip,
  timeout: 120_000,
}, async () => {
  const loop = attachLoop(64 * MiB);
  const seed = mkdtempSync(join(tmpdir(), 'rf-inject-seed-'));
  const root = mkdtempSync(join(tmpdir(), 'rf-inject-agent-'));
  try {
    execFileSync('sgdisk', ['-n', '1:0:+16M', '-t', '1:8300', '-n', '2:0:+32M', '-t', '2:8300', '-n', '3:0:0', '-t', '3:8300', loop.dev]);
    execFileSync('partx', ['-u', loop.dev]);
    const [boot, rootfs] = [`${loop.dev}p1`, `${loop.dev}p2`];
    mkdirSync(join(seed, 'boot/grub'), { recursive: true });
    execFileSync('mkfs.ext4', ['-q', '-d', join(seed, 'boot'), boot]);
    mkdirSync(join(seed, 'root/etc'), { recursive: true });
    writeFileSync(join(seed, 'root/etc/motd'), 'previous tenant\n');
    execFileSync('mkfs.ext4', ['-q', '-d', join(seed, 'root'), rootfs]);

    const config = {
      ...createDefaultConfig(),
      standalone: true,
      rootPath: root,
      diskWaitAttempts: 1,
      hardwareManagersDir: join(root, 'none'),
    };
    const log = createMemoryLog();
    const disk = { name: 'loop_disk', evaluate_hardware_support: () => 2, get_os_install_device: () => loop.dev };
    const managers = await loadHardwareManagers(config, {
      state: createState(config, 'v'),
      log,
      builtins: (ctx) => [new GenericHardwareManager(ctx), disk],
    });
    const node = {
      uuid: 'n1',
      properties: {
        inject_files: [{ path: '/etc/sysctl.d/90-site.conf', content: b64('vm.swappiness = 1\n'), mode: 0o640, dirmode: 0o700 }],
      },
    };
    const files = [
      { path: '/etc/motd', deleted: true },
      { path: '/etc/ssh/keys/site.pub', content: b64('ssh-ed25519 AAAA site\n'), mode: 0o600, owner: 1234, group: 2345 },
      { path: '/grub/custom.cfg', partition: 1, content: b64('set timeout=3\n') },
    ];
    assert.equal(await managers.dispatchToManagers('inject_files', node, [], { files }), null);

    assert.deepEqual(mountsOf(loop.dev), [], 'nothing left mounted');
    assert.equal(debugfs(rootfs, 'cat /etc/sysctl.d/90-site.conf'), 'vm.swappiness = 1\n');
    assert.deepEqual(inode(rootfs, '/etc/sysctl.d/90-site.conf'), { type: 'regular', mode: 0o640, uid: 0, gid: 0 });
    assert.equal(inode(rootfs, '/etc/sysctl.d')?.mode, 0o700, 'dirmode on the directory the step created');
    assert.equal(debugfs(rootfs, 'cat /etc/ssh/keys/site.pub'), 'ssh-ed25519 AAAA site\n');
    assert.deepEqual(inode(rootfs, '/etc/ssh/keys/site.pub'), { type: 'regular', mode: 0o600, uid: 1234, gid: 2345 });
    assert.equal(inode(rootfs, '/etc/motd'), null, 'the deleted file is gone');
    assert.equal(debugfs(boot, 'cat /grub/custom.cfg'), 'set timeout=3\n');
    assert.equal(inode(boot, '/etc'), null, 'the search did not write to the partition without /etc');
    // The search tried p1 (no /etc) before p2; p3 (no filesystem) was never needed.
    assert.ok(
      log.lines.some((l) => l.includes(`/etc found on partition ${rootfs}`)),
      log.lines.join('\n'),
    );

    // A path no partition holds: DeviceNotFound after scanning all three (p3 fails to mount and is skipped), nothing left mounted.
    await assert.rejects(
      managers.dispatchToManagers('inject_files', { properties: {} }, [], { files: [{ path: '/srv/x', content: '' }] }),
      (e: Error & { details?: string }) => e.name === 'DeviceNotFound' && e.details!.includes(`scanned: ${boot}, ${rootfs}, ${loop.dev}p3`),
    );
    assert.deepEqual(mountsOf(loop.dev), []);
  } finally {
    for (const l of mountsOf(loop.dev)) sh('umount', [l.split(' ')[1]!]);
    loop.detach();
    rmSync(seed, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
});
