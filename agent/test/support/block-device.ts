/** A BlockDevice for tests: a 1 GiB solid-state disk with no identifiers, overridden by `o`. */
import type { BlockDevice } from '../../src/hardware/types.js';

export function testBlockDevice(o: Partial<BlockDevice> & { name: string }): BlockDevice {
  return {
    model: '',
    size: 1 << 30,
    rotational: false,
    wwn: null,
    serial: null,
    vendor: null,
    wwn_with_extension: null,
    wwn_vendor_extension: null,
    hctl: null,
    by_path: null,
    ...o,
  };
}
