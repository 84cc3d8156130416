/** usb-devices: IPA's list from lshw's tree, and the same list derived from a sysfs tree when lshw is missing. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createHostAccess } from '../hardware/inventory/host-access.js';
import { createMemoryLog } from '../../test/support/logs.js';
import { type CollectorContext, runCollectors } from './collectors.js';
import { lshwString, usbFromLshw } from './usb-devices.js';

const USB = '/sys/bus/usb/devices';

/** A USB device directory: attributes, and one bInterfaceClass per interface (<name>:1.N). */
function device(name: string, attrs: Record<string, string>, interfaceClasses: string[] = []): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) files[`${USB}/${name}/${k}`] = `${v}\n`;
  interfaceClasses.forEach((c, i) => {
    files[`${USB}/${name}:1.${i}/bInterfaceClass`] = `${c}\n`;
  });
  return files;
}

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'usb-devices-'));
  for (const [p, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, p)), { recursive: true });
    await writeFile(path.join(root, p), content);
  }
  return root;
}

async function collect(root: string): Promise<{ data: Record<string, unknown>; errors: string | null }> {
  const data: Record<string, unknown> = {};
  const ctx = { host: createHostAccess({ root }), log: createMemoryLog() } as unknown as CollectorContext;
  const errors = await runCollectors(['usb-devices'], data, ctx);
  return { data, errors };
}

describe('usb-devices', () => {
  it('from lshw: the nodes with id exactly "usb" and class generic, anywhere in the tree (IPA get_usb_devices)', () => {
    const lshw = {
      id: 'host',
      children: [
        {
          id: 'pci',
          class: 'bridge',
          children: [
            {
              id: 'usbhost:0',
              class: 'bus',
              handle: 'USB:1:1',
              children: [
                { id: 'usb', class: 'generic', handle: 'USB:1:2', vendor: 'Acme', product: 'Widget' },
                { id: 'usb:0', class: 'generic', handle: 'USB:1:3', vendor: 'Acme' },
              ],
            },
            {
              id: 'usbhost:1',
              class: 'bus',
              children: [
                {
                  id: 'usb',
                  class: 'bus',
                  children: [{ id: 'usb', class: 'generic', handle: 'USB:2:4' }],
                },
              ],
            },
            { id: 'usb', class: 'input', handle: 'USB:3:2' },
          ],
        },
      ],
    };
    assert.deepEqual(usbFromLshw(lshw), [
      { product: 'Widget', vendor: 'Acme', handle: 'USB:1:2' },
      { product: '', vendor: '', handle: 'USB:2:4' },
    ]);
  });

  it('keeps descriptor strings as lshw does: up to "z", 80 characters, trimmed', () => {
    assert.equal(lshwString('Widget{v2}\n'), 'Widget');
    assert.equal(lshwString(' Ünicode'), '');
    assert.equal(lshwString(`${'x'.repeat(90)}\n`), 'x'.repeat(80));
  });

  it('without lshw: the same list from /sys/bus/usb/devices, registered as the usb-devices collector', async () => {
    const root = await tree({
      // Bus 1: a hub with a keyboard and a vendor-specific device: siblings, so lshw ids them usb:0, usb:1.
      ...device('usb1', { busnum: '1', devnum: '1', bDeviceClass: '09' }, ['09']),
      ...device('1-1', { busnum: '1', devnum: '2', bDeviceClass: '09' }, ['09']),
      ...device('1-1.1', { busnum: '1', devnum: '3', bDeviceClass: '00', product: 'Keyboard' }, ['03']),
      ...device('1-1.2', { busnum: '1', devnum: '4', bDeviceClass: 'ff', product: 'Other' }, ['ff']),
      // Bus 2: one vendor-specific device with strings.
      ...device('usb2', { busnum: '2', devnum: '1', bDeviceClass: '09' }, ['09']),
      ...device('2-1', { busnum: '2', devnum: '3', bDeviceClass: '00', manufacturer: 'Acme', product: 'Widget{v2}' }, ['ff']),
      // Bus 3: no strings: names from usb.ids; misc class with a CDC data interface stays generic.
      ...device('usb3', { busnum: '3', devnum: '1', bDeviceClass: '09' }, ['09']),
      ...device('3-4', { busnum: '3', devnum: '2', bDeviceClass: 'ef', idVendor: '1d6b', idProduct: '0104' }, ['0a']),
      // Bus 4: mass storage is lshw's class storage.
      ...device('usb4', { busnum: '4', devnum: '1', bDeviceClass: '09' }, ['09']),
      ...device('4-1', { busnum: '4', devnum: '5', bDeviceClass: '00', product: 'Virtual CD' }, ['08']),
      '/usr/share/misc/usb.ids':
        '# comment\n1d6b  Linux Foundation\n\t0002  2.0 root hub\n\t0104  Multifunction Composite Gadget\nC 00  (Defined at Interface level)\n',
    });
    try {
      const { data, errors } = await collect(root);
      assert.equal(errors, null);
      assert.deepEqual(data.usb_devices, [
        { product: 'Widget', vendor: 'Acme', handle: 'USB:2:3' },
        { product: 'Multifunction Composite Gadget', vendor: 'Linux Foundation', handle: 'USB:3:2' },
      ]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('with lshw recorded, its tree wins over sysfs', async () => {
    const root = await tree({
      ...device('usb2', { busnum: '2', devnum: '1', bDeviceClass: '09' }, ['09']),
      ...device('2-1', { busnum: '2', devnum: '3', bDeviceClass: '00', product: 'From sysfs' }, ['ff']),
      // lshw without debugfs sees no USB at all, and IPA then sends an empty list.
      '.commands/lshw_-quiet_-json.out': JSON.stringify([{ id: 'host', class: 'system', children: [] }]),
    });
    try {
      assert.deepEqual((await collect(root)).data.usb_devices, []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
