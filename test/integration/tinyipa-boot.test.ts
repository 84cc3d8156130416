/**
 * The tinyipa ramdisk boots in qemu (TCG, 512 MiB) three ways and the agent
 * answers GET /v1/status through a hostfwd port on 127.0.0.1. The shared
 * build authorizes an SSH key: the direct boot also logs in with it; a
 * build without keys is checked to carry no keys and the SSH slot only for
 * the rescue user (rescue is on by default; docs/rescue.md).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_KEY_SPEC, sharedBuild, testSshKey, type SharedBuild } from '../support/shared-build.js';
import { bootVm, freePort, type Vm } from '../support/qemu.js';
import { readInitramfsFiles } from '../../builder/src/archive/initramfs-list.js';
import { sha256File } from '../../builder/src/debian/apt.js';
import { AGENT_START_PATH, agentNodeFlags } from '../../builder/src/flavors/tinyipa/agent-start.js';
import { sshUntil, sshWithoutKey } from '../support/ssh.js';

let b: SharedBuild;
// Like a real target, the VM has a disk: without one the agent, as IPA does,
// first waits ~30 s for a root disk to appear before serving its API.
const scratch = mkdtempSync(join(tmpdir(), 'ramforge-boot-'));
const disk = join(scratch, 'disk.img');
execFileSync('truncate', ['-s', '8G', disk]);
before(
  async () => {
    b = await sharedBuild();
  },
  { timeout: 30 * 60_000 },
);
after(() => rmSync(scratch, { recursive: true, force: true }));

async function bootAndCheck(
  name: string,
  opts: Parameters<typeof bootVm>[0],
  timeoutMs: number,
  then?: (vm: Vm, sshPort: number) => Promise<void>,
): Promise<void> {
  const port = await freePort();
  const sshPort = await freePort();
  let vm: Vm | undefined;
  try {
    vm = await bootVm({
      memoryMiB: 512,
      hostfwd: [
        { hostPort: port, guestPort: 9999 },
        { hostPort: sshPort, guestPort: 22 },
      ],
      disks: [{ path: disk, format: 'raw' }],
      ...opts,
    });
    const r = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, timeoutMs);
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { started_at: number; version: string };
    assert.equal(typeof body.started_at, 'number');
    assert.equal(typeof body.version, 'string');
    const root = await fetch(`http://127.0.0.1:${port}/`).then((x) => x.json() as Promise<{ name: string }>);
    assert.equal(root.name, 'OpenStack Ironic Python Agent API');
    process.stderr.write(`[boot] ${name}: /v1/status after ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s\n`);
    await then?.(vm, sshPort);
  } catch (e) {
    process.stderr.write(`[boot] ${name} serial log:\n${vm?.serialText().slice(-6000) ?? ''}\n`);
    throw e;
  } finally {
    await vm?.stop();
  }
}

test("tinyipa: kernel + initramfs boot directly, the agent answers /v1/status, and root logs in with the spec's SSH key", {
  timeout: 360_000,
}, async () => {
  await bootAndCheck('direct', { kernel: b.kernel, initrd: b.initramfs, append: 'console=ttyS0,115200' }, 180_000, async (vm, sshPort) => {
    const out = await sshUntil(
      { port: sshPort, key: testSshKey().privateKeyFile },
      // xfs (the default fs set): an XFS root of a partition image can be mounted for install_bootloader.
      'id -u; cat /etc/ramforge-release; ls /etc/dropbear; modprobe xfs && grep -w xfs /proc/filesystems',
      { timeoutMs: 150_000 },
    );
    const [uid, ...rest] = out.trim().split('\n');
    assert.equal(uid, '0', out);
    assert.match(rest.join('\n'), /^\s*xfs$/m, 'the xfs module loads in the ramdisk');
    assert.match(rest.join('\n'), /^FLAVOR=tinyipa$/m);
    assert.match(rest.join('\n'), /dropbear_\w+_host_key/, 'the host key was made at boot');
    // A key that is not authorized is refused.
    const other = sshWithoutKey(sshPort);
    assert.notEqual(other.status, 0, 'no key, no login');
    assert.match(other.stderr, /Permission denied/, other.stderr);
    // The agent starts with V8's code cache made at build time: Node accepts it (same Node, flags and bundle; this CPU).
    const cache = await sshUntil(
      { port: sshPort, key: testSshKey().privateKeyFile },
      `NODE_DEBUG_NATIVE=COMPILE_CACHE /usr/bin/node ${agentNodeFlags().join(' ')} ${AGENT_START_PATH} --check-config=/nonexistent 2>&1 | grep 'compile cache'`,
      { timeoutMs: 150_000 },
    );
    assert.match(cache, /cache for file:\/\/\/usr\/lib\/ramforge-agent\/agent\.mjs was accepted/, cache);
    // ... and Node's own built-in code cache too: the start script's flags leave V8's flag hash alone (no module compiled from source).
    const builtins = await sshUntil(
      { port: sshPort, key: testSshKey().privateKeyFile },
      `NODE_DEBUG_NATIVE=CODE_CACHE /usr/bin/node ${agentNodeFlags().join(' ')} -e "require('node:http')" 2>&1 | grep -c 'is accepted'; NODE_DEBUG_NATIVE=CODE_CACHE /usr/bin/node ${agentNodeFlags().join(' ')} -e "require('node:http')" 2>&1 | grep 'is rejected' || true`,
      { timeoutMs: 60_000 },
    );
    assert.match(builtins.trim(), /^[1-9]\d*$/, `built-in code cache: ${builtins}`);
    process.stderr.write(`[boot] direct: ssh login after ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s\n`);
  });
});

/** Paths of the initramfs, and the text of the files `wanted` asks for. */
async function readInitramfs(path: string, wanted: string[]): Promise<{ paths: Set<string>; files: Map<string, string> }> {
  const { members, files } = await readInitramfsFiles(path, (p) => wanted.includes(p));
  return {
    paths: new Set(members.flatMap((m) => m.entries.map((e) => e.path))),
    files: new Map([...files].map(([p, data]) => [p, data.toString('utf8')])),
  };
}

