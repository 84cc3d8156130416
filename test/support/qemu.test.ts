/** Pure checks of qemu.ts's argv builder (no qemu needed): a unit test beside the helper. */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { OVMF_CODE, qemuArgv } from './qemu.js';

function after(argv: string[], flag: string): string[] {
  return argv.flatMap((a, i) => (a === flag ? [argv[i + 1]!] : []));
}

describe('qemuArgv', () => {
  const saved = process.env.RAMFORGE_QEMU_ACCEL;
  afterEach(() => {
    if (saved === undefined) delete process.env.RAMFORGE_QEMU_ACCEL;
    else process.env.RAMFORGE_QEMU_ACCEL = saved;
  });

  it('uses TCG unless RAMFORGE_QEMU_ACCEL says otherwise', () => {
    delete process.env.RAMFORGE_QEMU_ACCEL;
    assert.deepEqual(after(qemuArgv({}), '-accel'), ['tcg']);
    process.env.RAMFORGE_QEMU_ACCEL = 'kvm';
    assert.deepEqual(after(qemuArgv({}), '-accel'), ['kvm']);
  });

  it('never reboots, has no display or monitor, and puts serial on stdio', () => {
    const argv = qemuArgv({ kernel: '/k', initrd: '/i', append: 'console=ttyS0' });
    for (const f of ['-no-reboot']) assert.ok(argv.includes(f), f);
    assert.deepEqual(after(argv, '-serial'), ['stdio']);
    assert.deepEqual(after(argv, '-monitor'), ['none']);
    assert.deepEqual(after(argv, '-m'), ['512']);
    assert.deepEqual(after(argv, '-append'), ['console=ttyS0']);
  });

  it('forwards ports on 127.0.0.1 only, with a virtio NIC and the given MAC', () => {
    const argv = qemuArgv({
      hostfwd: [
        { hostPort: 8001, guestPort: 9999 },
        { hostPort: 8002, guestPort: 22 },
      ],
      mac: '52:54:00:aa:bb:cc',
    });
    assert.deepEqual(after(argv, '-nic'), [
      'user,model=virtio-net-pci,mac=52:54:00:aa:bb:cc,hostfwd=tcp:127.0.0.1:8001-:9999,hostfwd=tcp:127.0.0.1:8002-:22',
    ]);
  });

  it('boots UEFI from read-only OVMF code and a per-VM variable store', () => {
    const argv = qemuArgv({ firmware: 'uefi', iso: '/x.iso' }, { ovmfVars: '/tmp/vm/vars.fd' });
    assert.deepEqual(after(argv, '-drive').slice(0, 2), [
      `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`,
      'if=pflash,format=raw,file=/tmp/vm/vars.fd',
    ]);
    assert.throws(() => qemuArgv({ firmware: 'uefi' }), /OVMF_VARS/);
  });

  it('attaches the ISO as a boot CD or as a snapshot disk, and data disks as virtio-blk', () => {
    const cd = qemuArgv({ iso: '/x.iso' });
    assert.ok(after(cd, '-drive').includes('if=none,id=iso,media=cdrom,format=raw,readonly=on,file=/x.iso'));
    assert.ok(after(cd, '-device').includes('ide-cd,drive=iso,bootindex=0'));
    const usb = qemuArgv({ iso: '/x.iso', isoMedia: 'disk', disks: [{ path: '/d.qcow2', format: 'qcow2', serial: 'S1' }] });
    assert.ok(after(usb, '-drive').includes('if=none,id=iso,format=raw,snapshot=on,file=/x.iso'));
    assert.ok(after(usb, '-drive').includes('if=none,id=disk0,format=qcow2,file=/d.qcow2'));
    assert.ok(after(usb, '-device').includes('virtio-blk-pci,drive=disk0,serial=S1'));
    const fourK = qemuArgv({ disks: [{ path: '/d.raw', sectorSize: 4096 }] });
    assert.ok(after(fourK, '-device').includes('virtio-blk-pci,drive=disk0,logical_block_size=4096,physical_block_size=4096'));
  });
});
