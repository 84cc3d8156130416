import assert from 'node:assert/strict';
import { test } from 'node:test';
import { floorInit, moduleLoadOrder, pacedBootRows } from './floor.js';

// The lines of Debian 6.1's modules.dep that the virtio NIC needs, plus neighbours.
const DEP = [
  'kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/virtio/virtio_ring.ko:',
  'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
  'kernel/drivers/virtio/virtio_pci_legacy_dev.ko:',
  'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  'kernel/net/core/failover.ko:',
  'kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko',
  'kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko',
  '',
].join('\n');

test('moduleLoadOrder: dependencies first, the last listed first (as modprobe), each module once', () => {
  assert.deepEqual(moduleLoadOrder(DEP, ['virtio_pci', 'virtio_net']), [
    'kernel/drivers/virtio/virtio_ring.ko',
    'kernel/drivers/virtio/virtio.ko',
    'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
    'kernel/drivers/virtio/virtio_pci_legacy_dev.ko',
    'kernel/drivers/virtio/virtio_pci.ko',
    'kernel/net/core/failover.ko',
    'kernel/drivers/net/net_failover.ko',
    'kernel/drivers/net/virtio_net.ko',
  ]);
});

test('moduleLoadOrder: a module the kernel does not list is built in (nothing to load); - and _ are one name', () => {
  assert.deepEqual(moduleLoadOrder('kernel/drivers/net/virtio_net.ko:\n', ['virtio_pci', 'virtio-net']), [
    'kernel/drivers/net/virtio_net.ko',
  ]);
  assert.deepEqual(moduleLoadOrder('', ['virtio_net']), []);
  assert.deepEqual(moduleLoadOrder('kernel/a/x-y.ko.zst:\n', ['x_y']), ['kernel/a/x-y.ko.zst']);
});

test('moduleLoadOrder: a cycle is an error, not a hang', () => {
  assert.throws(() => moduleLoadOrder('k/a.ko: k/b.ko\nk/b.ko: k/a.ko\n', ['a']), /cycle/);
});

test('floorInit: loads the modules in order, takes a DHCP lease, then serves /www on 9999', () => {
  const init = floorInit(['kernel/drivers/virtio/virtio_ring.ko', 'kernel/drivers/net/virtio_net.ko']);
  assert.match(init, /^#!\/bin\/busybox sh\n/);
  const lines = init.split('\n');
  const at = (re: RegExp): number => {
    const i = lines.findIndex((l) => re.test(l));
    assert.ok(i >= 0, `a line matching ${re} in\n${init}`);
    return i;
  };
  assert.ok(at(/insmod \/mods\/virtio_ring\.ko/) < at(/insmod \/mods\/virtio_net\.ko/));
  assert.ok(at(/insmod \/mods\/virtio_net\.ko/) < at(/^udhcpc -i eth0/));
  assert.ok(at(/^udhcpc/) < at(/^exec httpd -f -p 9999 -h \/www$/));
});

test('pacedBootRows: each boot figure × the floor pace, only where the floor and the section ran', () => {
  assert.deepEqual(pacedBootRows({ boot: { seconds: { direct: 7 } } }), []);
  const rows = pacedBootRows({
    floor: { seconds: 2.8, pace: 3.5 / 2.8 },
    boot: { seconds: { direct: 7.6 } },
    dib: { directSeconds: 14.9 },
    coreos: { skipped: 'no engine' },
  });
  assert.deepEqual(
    rows.map((r) => [r.metric.split(' ')[0], r.value, r.target]),
    [
      ['tinyipa', '9.5 s', '≤ 7 s'],
      ['dib', '18.6 s', '≤ 20 s'],
    ],
  );
  assert.match(rows[1]!.reference!, /14\.9 s here × 1\.25 \(floor 3\.5 s .* 2\.8 s here\)/);
});
