/**
 * The coreos flavor's two variants, with one private Docker engine (the
 * second build reuses its layers and the cached container archive):
 *
 * - `coreos.runtime: nspawn` with `coreos.unpack: boot` (IPA's layout: the
 *   container as /usr/share/oem/container.tar.gz, unpacked at boot): the
 *   agent runs in systemd-nspawn instead of chroot; one boot (kernel +
 *   initramfs, TCG, 1.5 GiB): /v1/status answers and the agent's process is
 *   systemd-nspawn's child, its root the container unpacked from the archive.
 * - `coreos.oem: repack` on a base we build ourselves: the nspawn build's
 *   kernel and its initramfs without the OEM member as `coreos.base`; the
 *   result holds ONE compressed archive with the host and the OEM files, and
 *   it boots to /v1/status (the base kernel read the repacked archive, the
 *   cloud-config in it ran).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { build } from '../../builder/src/index.js';
import { listInitramfs } from '../../builder/src/archive/initramfs-list.js';
import { bootVm, freePort } from '../support/qemu.js';
import { testSshKey } from '../support/shared-build.js';
import { sshUntil } from '../support/ssh.js';
import { COREOS_TEST_SPEC, withPrivateEngine } from '../support/coreos-build.js';

const dir = mkdtempSync(join(tmpdir(), 'ramforge-coreos-variants-'));
const disk = join(dir, 'disk.img');
execFileSync('truncate', ['-s', '8G', disk]);
const nspawn = { kernel: '', initramfs: '' };
const repack = { initramfs: '' };

before(
  async () => {
    await withPrivateEngine(async () => {
      const opts = { installHostTools: true, renderer: 'silent' as const, log: (l: string) => process.stderr.write(`[build] ${l}\n`) };
      const a = await build({
        ...opts,
        cwd: dir,
        output: join(dir, 'nspawn'),
        overrides: { ...COREOS_TEST_SPEC, name: 'coreos-nspawn', iso: false, coreos: { runtime: 'nspawn', unpack: 'boot' } },
      });
      nspawn.kernel = join(a.outputDir!, 'coreos-nspawn.kernel');
      nspawn.initramfs = join(a.outputDir!, 'coreos-nspawn.initramfs');
      // unpack: boot: the container is /usr/share/oem/container.tar.gz in the OEM member, and no member holds it unpacked.
      const members = await listInitramfs(nspawn.initramfs);
      assert.ok(!members.some((m) => m.entries.some((e) => e.path.startsWith('opt/ironic-python-agent/'))), 'no unpacked container');
      const oemMember = members.find((m) => m.entries.some((e) => e.path === 'usr/share/oem/container.tar.gz'));
      assert.ok(oemMember && oemMember.index > 0, 'container.tar.gz in an OEM member');
      for (const p of ['usr/share/oem/cloud-config.yml', 'usr/share/oem/authorized_keys'])
        assert.ok(
          oemMember.entries.some((e) => e.path === p),
          `${p} beside it`,
        );
      // The base: the nspawn build's members before the OEM files (host, modules), as a vendor PXE image would be;
      // the repack adds container.tar.gz again, which the host's runner unpacks at boot.
      const base = join(dir, 'base.initramfs');
      await pipeline(createReadStream(nspawn.initramfs, { start: 0, end: oemMember.offset - 1 }), createWriteStream(base));
      const b = await build({
        ...opts,
        cwd: dir,
        output: join(dir, 'repack'),
        overrides: {
          ...COREOS_TEST_SPEC,
          name: 'coreos-repack',
          iso: false,
          coreos: { base: { kernel: nspawn.kernel, initramfs: base }, oem: 'repack' },
        },
      });
      repack.initramfs = join(b.outputDir!, 'coreos-repack.initramfs');
    });
  },
  { timeout: 40 * 60_000 },
);
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function bootAndProbe(name: string, kernel: string, initrd: string, probe: string): Promise<string> {
  const port = await freePort();
  const sshPort = await freePort();
  const vm = await bootVm({
    kernel,
    initrd,
    append: 'console=ttyS0,115200',
    memoryMiB: 1536,
    hostfwd: [
      { hostPort: port, guestPort: 9999 },
      { hostPort: sshPort, guestPort: 22 },
    ],
    disks: [{ path: disk, format: 'raw' }],
  });
  const login = { port: sshPort, key: testSshKey().privateKeyFile, user: 'core' };
  try {
    const r = await vm.waitForHttp(`http://127.0.0.1:${port}/v1/status`, 900_000);
    assert.equal(r.status, 200);
    process.stderr.write(`[coreos-variants] ${name}: /v1/status after ${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s\n`);
    return await sshUntil(login, probe, { timeoutMs: 120_000, pauseMs: 3000 });
  } catch (e) {
    const journal = await sshUntil(login, 'sudo -n journalctl -b --no-pager -o cat -u ironic-python-agent.service | tail -n 40', {
      timeoutMs: 30_000,
    }).catch(() => '(no SSH)');
    process.stderr.write(`[coreos-variants] ${name} agent journal:\n${journal}\nserial:\n${vm.serialText().slice(-5000)}\n`);
    throw e;
  } finally {
    await vm.stop();
  }
}

test('runtime nspawn: the agent answers /v1/status from systemd-nspawn, its root the container', { timeout: 20 * 60_000 }, async () => {
  // nspawn pivots into the container in its own mount namespace, so /proc/PID/root reads "/" from the host:
  // look through it instead (the agent's start script is only in the container; ramforge-release only on the host).
  const out = await bootAndProbe(
    'nspawn',
    nspawn.kernel,
    nspawn.initramfs,
    'pid=$(sudo -n ss -Hltnp "sport = :9999" | grep -o "pid=[0-9]*" | head -n 1 | cut -d= -f2); ' +
      'echo "agent=$(sudo -n test -x /proc/$pid/root/usr/local/bin/ironic-python-agent && echo in-root || echo missing)"; ' +
      'echo "host-file=$(sudo -n test -e /proc/$pid/root/etc/ramforge-release && echo seen || echo absent)"; ' +
      'echo "host-has-agent=$(test -e /usr/local/bin/ironic-python-agent && echo yes || echo no)"; ' +
      'echo "parent=$(ps -o comm= -p $(ps -o ppid= -p $pid))"; ' +
      // The host's modules, bound read-only (--bind-ro): modprobe in the agent's mount namespace loads bonding.
      'sudo -n nsenter -t $pid -m -- modprobe bonding max_bonds=0 && echo modprobe=ok; ' +
      'test -e /sys/class/net/bonding_masters && echo bonding_masters=present; ' +
      'sudo -n nsenter -t $pid -m -- touch /usr/lib/modules/ramforge-rw 2>/dev/null && echo modules=rw || echo modules=ro; ' +
      // network_data.json's networkd path (agent/src/network-data.ts) from the agent's side: a bond with no
      // members (no carrier, networkd leaves it unmanaged: 80-ramforge-wired.network matches Type=ether), a
      // .network file for it written in the agent's namespace, the agent's reload request touched there; the
      // host's networkd must then report that file for the link (its state file, read on the host).
      'echo +rfnn0 | sudo -n tee /sys/class/net/bonding_masters >/dev/null && echo bond=made; sleep 2; ' +
      'i=$(cat /sys/class/net/rfnn0/ifindex); ' +
      'echo "before=$(sudo -n sed -n "s/^NETWORK_FILE=//p" /run/systemd/netif/links/$i)"; ' +
      'printf "[Match]\\nName=rfnn0\\n\\n[Network]\\nConfigureWithoutCarrier=yes\\nAddress=192.0.2.55/32\\n" | ' +
      'sudo -n nsenter -t $pid -m -- sh -c "cat > /run/systemd/network/10-ramforge-rfnn0.network" && echo unit=written; ' +
      'sudo -n nsenter -t $pid -m -- touch /run/ramforge/networkd-reload && echo request=made; ' +
      'sudo -n nsenter -t $pid -m -- touch /run/systemd/netif/ramforge-rw 2>/dev/null && echo netif=rw || echo netif=ro; ' +
      'for n in $(seq 60); do sudo -n grep -qx "NETWORK_FILE=/run/systemd/network/10-ramforge-rfnn0.network" /run/systemd/netif/links/$i && break; sleep 1; done; ' +
      'echo "after=$(sudo -n sed -n "s/^NETWORK_FILE=//p" /run/systemd/netif/links/$i)"; ' +
      'echo "admin=$(sudo -n sed -n "s/^ADMIN_STATE=//p" /run/systemd/netif/links/$i)"; ' +
      'echo "agent-sees=$(sudo -n nsenter -t $pid -m -- sed -n "s/^NETWORK_FILE=//p" /run/systemd/netif/links/$i)"; ' +
      'echo "answered=$(sudo -n journalctl -b -o cat -u ramforge-networkd-reload.service | grep -c . )"; ' +
      'networkctl list --no-pager 2>&1 | sed "s/^/networkctl /"',
  );
  assert.match(out, /^modprobe=ok$/m, out);
  assert.match(out, /^bonding_masters=present$/m, out);
  assert.match(out, /^modules=ro$/m, out);
  assert.match(out, /^agent=in-root$/m, out);
  assert.match(out, /^host-file=absent$/m, out);
  assert.match(out, /^host-has-agent=no$/m, out);
  assert.match(out, /^parent=systemd-nspawn$/m, out);
  process.stderr.write(
    `[coreos-variants] nspawn networkd:\n${out
      .split('\n')
      .filter((l) => /^(bond|unit|request|before|after|admin|agent-sees|netif|answered|networkctl)[= ]/.test(l))
      .join('\n')}\n`,
  );
  // The agent's networkd files and its reload request reach the host's networkd (bound /run/systemd/network,
  // /run/ramforge; ramforge-networkd-reload.path answered); networkd's state is read-only to the agent.
  assert.match(out, /^bond=made$/m, out);
  assert.match(out, /^unit=written$/m, out);
  assert.match(out, /^request=made$/m, out);
  assert.doesNotMatch(out, /^before=\/run\/systemd\/network\/10-ramforge-rfnn0\.network$/m, out);
  assert.match(out, /^after=\/run\/systemd\/network\/10-ramforge-rfnn0\.network$/m, out);
  assert.doesNotMatch(out, /^admin=unmanaged$/m, out);
  assert.match(out, /^agent-sees=\/run\/systemd\/network\/10-ramforge-rfnn0\.network$/m, out);
  assert.match(out, /^netif=ro$/m, out);
});

test('oem repack on a base built here: one compressed archive holds the host and the OEM files, and it boots', {
  timeout: 20 * 60_000,
}, async () => {
  const members = await listInitramfs(repack.initramfs);
  const merged = members[0]!;
  assert.equal(merged.compression, 'gzip', 'the base was gzip');
  const paths = new Set(merged.entries.map((e) => e.path));
  for (const p of ['usr/lib/ramforge/coreos-cloudinit', 'usr/share/oem/container.tar.gz', 'usr/share/oem/cloud-config.yml'])
    assert.ok(paths.has(p), `${p} in the one archive`);
  assert.ok(
    members.slice(1).every((m) => !m.entries.some((e) => e.path.startsWith('usr/share/oem/'))),
    'no separate OEM member',
  );
  const out = await bootAndProbe('repack', nspawn.kernel, repack.initramfs, 'sudo -n cat /usr/share/oem/cloud-config.yml | head -n 1');
  assert.match(out, /^#cloud-config$/m);
});
