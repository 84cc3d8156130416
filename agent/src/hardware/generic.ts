/**
 * GenericHardwareManager: IPA's built-in manager (support GENERIC). It owns
 * inventory, root-disk choice and the standard clean/deploy/service steps;
 * the work itself lives in inventory/, disks/ and image/, imported lazily
 * so an agent that only serves the API does not load download and erase
 * code at start.
 *
 * Name and version are IPA's: 'generic_hardware_manager' '1.1' (the Zed
 * agent; master says '1.2'). The conductor only compares the map it stored
 * from get_*_steps with what execute_*_step reports, so any fixed value
 * works; '1.1' keeps driver_internal_info identical to a Zed IPA, which
 * avoids a spurious version mismatch when a node moves between IPA and
 * ramforge ramdisks in the middle of cleaning.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DeviceNotFound, InvalidCommandParamsError } from '../errors.js';
import { runPrepareImage } from '../image/run-prepare-image.js';
import type { ManagerContext } from './plugins.js';
import {
  HardwareSupport,
  type BlockDevice,
  type HardwareManager,
  type Inventory,
  type NetworkInterface,
  type Node,
  type Port,
  type Step,
} from './types.js';

type StepArgs = Record<string, unknown>;

const step = (name: string, priority: number, extra: Partial<Step> = {}): Step => ({
  step: name,
  priority,
  interface: 'deploy',
  reboot_requested: false,
  abortable: true,
  ...extra,
});

/** Steps this manager can run (ipa-protocol.md §6). RAID, burn-in, inject_files and NVRAM steps are not offered: see the report. */
export function listGenericCleanSteps(): Step[] {
  return [step('erase_devices', 10), step('erase_devices_metadata', 99), step('erase_devices_express', 0), step('erase_pstore', 0)];
}
export function listGenericDeploySteps(): Step[] {
  return [
    step('erase_devices_metadata', 0),
    step('write_image', 0, {
      abortable: false,
      argsinfo: {
        image_info: { description: 'Information about the image to write', required: true },
        configdrive: { description: 'Config drive (base64 gzipped ISO or URL)', required: false },
      },
    }),
  ];
}
export function listGenericServiceSteps(): Step[] {
  return [step('write_image', 0, { abortable: false })];
}

export class GenericHardwareManager implements HardwareManager {
  readonly className = 'GenericHardwareManager';
  readonly name = 'generic_hardware_manager';
  readonly version = '1.1';
  [method: string]: unknown;
  private readonly ctx: ManagerContext;
  /** LLDP heard once is kept (IPA's lldp_data): a capture can wait ipa-lldp-timeout seconds. */
  private readonly lldpCache: { tlvs?: Map<string, Array<[number, string]>> } = {};

  constructor(ctx: ManagerContext) {
    this.ctx = ctx;
  }

  evaluate_hardware_support(): number {
    return HardwareSupport.GENERIC;
  }

  /** IPA waits for the root disk to appear (disk_wait_attempts × disk_wait_delay), then hardware_initialization_delay. */
  async initialize(): Promise<void> {
    const { config, log } = this.ctx;
    for (let attempt = 1; attempt <= Math.max(1, config.diskWaitAttempts); attempt++) {
      try {
        await this.get_os_install_device();
        break;
      } catch (e) {
        if (attempt >= config.diskWaitAttempts) {
          // Not fatal: inspection and lookup must still run on diskless machines.
          log.warn(`no suitable root disk after ${attempt} attempts: ${(e as Error).message}`);
          break;
        }
        await sleep(config.diskWaitDelay * 1000);
      }
    }
    if (config.hardwareInitializationDelay > 0) await sleep(config.hardwareInitializationDelay * 1000);
  }

  private inventoryOptions() {
    const { config, state, run, log } = this.ctx;
    const skip = state.node?.properties?.skip_block_devices;
    return {
      root: config.rootPath,
      // Under a fixture root the inventory replays recorded command output; a live runner would read this host.
      run: config.rootPath === '/' ? run : undefined,
      collectLldp: config.collectLldp,
      lldpTimeout: config.lldpTimeout,
      log,
      lldpCache: this.lldpCache,
      skipBmc: state.lookupConfig.agent_skip_bmc_detect === true,
      bootif: config.bootif,
      skipBlockDevices: Array.isArray(skip) ? (skip as Record<string, unknown>[]) : undefined,
      onlyDisks: config.disks,
    };
  }

  async list_hardware_info(): Promise<Inventory> {
    const { collectInventory } = await import('./inventory/index.js');
    return collectInventory(this.inventoryOptions());
  }

  async list_block_devices(): Promise<BlockDevice[]> {
    const { listBlockDevices } = await import('./inventory/index.js');
    return listBlockDevices(this.inventoryOptions());
  }

