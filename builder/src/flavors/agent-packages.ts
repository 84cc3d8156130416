/**
 * The Debian packages of the programs the agent runs (docs/ramdisk-tools.md),
 * the same in every flavor: tinyipa adds them to busybox, dib to its systemd
 * base, and the coreos Dockerfile installs them too (coreos/dockerfile.test.ts
 * fails when it drifts).
 */
export const AGENT_TOOL_PACKAGES = [
  // mount: util-linux's mount probes the filesystem type (busybox's only tries types already in /proc/filesystems, so an ESP fails while vfat is not loaded).
  'util-linux',
  'mount',
  'gdisk',
  'parted',
  'dosfstools',
  'e2fsprogs',
  'dmidecode',
  'qemu-utils',
  'ipmitool',
  'hdparm',
  'nvme-cli',
  'efibootmgr',
  // LLDP (ipa-collect-lldp): Node has no AF_PACKET sockets; tcpdump (libpcap) captures the frames (agent/src/hardware/inventory/lldp.ts).
  'tcpdump',
  // Software RAID (raid.create_configuration & co): the real mdadm; busybox has none.
  'mdadm',
];

/**
 * The systemd ramdisk the dib flavor and the coreos flavor's container host
 * both start from: systemd as init, udev, kmod, iproute2 and sshd.
 */
export const SYSTEMD_RAMDISK_PACKAGES = ['systemd', 'systemd-sysv', 'udev', 'kmod', 'iproute2', 'openssh-server'];
