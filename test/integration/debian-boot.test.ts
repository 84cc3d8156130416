/**
 * End to end for the Debian layer: packages extracted into a Tree (busybox,
 * Debian's kmod with its shared libraries), the cloud kernel's virtio+net
 * modules with their subset depmod index, packed as an initramfs and booted
 * under qemu: Debian's own modprobe must coldplug virtio_pci/virtio_net by
 * modalias from that index and the NIC must appear. Needs: apt, dpkg-deb, kmod, qemu-system-x86.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeInitramfs } from '../../builder/src/archive/initramfs.js';
import { AptRepo, SCRIPT_ONLY_PACKAGES } from '../../builder/src/debian/apt.js';
import { DEFAULT_PRUNE, extractDeb } from '../../builder/src/debian/extract.js';
import { addKernelModules, fetchKernel } from '../../builder/src/debian/kernel.js';
import { selectModules } from '../../builder/src/debian/modules.js';
import { readHostSources } from '../../builder/src/debian/sources.js';
import { Tree } from '../../builder/src/tree/tree.js';
import { bootVm } from '../support/qemu.js';

let work: string | undefined;
after(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

const INIT = `#!/bin/busybox sh
bb=/bin/busybox
$bb mkdir -p /proc /sys /dev /tmp
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
echo "RAMFORGE-BOOTED $($bb uname -r)"
# Coldplug the way udev would: load by modalias (modules.alias.bin), PCI first, then the virtio bus it creates.
ok=1
for bus in pci virtio; do
  for a in /sys/bus/$bus/devices/*/modalias; do /sbin/modprobe -q "$($bb cat $a)" 2>/dev/null; done
done
/sbin/modprobe virtio_net || ok=0
[ $ok = 1 ] && echo "MODPROBE-OK" || echo "MODPROBE-FAILED"
$bb sleep 1
echo "LOADED: $($bb cut -d' ' -f1 /proc/modules | $bb sort | $bb tr '\\n' ' ')"
echo "NICS: $($bb ls /sys/class/net | $bb tr '\\n' ' ')"
$bb poweroff -f
`;

test('busybox + Debian kmod + cloud kernel modules boot and load virtio_net', { timeout: 600_000 }, async (t) => {
  work = await mkdtemp(join(tmpdir(), 'ramforge-debboot-'));
  const repo = new AptRepo({ cacheDir: process.env.RAMFORGE_TEST_APT_CACHE ?? join(work, 'cache'), sources: await readHostSources() });
  const tree = new Tree({ storeDir: join(work, 'store') });
  const debs = await repo.fetchPackages(['busybox-static', 'kmod'], { assumeInstalled: SCRIPT_ONLY_PACKAGES });
  for (const d of debs) await extractDeb(tree, d, { exclude: DEFAULT_PRUNE });
  // kmod's maintainer scripts would not make these; the package ships the links itself.
  assert.equal(tree.get('sbin/modprobe')?.type, 'symlink');

  const kernel = await fetchKernel(repo, 'linux-image-cloud-amd64');
  const mods = await selectModules(kernel.modulesDir, ['virtio', 'net']);
  const added = await addKernelModules(tree, kernel, mods);
  tree.addFile('init', Buffer.from(INIT), { mode: 0o755, layer: 'test' });

  const initrd = join(work, 'initrd.img');
  const res = await writeInitramfs(initrd, [{ name: 'root', compression: 'gzip', entries: tree.entries() }]);
  t.diagnostic(
    `${debs.length} debs + ${added.count} modules (${(added.bytes / 1e6).toFixed(1)} MB): initramfs ${(res.size / 1e6).toFixed(1)} MB`,
  );

  const vm = await bootVm({ kernel: kernel.vmlinuz, initrd, append: 'console=ttyS0 rdinit=/init panic=-1 quiet', memoryMiB: 512 });
  try {
    await vm.waitForSerial(/RAMFORGE-BOOTED/, 120_000);
    const nics = await vm.waitForSerial(/NICS: [^\n]*\n/, 60_000);
    const text = vm.serialText();
    assert.match(text, new RegExp(`RAMFORGE-BOOTED ${kernel.version.replace(/\./g, '\\.')}`));
    assert.match(text, /MODPROBE-OK/);
    assert.match(text, /LOADED: [^\n]*virtio_net/);
    assert.match(nics, /eth0|ens\w+|enp\w+/);
    t.diagnostic((text.match(/(MODPROBE-\w+|LOADED: [^\r\n]*)/g) ?? []).join(' | '));
    t.diagnostic(`booted in ${Date.now() - vm.startedAt} ms: ${nics.trim()}`);
  } finally {
    await vm.stop();
  }
});
