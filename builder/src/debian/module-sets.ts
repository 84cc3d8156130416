/**
 * Named sets of kernel modules for a provisioning ramdisk. A set is a list
 * of directories (everything below them) and module names; names missing
 * from a given kernel (built in, or not configured) are skipped silently.
 * Firmware blobs many NICs/HBAs load are not modules: see the firmware-*
 * packages.
 */

/** The set names, in the order the spec schema lists them. */
export const MODULE_SET_NAMES = ['net', 'net-all', 'net-extra', 'storage', 'virtio', 'fs', 'fs-extra', 'usb', 'ipmi', 'raid'] as const;
export type ModuleSet = (typeof MODULE_SET_NAMES)[number];

export interface ModuleSetRule {
  /** Module directories relative to lib/modules/<ver>/, e.g. 'kernel/drivers/net/ethernet/'. */
  dirs: string[];
  /** Module names ('-' and '_' are the same). */
  names: string[];
}

export const MODULE_SETS: Record<ModuleSet, ModuleSetRule> = {
  // The NICs servers and clouds commonly have (half the size of every
  // Ethernet driver); 'net-all' adds the rest, legacy and embedded included.
  net: {
    dirs: [],
    names: [
      'virtio_net',
      'af_packet',
      'ipv6',
      'vmxnet3',
      'hv_netvsc',
      'xen-netfront',
      'ena',
      'gve',
      'mdio',
      'mii',
      'e1000',
      'e1000e',
      'igb',
      'igc',
      'ixgbe',
      'ixgbevf',
      'i40e',
      'iavf',
      'ice',
      'tg3',
      'bnx2',
      'bnx2x',
      'bnxt_en',
      'mlx4_en',
      'mlx5_core',
      'r8169',
      '8139cp',
      '8139too',
      'qede',
      'sfc',
      'be2net',
      'cxgb4',
      'enic',
      'hinic',
      'atlantic',
      'ionic',
    ],
  },
  'net-all': {
    dirs: ['kernel/drivers/net/ethernet/'],
    names: ['virtio_net', 'af_packet', 'ipv6', 'vmxnet3', 'hv_netvsc', 'xen-netfront', 'ena', 'gve', 'mdio', 'mii'],
  },
  // Link aggregation and VLANs for images configured with bonds or tagged networks.
  'net-extra': {
    dirs: [],
    names: ['bonding', '8021q', 'team', 'team_mode_activebackup', 'team_mode_loadbalance', 'macvlan', 'tun', 'bridge'],
  },
  storage: {
    dirs: [
      'kernel/drivers/nvme/host/',
      'kernel/drivers/ata/',
      'kernel/drivers/scsi/megaraid/',
      'kernel/drivers/scsi/mpt3sas/',
      'kernel/drivers/scsi/smartpqi/',
      'kernel/drivers/scsi/aacraid/',
      'kernel/drivers/message/fusion/',
      'kernel/drivers/scsi/device_handler/',
    ],
    names: [
      'sd_mod',
      'sr_mod',
      'sg',
      'cdrom',
      'scsi_mod',
      'scsi_transport_sas',
      'hpsa',
      'isci',
      'pm80xx',
      'mvsas',
      'mvumi',
      'arcmsr',
      '3w-9xxx',
      '3w-sas',
      'hv_storvsc',
      'xen-blkfront',
      'vmw_pvscsi',
      'nvme',
      'nvme-core',
      'virtio_blk',
      'virtio_scsi',
      'mmc_block',
      'sdhci',
      'sdhci-pci',
      'sdhci-acpi',
      'loop',
      'nbd',
    ],
  },
  virtio: {
    dirs: ['kernel/drivers/virtio/', 'kernel/drivers/char/hw_random/'],
    names: ['virtio_net', 'virtio_blk', 'virtio_scsi', 'virtio_console', 'virtio_rng', 'virtio_balloon', 'virtio_pci', 'virtio_mmio'],
  },
  // Config drives (vfat/iso9660), partition images (ext4, and xfs: the root filesystem of the RHEL family's
  // images, which install_bootloader mounts), the ESP and efivars for boot entries; the EFI backend of pstore,
  // whose crash records erase_pstore removes.
  fs: {
    dirs: [],
    names: [
      'efi-pstore',
      'vfat',
      'fat',
      'msdos',
      'ext4',
      'xfs',
      'isofs',
      'udf',
      'squashfs',
      'overlay',
      'efivarfs',
      'nls_cp437',
      'nls_iso8859-1',
      'nls_utf8',
      'nls_ascii',
      'crc32c_generic',
      'crc32c-intel',
    ],
  },
  // Rarer root filesystems of partition images (for install_bootloader); xfs is in fs.
  'fs-extra': { dirs: [], names: ['btrfs'] },
  ipmi: {
    dirs: ['kernel/drivers/char/ipmi/'],
    names: ['ipmi_si', 'ipmi_devintf', 'ipmi_ssif', 'ipmi_msghandler', 'acpi_ipmi'],
  },
  // Virtual media and USB sticks (usb-storage/uas), keyboards, and the BMC's
  // USB NIC (cdc_ether / rndis_host) that Redfish host interfaces use.
  usb: {
    dirs: ['kernel/drivers/usb/host/', 'kernel/drivers/usb/storage/'],
    names: ['usb-storage', 'uas', 'usbhid', 'hid-generic', 'usbnet', 'cdc_ether', 'rndis_host', 'cdc_ncm', 'r8152', 'ax88179_178a'],
  },
  // Software RAID (IPA's RAID configuration) and device-mapper.
  raid: {
    dirs: [],
    names: ['md-mod', 'raid0', 'raid1', 'raid10', 'raid456', 'linear', 'dm-mod', 'dm-mirror', 'dm-raid'],
  },
};

/** The sets a provisioning ramdisk gets unless the spec says otherwise. */
// net-extra: bonds and VLANs from a virtual-media network_data.json (DHCP-less deploys) need bonding and 8021q.
export const DEFAULT_MODULE_SETS: readonly ModuleSet[] = ['virtio', 'net', 'net-extra', 'storage', 'fs', 'usb', 'ipmi', 'raid'];

export function isModuleSet(s: string): s is ModuleSet {
  return Object.hasOwn(MODULE_SETS, s);
}
