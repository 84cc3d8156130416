/**
 * The phases of a DIB build, in DIB's order and place
 * (diskimage_builder/lib/disk-image-create: create_base → extra-data →
 * pre-install, install, post-install (in target) → post-root → [block-device]
 * → pre-finalise → finalise (in target) → finalise_base's cleanup).
 *
 * `mounts`: /proc, /dev, /dev/pts and a read-only /sys are mounted in the
 * root while the phase runs. DIB mounts them at the end of create_base
 * (after root.d) and keeps them until after cleanup.d (it unmounts only
 * around block-device.d, which ramdisks refuse), so every phase but root.d
 * sees them.
 */
export const PHASES = [
  { name: 'root.d', chroot: false, targetRoot: true, mounts: false },
  { name: 'extra-data.d', chroot: false, targetRoot: false, mounts: true },
  { name: 'pre-install.d', chroot: true, targetRoot: false, mounts: true },
  { name: 'install.d', chroot: true, targetRoot: false, mounts: true },
  { name: 'post-install.d', chroot: true, targetRoot: false, mounts: true },
  { name: 'post-root.d', chroot: false, targetRoot: false, mounts: true },
  { name: 'pre-finalise.d', chroot: false, targetRoot: false, mounts: true },
  { name: 'finalise.d', chroot: true, targetRoot: false, mounts: true },
  { name: 'cleanup.d', chroot: false, targetRoot: true, mounts: true },
] as const;

export type Phase = (typeof PHASES)[number];
export type PhaseName = Phase['name'];

/** Phase directories a ramdisk build cannot honour: refused before anything runs. */
export const REFUSED_PHASES: Record<string, string> = {
  'block-device.d': 'block-device.d partitions and formats a disk image; ramforge builds ramdisks only (no disk image, no loop device)',
};

/** The PATH of in-chroot scripts (DIB's run_in_target appends the usual directories to the caller's PATH). */
export function chrootPath(hostPath: string): string {
  return `${hostPath}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`;
}
