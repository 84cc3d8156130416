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
const put = (rel: string, text = '') => {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), text);
};

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
});
