/**
 * Which devices can be virtual media, as IPA's _check_vmedia_device decides:
 * a CD-ROM, or a USB disk under 4 GiB (a BMC's virtual floppy or stick).
 * Shared by the boot-time search for the virtual media (vmedia.ts) and the
 * erase steps' skip of the ir-vfd-dev floppy (safety.ts): a partition or a
 * local disk never is, whatever its label says, since a former tenant can
 * write any label on the node's disks.
 */

/** A USB disk smaller than this can be a BMC's virtual floppy or stick (IPA _check_vmedia_device). */
export const VMEDIA_USB_MAX_BYTES = 4 * 1024 ** 3;

/** A device as lsblk -P -b describes it (NAME without /dev/, TYPE, TRAN, SIZE in bytes); missing facts are undefined or "". */
export type DeviceFacts = Partial<Record<'NAME' | 'TYPE' | 'TRAN' | 'SIZE', string>>;

/**
 * Whether a device can be virtual media. A device lsblk does not describe
 * (no TYPE) counts only when its name is a CD-ROM's.
 */
export function isVmediaCandidate(d: DeviceFacts): boolean {
  if (d.TYPE === 'rom' || (d.TYPE === undefined && /^sr\d+$/.test(d.NAME ?? ''))) return true;
  return d.TYPE === 'disk' && d.TRAN === 'usb' && d.SIZE !== undefined && d.SIZE !== '' && Number(d.SIZE) < VMEDIA_USB_MAX_BYTES;
}

/** "a disk on sata, 500107862016 bytes": what a device is, for messages saying why it is not virtual media. */
export function describeDevice(d: DeviceFacts): string {
  return `a ${d.TYPE || 'device'}${d.TRAN ? ` on ${d.TRAN}` : ''}${d.SIZE ? `, ${d.SIZE} bytes` : ''}`;
}