test('tinyipa: dropbear with keys, or without keys for rescue (the default); host keys never baked in', {
  timeout: 30 * 60_000,
}, async () => {
  const keyed = await readInitramfs(b.initramfs, ['etc/inittab', 'root/.ssh/authorized_keys']);
  assert.ok(keyed.paths.has('usr/sbin/dropbear'));
  assert.match(keyed.files.get('etc/inittab')!, /^::respawn:\/usr\/sbin\/ramforge-sshd$/m);
  assert.equal(keyed.files.get('root/.ssh/authorized_keys'), `${testSshKey().publicKey}\n`);
  assert.deepEqual(
    [...keyed.paths].filter((p) => /host_key/.test(p)),
    [],
    'no host key in the image',
  );

  // Without keys (the build agent-rescue.test.ts boots): the SSH slot is there for the rescue user, root has no keys.
  const plain = await sharedBuild(NO_KEY_SPEC);
  const none = await readInitramfs(plain.initramfs, ['etc/inittab']);
  assert.ok(none.paths.has('usr/sbin/dropbear') && none.paths.has('usr/sbin/ramforge-rescue') && none.paths.has('etc/ipa-rescue-config'));
  assert.match(none.files.get('etc/inittab')!, /^::respawn:\/usr\/sbin\/ramforge-sshd$/m);
  assert.deepEqual(
    [...none.paths].filter((p) => /\.ssh|host_key/.test(p)),
    [],
    'no keys',
  );
  // rescue: false and no keys leaves out the SSH server and the hand-over: builder/src/flavors/tinyipa/ssh.test.ts.
});

test('tinyipa: the ISO boots on BIOS (isolinux) and the agent answers', { timeout: 300_000 }, async () => {
  await bootAndCheck('iso-bios', { iso: b.iso, firmware: 'bios' }, 240_000);
});

test('tinyipa: the ISO boots on UEFI (OVMF, GRUB) and the agent answers', { timeout: 300_000 }, async () => {
  await bootAndCheck('iso-uefi', { iso: b.iso, firmware: 'uefi' }, 240_000);
});

test('tinyipa: manifest lists packages, Node, kernel, sizes and timings', () => {
  const m = b.manifest;
  assert.equal(m.flavor, 'tinyipa');
  assert.ok(m.packages.some((p: { name: string }) => p.name === 'busybox-static'));
  assert.match(m.node.version, /^\d+\.\d+\.\d+$/);
  assert.match(m.kernel.version, /^\d+\.\d+/);
  assert.ok(m.kernel.modules.count > 50, `modules: ${m.kernel.modules.count}`);
  const kinds = m.artifacts.map((a: { kind: string }) => a.kind).sort();
  assert.deepEqual(kinds, ['initramfs', 'iso', 'kernel', 'uki']);
  assert.ok(m.timings['assemble-rootfs'] > 0);
  // The tools that wrote the artifacts' bytes, as dpkg has them installed.
  for (const pkg of ['xorriso', 'mtools', 'zstd', 'systemd-boot-efi']) {
    const installed = execFileSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
    assert.equal(m.hostTools[pkg], installed, `hostTools.${pkg}`);
  }
  assert.equal(m.hostTools['node.zlib'], process.versions.zlib);
});

test('tinyipa: SHA256SUMS holds the true checksum of every artifact, the UKI included', async () => {
  const sums = readFileSync(join(b.dir, 'SHA256SUMS'), 'utf8').trim().split('\n');
  assert.deepEqual(sums.map((l) => l.split(/\s+/)[1]).sort(), ['tinyipa.efi', 'tinyipa.initramfs', 'tinyipa.iso', 'tinyipa.kernel']);
  for (const line of sums) {
    const [sum, file] = line.split(/\s+/) as [string, string];
    assert.equal(await sha256File(join(b.dir, file)), sum, `${file} does not match SHA256SUMS`);
  }
});
