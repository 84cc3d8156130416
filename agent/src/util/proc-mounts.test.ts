import assert from 'node:assert/strict';
import test from 'node:test';
import { parseProcMounts } from './proc-mounts.js';

test('parseProcMounts: device, mount point and type per line, octal escapes decoded, malformed lines left out', () => {
  const text = [
    'sysfs /sys sysfs rw,nosuid 0 0',
    '/dev/sr0 /mnt/vmedia\\040iso iso9660 ro 0 0',
    'pstore /sys/fs/pstore pstore rw 0 0',
    'tab\\011dev /a\\134b ext4 rw 0 0',
    'broken',
    '',
  ].join('\n');
  assert.deepEqual(parseProcMounts(text), [
    { device: 'sysfs', mountPoint: '/sys', fsType: 'sysfs' },
    { device: '/dev/sr0', mountPoint: '/mnt/vmedia iso', fsType: 'iso9660' },
    { device: 'pstore', mountPoint: '/sys/fs/pstore', fsType: 'pstore' },
    { device: 'tab\tdev', mountPoint: '/a\\b', fsType: 'ext4' },
  ]);
});
