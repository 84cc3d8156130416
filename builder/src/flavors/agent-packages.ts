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
 * smartctl, for the check before an ATA secure erase (`smartctl -d ata DEV -g
 * security`: a drive behind a USB or RAID bridge is not sent ATA security
 * commands; agent/src/hardware/disks/secure-erase.ts). In the dib flavor, as
 * in IPA's DIB ramdisk (its element installs smartmontools for this), and in
 * the coreos container; not in tinyipa, as not in IPA's tinyipa (its
 * libsystemd0 and libgcrypt20 would cost ~1.5 MB of the 45 MB): there the
 * agent goes ahead without the check, as IPA does when smartctl is absent.
 * smartd, its daemon, is masked in the dib image (ramforge-ramdisk).
 */
export const ATA_BRIDGE_CHECK_PACKAGES = ['smartmontools'];

/**
 * The systemd ramdisk the dib flavor and the coreos flavor's container host
 * both start from: systemd as init, udev, kmod, iproute2 and sshd.
 */
export const SYSTEMD_RAMDISK_PACKAGES = ['systemd', 'systemd-sysv', 'udev', 'kmod', 'iproute2', 'openssh-server'];