  async list_network_interfaces(): Promise<NetworkInterface[]> {
    const [{ collectInterfaces }, { createHostAccess }] = await Promise.all([
      import('./inventory/network.js'),
      import('./inventory/host-access.js'),
    ]);
    const { rootPath } = this.ctx.config;
    return collectInterfaces(createHostAccess({ root: rootPath, run: rootPath === '/' ? this.ctx.run : undefined }));
  }

  /** The device path (e.g. /dev/sda) to deploy onto: root device hints of the cached node, else the smallest disk >= 4 GiB. */
  async get_os_install_device(): Promise<string> {
    const { getOsInstallDevice } = await import('./inventory/index.js');
    const disks = await this.list_block_devices();
    if (disks.length === 0) throw new DeviceNotFound('No block devices found. Check that the disk driver is loaded (lsblk lists no disk).');
    return getOsInstallDevice(disks, this.ctx.state.node).name;
  }

  get_clean_steps(_node: Node, _ports: Port[]): Step[] {
    return listGenericCleanSteps();
  }
  get_deploy_steps(_node: Node, _ports: Port[]): Step[] {
    const steps = listGenericDeploySteps();
    // inject_files priority is configurable in IPA; we do not offer inject_files yet.
    return steps;
  }
  get_service_steps(_node: Node, _ports: Port[]): Step[] {
    return listGenericServiceSteps();
  }

  private diskOptions(node: Node) {
    const dii = node.driver_internal_info ?? {};
    const concurrency = Number(dii.disk_erasure_concurrency ?? this.ctx.config.diskErasureConcurrency) || 1;
    return { run: this.ctx.run, concurrency, node, log: this.ctx.log, guardSpecialFilesystems: this.ctx.config.guardSpecialFilesystems };
  }

  /**
   * erase_devices: every disk is checked first (virtual media and RAID
   * members skipped, shared-disk filesystems refused), then each one is
   * erased by erase_block_device dispatched through the hardware managers,
   * so a site manager can take over one kind of disk and raise
   * IncompatibleHardwareMethodError for the others.
   */
  async erase_devices(node: Node, _ports: Port[], _args: StepArgs = {}): Promise<Record<string, unknown>> {
    const { eraseDevices } = await import('./disks/index.js');
    return eraseDevices(await this.list_block_devices(), node, {
      ...this.diskOptions(node),
      eraseOne: (d) => this.ctx.dispatchToManagers('erase_block_device', node, d),
    });
  }

  /** IPA's erase_block_device(node, block_device): firmware erase or the verified overwrite; returns what ran. */
  async erase_block_device(node: Node, blockDevice: BlockDevice): Promise<string> {
    const [{ eraseBlockDevice, readEraseSettings }, { createDiskIo }] = await Promise.all([
      import('./disks/erase-block-device.js'),
      import('./disks/overwrite-io.js'),
    ]);
    const { run, log } = this.ctx;
    return eraseBlockDevice(blockDevice.name, readEraseSettings(node), { run, io: createDiskIo(run), log });
  }

  async erase_devices_metadata(node: Node, _ports: Port[], _args: StepArgs = {}): Promise<Record<string, string>> {
    const { eraseDevicesMetadata } = await import('./disks/index.js');
    return eraseDevicesMetadata(await this.list_block_devices(), this.diskOptions(node));
  }

  async erase_devices_express(node: Node, _ports: Port[], _args: StepArgs = {}): Promise<unknown> {
    const { eraseDevicesExpress } = await import('./disks/index.js');
    return eraseDevicesExpress(await this.list_block_devices(), node, this.diskOptions(node));
  }

  /** Remove kernel crash records (/sys/fs/pstore/*): they can carry the previous tenant's data. */
  async erase_pstore(_node: Node, _ports: Port[], _args: StepArgs = {}): Promise<void> {
    const { readdir, rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const dir = join(this.ctx.config.rootPath, 'sys/fs/pstore');
    const entries = await readdir(dir).catch(() => [] as string[]);
    for (const e of entries) await rm(join(dir, e), { force: true, recursive: true });
  }

  /** The deploy step behind out-of-band write_image: standby.prepare_image, waited for (IPA returns cmd.wait()). */
  async write_image(_node: Node, _ports: Port[], args: StepArgs = {}): Promise<unknown> {
    const imageInfo = args.image_info;
    if (typeof imageInfo !== 'object' || imageInfo === null || Array.isArray(imageInfo)) {
      throw new InvalidCommandParamsError('write_image needs args.image_info (an object with id, urls and a checksum)');
    }
    const configdrive = typeof args.configdrive === 'string' ? args.configdrive : null;
    const result = await runPrepareImage(this.ctx, imageInfo as Record<string, unknown>, configdrive);
    return { result: `prepare_image: ${result}` };
  }
}
