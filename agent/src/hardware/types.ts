/**
 * Shapes shared across the agent: the inventory (IPA's serialized fields,
 * names as on the wire), steps, nodes and the hardware-manager contract.
 */

export interface BlockDevice {
  name: string; // "/dev/sda"
  model: string | null;
  size: number; // bytes
  rotational: boolean;
  wwn: string | null;
  serial: string | null;
  vendor: string | null;
  wwn_with_extension: string | null;
  wwn_vendor_extension: string | null;
  hctl: string | null;
  by_path: string | null;
  logical_sectors?: number | null;
  physical_sectors?: number | null;
  tran?: string | null;
  /** Not serialized in the inventory (IPA stores it, never sends it). */
  uuid?: string | null;
  partuuid?: string | null;
  /**
   * Every serial and WWN the disk is known by (lsblk's, then udev's
   * ID_SERIAL_SHORT and ID_SERIAL / ID_WWN): root device hints match any
   * of them, as IPA's get_os_install_device (all_serial_and_wwn). Not
   * serialized.
   */
  serials?: Array<string | null>;
  wwns?: Array<string | null>;
}

export interface NetworkInterface {
  name: string;
  mac_address: string | null;
  ipv4_address: string | null;
  ipv6_address: string | null;
  has_carrier: boolean;
  lldp: Array<[number, string]> | null;
  vendor: string | null;
  product: string | null;
  client_id: string | null;
  biosdevname: string | null;
  speed_mbps?: number | null;
  pci_address?: string | null;
  driver?: string | null;
}

export interface Cpu {
  model_name: string | null;
  frequency: string | null;
  count: number;
  architecture: string;
  flags: string[];
  socket_count?: number;
}

export interface Memory {
  total: number;
  physical_mb: number | null;
}

/** "" for what the machine does not say, as in IPA. */
export interface SystemVendor {
  product_name: string;
  serial_number: string;
  manufacturer: string;
  firmware?: { vendor: string; version: string; build_date: string };
}

export interface BootInfo {
  current_boot_mode: 'uefi' | 'bios';
  pxe_interface: string | null;
  /** ramforge: Secure Boot and kernel lockdown (inventory/boot-security.ts). */
  secure_boot?: boolean | null;
  lockdown?: 'none' | 'integrity' | 'confidentiality' | null;
  lockdown_unavailable?: string[];
  lockdown_denied?: string[];
}

export interface Inventory {
  interfaces: NetworkInterface[];
  cpu: Cpu;
  disks: BlockDevice[];
  memory: Memory;
  bmc_address: string | null;
  bmc_v6address: string | null;
  bmc_mac?: string;
  system_vendor: SystemVendor;
  boot: BootInfo;
  hostname: string;
}

export interface Step {
  step: string;
  priority: number;
  interface: string;
  reboot_requested: boolean;
  abortable?: boolean;
  argsinfo?: Record<string, unknown> | null;
  requires_ramdisk?: boolean;
  [k: string]: unknown;
}

/** The node dict the conductor sends (as_dict(secure=True)); only some keys are typed. */
export interface Node {
  uuid?: string;
  properties?: Record<string, unknown>;
  instance_info?: Record<string, unknown>;
  driver_internal_info?: Record<string, unknown>;
  driver_info?: Record<string, unknown>;
  [k: string]: unknown;
}
export type Port = Record<string, unknown> & { address?: string };

export const HardwareSupport = { NONE: 0, GENERIC: 1, MAINLINE: 2, SERVICE_PROVIDER: 3 } as const;

/**
 * A hardware manager, IPA style: methods are named like IPA's (snake_case) so
 * that a step name is the method name (`erase_devices(node, ports, args)`),
 * and operators port managers 1:1. Everything but evaluate_hardware_support
 * is optional; dispatch skips managers lacking a method. A method throws
 * IncompatibleHardwareMethodError to pass to the next manager.
 */
export interface HardwareManager {
  /** HARDWARE_MANAGER_NAME; defaults to the class name. */
  readonly name?: string;
  /** HARDWARE_MANAGER_VERSION; defaults to "1.0". */
  readonly version?: string;
  evaluate_hardware_support(): number | Promise<number>;
  initialize?(): void | Promise<void>;
  get_clean_steps?(node: Node, ports: Port[]): Step[] | Promise<Step[]>;
  get_deploy_steps?(node: Node, ports: Port[]): Step[] | Promise<Step[]>;
  get_service_steps?(node: Node, ports: Port[]): Step[] | Promise<Step[]>;
  [method: string]: unknown;
}
