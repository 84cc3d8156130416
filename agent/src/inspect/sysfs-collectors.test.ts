/** pci-devices on small sysfs trees written for each case. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createHostAccess } from '../hardware/inventory/host-access.js';
import { collectPciDevices } from './sysfs-collectors.js';

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'sysfs-collectors-'));
  for (const [p, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, p)), { recursive: true });
    await writeFile(path.join(root, p), content);
  }
  return root;
}

describe('pci-devices', () => {
  it('keeps a device without a revision file, with revision null (as IPA)', async () => {
    const dev = '/sys/bus/pci/devices';
    const root = await tree({
      [`${dev}/0000:00:1f.0/vendor`]: '0x8086\n',
      [`${dev}/0000:00:1f.0/device`]: '0x0443\n',
      [`${dev}/0000:00:1f.0/class`]: '0x060100\n',
      [`${dev}/0000:00:1f.0/revision`]: '0x09\n',
      [`${dev}/0000:00:1f.0/numa_node`]: '-1\n',
      // A function whose driver exposes no revision attribute.
      [`${dev}/0000:00:02.0/vendor`]: '0x1af4\n',
      [`${dev}/0000:00:02.0/device`]: '0x1000\n',
      [`${dev}/0000:00:02.0/class`]: '0x020000\n',
      // No class: IPA leaves such a device out.
      [`${dev}/0000:00:03.0/vendor`]: '0x1af4\n',
      [`${dev}/0000:00:03.0/device`]: '0x1001\n',
    });
    try {
      assert.deepEqual(await collectPciDevices(createHostAccess({ root })), [
        { vendor_id: '1af4', product_id: '1000', class: '020000', revision: null, bus: '0000:00:02.0', numa_node_id: null },
        { vendor_id: '8086', product_id: '0443', class: '060100', revision: '09', bus: '0000:00:1f.0', numa_node_id: '-1' },
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
