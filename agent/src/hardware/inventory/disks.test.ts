/**
 * Which block devices the inventory lists, from lsblk as util-linux 2.38
 * prints it with these columns: a flat list (no NAME column, so no tree),
 * multipath and RAID devices repeated under each member.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { collectDisks, LSBLK_ARGV } from './disks.js';
import { commandKey, createHostAccess } from './host-access.js';
import { getOsInstallDevice, listBlockDevices } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'ramforge-disks-'));
after(() => rmSync(root, { recursive: true, force: true }));

const row = (kname: string, type: string, size = 100 * 2 ** 30) => ({
  kname,
  model: type === 'disk' ? 'LUN' : null,
  size,
  rota: false,
  type,
  uuid: null,
  partuuid: null,
  serial: null,
  wwn: null,
  'log-sec': 512,
  'phy-sec': 512,
  tran: null,
});
/** Writes `rel` under `base`, making its directories. */
const putUnder =
  (base: string) =>
  (rel: string, text: string | Buffer = '') => {
    mkdirSync(join(base, rel, '..'), { recursive: true });
    writeFileSync(join(base, rel), text);
  };
const put = putUnder(root);

/** Runs `body` on a root of its own (the shared one holds the other tests' recorded lsblk), removed after. */
async function withOwnRoot(body: (at: (rel: string, text?: string | Buffer) => void, root: string) => Promise<void>): Promise<void> {
  const other = mkdtempSync(join(tmpdir(), 'ramforge-disks-'));
  try {
    await body(putUnder(other), other);
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
}

describe('collectDisks', () => {
  it('leaves out the paths of a multipath device (sysfs holders with an mpath- uuid) and software-RAID partitions (type md)', async () => {
    put(
      `.commands/${commandKey(LSBLK_ARGV)}.out`,
      JSON.stringify({
        blockdevices: [
          row('sda', 'disk'),
          row('dm-0', 'mpath'),
          row('sdb', 'disk'),
          row('dm-0', 'mpath'),
          row('sdc', 'disk'),
          row('sdc1', 'part'),
          row('md0', 'raid1'),
          row('md0p1', 'md', 10 * 2 ** 30),
          row('sdd', 'disk'),
          row('dm-1', 'lvm'),
        ],
      }),
    );
    for (const p of ['sda', 'sdb']) put(`sys/block/${p}/holders/dm-0`);
    put('sys/block/dm-0/dm/uuid', 'mpath-3600a098038303053453f463045736c41\n');
    // A holder that is device-mapper but not multipath (LVM) does not hide its disk.
    put('sys/block/sdd/holders/dm-1');
    put('sys/block/dm-1/dm/uuid', 'LVM-abc\n');
    const disks = await collectDisks(createHostAccess({ root }));
    assert.deepEqual(
      disks.map((d) => d.name),
      ['/dev/dm-0', '/dev/sdc', '/dev/md0', '/dev/sdd'],
    );
  });

  it('a multipath map of size 0 (every path failed) does not hide its paths', async () => {
    await withOwnRoot(async (at, other) => {
      at(
        `.commands/${commandKey(LSBLK_ARGV)}.out`,
        JSON.stringify({ blockdevices: [row('sda', 'disk'), row('dm-0', 'mpath', 0), row('sdb', 'disk'), row('dm-0', 'mpath', 0)] }),
      );
      for (const p of ['sda', 'sdb']) at(`sys/block/${p}/holders/dm-0`);
      at('sys/block/dm-0/dm/uuid', 'mpath-3600a098038303053453f463045736c41\n');
      const disks = await collectDisks(createHostAccess({ root: other }));
      assert.deepEqual(
        disks.map((d) => d.name),
        ['/dev/sda', '/dev/sdb'],
      );
    });
  });

  it('without lsblk (sysfs only): a multipath map hides its paths, an LVM volume is no disk', async () => {
    await withOwnRoot(async (at, other) => {
      for (const d of ['sda', 'sdb', 'sdc', 'dm-0', 'dm-1']) at(`sys/block/${d}/size`, `${200 * 2 ** 21}\n`);
      for (const p of ['sda', 'sdb']) at(`sys/block/${p}/holders/dm-0`);
      at('sys/block/sdc/holders/dm-1');
      at('sys/block/dm-0/dm/uuid', 'mpath-3600a098038303053453f463045736c41\n');
      at('sys/block/dm-1/dm/uuid', 'LVM-abc\n');
      const disks = await collectDisks(createHostAccess({ root: other }));
      assert.deepEqual(disks.map((d) => d.name).sort(), ['/dev/dm-0', '/dev/sdc']);
    });
  });

  it("keeps every serial and WWN for root device hints: lsblk's, then udev's ID_SERIAL_SHORT, ID_SERIAL, ID_WWN (not on the wire)", async () => {
    put('sys/class/block/sdc/dev', '8:32\n');
    put('run/udev/data/b8:32', 'E:ID_SERIAL_SHORT=S1\nE:ID_SERIAL=LUN_S1\nE:ID_WWN=0x5000c500\n');
    const sdc = (await collectDisks(createHostAccess({ root }))).find((d) => d.name === '/dev/sdc')!;
    assert.deepEqual([sdc.serial, sdc.serials, sdc.wwn, sdc.wwns], ['S1', [null, 'S1', 'LUN_S1'], '0x5000c500', [null, '0x5000c500']]);
  });

  it('without udev (tinyipa: lsblk leaves SERIAL and WWN empty): serial and WWN from sysfs, as udev would make them', async () => {
    await withOwnRoot(async (at, other) => {
      at(
        `.commands/${commandKey(LSBLK_ARGV)}.out`,
        JSON.stringify({
          blockdevices: [row('sda', 'disk'), row('sdb', 'disk'), row('nvme0n1', 'disk'), row('vda', 'disk'), row('sdz', 'disk')],
        }),
      );
      // A SATA disk through libata: VPD page 0x80 (header 00 80 00 15, the ATA serial, space-padded) and an NAA-5 WWN.
      at('sys/class/block/sda/device/vpd_pg80', Buffer.from([0, 0x80, 0, 21, ...Buffer.from('      WD-WCC4N1234567')]));
      at('sys/class/block/sda/device/wwid', 'naa.50014ee2b5c4a1f0\n');
      // A SAS disk: an NAA-6 designator with its vendor extension; a serial with a space inside.
      at('sys/class/block/sdb/device/vpd_pg80', Buffer.from([0, 0x80, 0, 12, ...Buffer.from('ZX 12345    ')]));
      at('sys/class/block/sdb/device/wwid', 'naa.600508b1001c3a1c8f0d2e1b7a6c5d4e\n');
      // NVMe: the controller's serial, the namespace's wwid as it is.
      at('sys/class/block/nvme0n1/device/serial', 'S4EWNX0R123456      \n');
      at('sys/class/block/nvme0n1/wwid', 'eui.0025385b71b0ab39\n');
      // virtio-blk: its own serial attribute.
      at('sys/class/block/vda/serial', 'rootdisk\n');
      // A t10 designator is no WWN (scsi_id sets none for it).
      at('sys/class/block/sdz/device/wwid', 't10.ATA     QEMU HARDDISK   QM00001\n');
      const disks = new Map((await collectDisks(createHostAccess({ root: other }))).map((d) => [d.name, d]));
      const ids = (n: string) => {
        const d = disks.get(n)!;
        return [d.serial, d.wwn, d.wwn_with_extension, d.wwn_vendor_extension];
      };
      assert.deepEqual(ids('/dev/sda'), ['WD-WCC4N1234567', '0x50014ee2b5c4a1f0', '0x50014ee2b5c4a1f0', null]);
      assert.deepEqual(ids('/dev/sdb'), [
        'ZX_12345',
        '0x600508b1001c3a1c8f0d2e1b7a6c5d4e',
        '0x600508b1001c3a1c8f0d2e1b7a6c5d4e',
        '0x8f0d2e1b7a6c5d4e',
      ]);
      // Every form a hint may use: the serial as scsi_id's ID_SCSI_SERIAL has it, the NAA-6 WWN without its extension.
      assert.deepEqual(disks.get('/dev/sdb')!.serials, [null, null, null, 'ZX_12345', 'ZX 12345']);
      assert.deepEqual(disks.get('/dev/sdb')!.wwns, [null, null, '0x600508b1001c3a1c8f0d2e1b7a6c5d4e', '0x600508b1001c3a1c']);
      assert.deepEqual(ids('/dev/nvme0n1'), ['S4EWNX0R123456', 'eui.0025385b71b0ab39', null, null]);
      assert.deepEqual(ids('/dev/vda'), ['rootdisk', null, null, null]);
      assert.deepEqual(ids('/dev/sdz'), [null, null, null, null]);
      // skip_block_devices by the serial or the WWN udev would have given keeps the disk out.
      const host = createHostAccess({ root: other });
      for (const entry of [{ serial: 'WD-WCC4N1234567' }, { wwn: '0x50014ee2b5c4a1f0' }]) {
        const kept = await listBlockDevices({ host, skipBlockDevices: [entry], strictSkipList: true });
        assert.ok(!kept.some((d) => d.name === '/dev/sda'), JSON.stringify(entry));
      }
    });
  });

  it("skip_block_devices protects a disk named by udev's long serial or WWN (the install device never lands on it)", async () => {
    const host = createHostAccess({ root });
    for (const entry of [{ serial: 'LUN_S1' }, { wwn: '0x5000c500' }]) {
      const kept = await listBlockDevices({ host, skipBlockDevices: [entry], strictSkipList: true });
      assert.ok(!kept.some((d) => d.name === '/dev/sdc'), JSON.stringify(entry));
      assert.notEqual(getOsInstallDevice(kept).name, '/dev/sdc');
    }
  });
});
