import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../errors.js';
import { moduleName, parseModuleIndex, selectFromIndex } from './modules.js';

const DEP = `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko:
kernel/drivers/net/ethernet/intel/igb/igb.ko: kernel/drivers/dca/dca.ko kernel/drivers/i2c/algos/i2c-algo-bit.ko
kernel/drivers/dca/dca.ko:
kernel/drivers/i2c/algos/i2c-algo-bit.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/arch/x86/crypto/crc32c-intel.ko.xz:
kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko
kernel/drivers/nvme/host/nvme-core.ko:
kernel/drivers/scsi/sd_mod.ko: kernel/drivers/scsi/scsi_mod.ko
kernel/drivers/scsi/scsi_mod.ko:
kernel/drivers/gpu/drm/drm.ko:
`;
const SOFTDEP = `# Soft dependencies extracted from modules themselves.
softdep ext4 pre: crypto-crc32c
softdep jbd2 pre: crypto-crc32c
`;
const ALIAS = `# Aliases extracted from modules themselves.
alias crypto-crc32c crc32c_generic
alias crypto-crc32c crc32c_intel
alias pci:v00001AF4d00001041sv*sd*bc*sc*i* virtio_net
`;
const BUILTIN = 'kernel/drivers/block/virtio_blk.ko\nkernel/fs/vfat/vfat.ko\n';

const idx = parseModuleIndex({ dep: DEP, softdep: SOFTDEP, alias: ALIAS, builtin: BUILTIN });

test('moduleName normalises paths, suffixes and dashes', () => {
  assert.equal(moduleName('kernel/drivers/nvme/host/nvme-core.ko'), 'nvme_core');
  assert.equal(moduleName('kernel/arch/x86/crypto/crc32c-intel.ko.xz'), 'crc32c_intel');
  assert.equal(moduleName('nls_iso8859-1'), 'nls_iso8859_1');
});

test('net set: whole ethernet dir + virtio_net, closed over modules.dep', () => {
  assert.deepEqual(selectFromIndex(idx, ['net']), [
    'kernel/drivers/dca/dca.ko',
    'kernel/drivers/i2c/algos/i2c-algo-bit.ko',
    'kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko',
    'kernel/drivers/net/ethernet/intel/igb/igb.ko',
    'kernel/drivers/net/net_failover.ko',
    'kernel/drivers/net/virtio_net.ko',
    'kernel/net/core/failover.ko',
  ]);
});

test('fs set follows softdeps through aliases (ext4 → crypto-crc32c → both crc32c modules)', () => {
  const fs = selectFromIndex(idx, ['fs']);
  for (const m of [
    'kernel/fs/ext4/ext4.ko',
    'kernel/fs/jbd2/jbd2.ko',
    'kernel/lib/crc16.ko',
    'kernel/crypto/crc32c_generic.ko',
    'kernel/arch/x86/crypto/crc32c-intel.ko.xz',
  ]) {
    assert.ok(fs.includes(m), m);
  }
  assert.ok(!fs.some((m) => m.includes('drm')));
});

test('storage set: names missing from the kernel are skipped; extra names; built-ins accepted', () => {
  assert.deepEqual(selectFromIndex(idx, ['storage'], ['virtio_blk', 'drm']), [
    'kernel/drivers/gpu/drm/drm.ko',
    'kernel/drivers/nvme/host/nvme-core.ko',
    'kernel/drivers/nvme/host/nvme.ko',
    'kernel/drivers/scsi/scsi_mod.ko',
    'kernel/drivers/scsi/sd_mod.ko',
  ]);
});

test('unknown extra module and unknown set are UserErrors', () => {
  assert.throws(
    () => selectFromIndex(idx, [], ['no_such_mod']),
    (e: unknown) => e instanceof UserError && /no_such_mod/.test(e.message),
  );
  assert.throws(
    () => selectFromIndex(idx, ['gpu' as never]),
    (e: unknown) => e instanceof UserError && /unknown module set 'gpu'/.test(e.message),
  );
});
