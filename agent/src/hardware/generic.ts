/**
 * GenericHardwareManager: IPA's built-in manager (support GENERIC). It owns
 * inventory, root-disk choice and the standard clean/deploy/service steps;
 * the work itself lives in inventory/, disks/ and image/, imported lazily
 * so an agent that only serves the API does not load download and erase
 * code at start.
 *
 * Name and version are IPA master's: 'generic_hardware_manager' '1.2' (IPA
 * 9.7.0, 2023.2, raised it from '1.1' with service steps, which this agent
 * has). The conductor (Ironic 21.4 as master) never interprets the value: it
 * stores the map get_*_steps returned in driver_internal_info and sends it
 * back with each execute_*_step, and the agent compares the two maps for
 * equality. A node whose steps were cached by an agent that said '1.1' (an
 * older ramforge, IPA 9.6 or earlier) and that then runs this one gets
 * VERSION_MISMATCH once: the conductor refreshes the steps and restarts
 * automated cleaning (manual cleaning re-runs the current step), as after
 * any IPA upgrade between reboots.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeviceNotFound, InvalidCommandParamsError } from '../errors.js';
import { runPrepareImage } from '../image/run-prepare-image.js';
import { dirEntries, sleepUntilDirChanges } from '../util/dir-change.js';
import type { LldpCache } from './inventory/lldp.js';
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

/** IPA's RAID_APPLY_CONFIGURATION_ARGSINFO. */
const RAID_APPLY_ARGSINFO = {
  raid_config: { description: 'The RAID configuration to apply.', required: true },
  delete_existing: {
    description:
      "Setting this to 'True' indicates to delete existing RAID configuration prior to creating the new configuration. Default value is 'True'.",
    required: false,
  },
};
/** A raid-interface step; apply_configuration, like IPA's, says nothing about abortable. */
const raidStep = (name: string, extra: Partial<Step> = {}): Step => {
  const s = step(name, 0, { interface: 'raid', ...extra });
  if (name === 'apply_configuration') delete s.abortable;
  return s;
};

/** IPA's DEPLOY_CLEAN_UEFI_NVRAM_ARGSINFO (the default list is uefi-nvram.ts's DEFAULT_NVRAM_MATCH_PATTERNS). */
const CLEAN_UEFI_NVRAM_ARGSINFO = {
  match_patterns: {
    description:
      'A list of regular expressions (JSON); every UEFI NVRAM boot entry whose device path matches one of them ' +
      '(case-insensitively) is deleted. Default value is \'["^HD\\(", "shim.*\\.efi", "grub.*\\.efi"]\'',
    required: false,
  },
};

/** Steps this manager can run (ipa-protocol.md §6). Burn-in and execute_bootc_install are not offered: see README "Known gaps". */
export function listGenericCleanSteps(): Step[] {
  return [
    step('erase_devices', 10),
    step('erase_devices_metadata', 99),
    step('erase_devices_express', 0),
    step('erase_pstore', 0),
    step('clean_uefi_nvram', 0, { argsinfo: CLEAN_UEFI_NVRAM_ARGSINFO }),
    raidStep('delete_configuration'),
    raidStep('create_configuration'),
  ];
}
/** inject_files' arguments as the conductor shows them (here, not in inject-files.ts, which loads on first use). */
export const INJECT_FILES_ARGSINFO = {
  files: {
    description:
      "Files to inject: a list of objects with 'path' (absolute path of the file), 'partition' (partition number on the " +
      "install disk or a mount source such as UUID=...; default: the partition holding the path's top directory), " +
      "'content' (base64 encoded, or an http(s) URL), 'deleted' (true to remove the file), 'mode', 'owner', 'group' " +
      "and 'dirmode' (integers; dirmode applies to a directory created for the file). Merged after node.properties[inject_files].",
    required: false,
  },
  verify_ca: {
    description: 'Whether to verify the TLS certificates of content URLs (default: the agent-wide TLS options).',
    required: false,
  },
};
/** IPA's inject_files deploy/service step: priority ipa-inject-files-priority (0: run only when asked for). */
function injectFilesStep(priority: number): Step {
  return deployOnly(step('inject_files', priority, { argsinfo: INJECT_FILES_ARGSINFO }));
}
/** IPA's deploy-step entries of inject_files and clean_uefi_nvram say nothing about abortable (deploy steps are not aborted). */
function deployOnly(s: Step): Step {
  delete s.abortable;
  return s;
}

export function listGenericDeploySteps(injectFilesPriority = 0): Step[] {
  return [
    step('erase_devices_metadata', 0),
    raidStep('apply_configuration', { argsinfo: RAID_APPLY_ARGSINFO }),
    deployOnly(step('clean_uefi_nvram', 0, { argsinfo: CLEAN_UEFI_NVRAM_ARGSINFO })),
    step('write_image', 0, {
      abortable: false,
      argsinfo: {
        image_info: { description: 'Information about the image to write', required: true },
        configdrive: { description: 'Config drive (base64 gzipped ISO or URL)', required: false },
      },
    }),
    injectFilesStep(injectFilesPriority),
  ];
}
export function listGenericServiceSteps(injectFilesPriority = 0): Step[] {
  // Ironic 2023.2+ offers service steps; the RAID ones are IPA's (Zed's conductor never asks for them).
  return [
    raidStep('delete_configuration'),
    raidStep('apply_configuration', { argsinfo: RAID_APPLY_ARGSINFO }),
    raidStep('create_configuration'),
    step('write_image', 0, { abortable: false }),
    injectFilesStep(injectFilesPriority),
  ];
}

/** How often the root-disk wait looks (seconds), at most. */
export const DISK_POLL_S = 0.5;

/** The root-disk wait: IPA's budget ((attempts - 1) sleeps of delay s; one look when attempts ≤ 1), looked at every min(delay, DISK_POLL_S). */
export function diskWaitPlan(attempts: number, delayS: number): { budgetMs: number; pollMs: number } {
  const delayMs = Math.max(0, delayS) * 1000;
  return { budgetMs: Math.max(0, Math.floor(attempts) - 1) * delayMs, pollMs: Math.min(delayMs, DISK_POLL_S * 1000) };
}

/**
 * IPA's _load_ipmi_modules: udev loads ipmi_si for a BMC it finds (SMBIOS,
 * ACPI), but nothing loads ipmi_devintf, which makes /dev/ipmi0; without it
 * ipmitool has no device and the inventory no bmc_address (by which
 * Inspector finds the node). A module that is missing is no error. Not
 * with --disks (a developer's host), as the md assemble.
 *
 * Unlike IPA, only where the firmware describes a BMC (bmcDescribed): each
 * modprobe costs ~0.4 s of a TCG boot's one vCPU, and ipmi_si finds no
 * other BMC anyway (Debian's kernels have no IPMI_SI_PROBE_DEFAULTS).
 */
async function loadIpmiModules(run: ManagerContext['run'], describesBmc: () => Promise<boolean>): Promise<void> {
  if (!(await describesBmc())) return;
  for (const m of ['ipmi_msghandler', 'ipmi_devintf', 'ipmi_si']) await run(['modprobe', m], { timeoutMs: 30_000 }).catch(() => undefined);
}

/** kmod's configuration directories, where `options ipmi_si ...` may be. */
const MODPROBE_DIRS = ['etc/modprobe.d', 'run/modprobe.d', 'usr/local/lib/modprobe.d', 'usr/lib/modprobe.d', 'lib/modprobe.d'];

/** `ipmi_si.x=` on the kernel command line (quoted or not) or `options ipmi_si` in a modprobe.d file; kmod reads "-" as "_" in module names. */
async function ipmiSiGivenByHand(root: string): Promise<boolean> {
  if (/(^|\s)"?ipmi[-_]si\./.test(await readFile(join(root, 'proc/cmdline'), 'utf8').catch(() => ''))) return true;
  for (const dir of MODPROBE_DIRS) {
    for (const n of (await readdir(join(root, dir)).catch(() => [] as string[])).filter((f) => f.endsWith('.conf'))) {
      const text = await readFile(join(root, dir, n), 'utf8').catch(() => '');
      if (/^\s*options\s+ipmi[-_]si\s/m.test(text)) return true;
    }
  }
  return false;
}

/**
 * Whether ipmi_si has a BMC to drive: an SMBIOS type 38 (IPMI Device
 * Information) entry, an ACPI IPI0001 device or a PCI IPMI controller
 * (class 0c07), or one given to ipmi_si by hand (`ipmi_si.` on the kernel
 * command line, an `options ipmi_si` line in /etc/modprobe.d). True where
 * that cannot be read (no DMI in sysfs) and off x86, where a device tree
 * may describe the BMC: there the modules are loaded as IPA does.
 */
export async function bmcDescribed(root: string, arch: string = process.arch): Promise<boolean> {
  if (arch !== 'x64' && arch !== 'ia32') return true;
  const [dmi, acpi, pci] = await Promise.all(
    ['sys/firmware/dmi/entries', 'sys/bus/acpi/devices', 'sys/bus/pci/devices'].map((d) => readdir(join(root, d)).catch(() => undefined)),
  );
  if (dmi === undefined) return true;
  if (dmi.some((n) => n.startsWith('38-')) || acpi?.some((n) => n.startsWith('IPI0001:'))) return true;
  if (await ipmiSiGivenByHand(root)) return true;
  const classes = await Promise.all(
    (pci ?? []).map((d) => readFile(join(root, 'sys/bus/pci/devices', d, 'class'), 'utf8').catch(() => '')),
  );
  return classes.some((c) => c.trim().toLowerCase().startsWith('0x0c07'));
}

export class GenericHardwareManager implements HardwareManager {
  readonly className = 'GenericHardwareManager';
  readonly name = 'generic_hardware_manager';
  readonly version = '1.2';
  [method: string]: unknown;
  private readonly ctx: ManagerContext;
  /** LLDP heard once is kept (IPA's lldp_data): a capture can wait ipa-lldp-timeout seconds. */
  private readonly lldpCache: LldpCache = {};

  constructor(ctx: ManagerContext) {
    this.ctx = ctx;
  }

  /** Capture LLDP afresh at the next listing (collect-introspection-data's daemon rounds: IPA captures at each). */
  forgetLldp(): void {
    delete this.lldpCache.tlvs;
  }

  evaluate_hardware_support(): number {
    return HardwareSupport.GENERIC;
  }

  /** bmcDescribed on this machine (a seam for tests, which must not read the host's /sys). */
  protected firmwareDescribesBmc(): Promise<boolean> {
    return bmcDescribed(this.ctx.config.rootPath);
  }

  /** IPA's _enable_multipath (multipath.ts): only where the ramdisk has multipathd. */
  private async startMultipath(): Promise<void> {
    const [{ enableMultipath }, { hasLiveCommand }] = await Promise.all([import('./multipath.js'), import('./inventory/host-access.js')]);
    if (await enableMultipath({ run: this.ctx.run, log: this.ctx.log, root: '/', hasCommand: hasLiveCommand }))
      this.ctx.log.info('multipath: multipathd started');
  }

  /**
   * IPA waits for the root disk to appear (disk_wait_attempts tries, disk_wait_delay apart), then
   * hardware_initialization_delay. The same time budget here, (attempts - 1) × delay, but the disks are looked at
   * every DISK_POLL_S (or every delay, if shorter), and at once when /sys/block changes: the agent starts while
   * udev still loads the storage drivers, and a disk shows up within a fraction of a second of its driver; IPA's
   * 3 s sleep after a miss just before that cost up to 3 s of a boot (dib, TCG: the first look 1 s before
   * virtio_blk loaded, the API 3 s later). Never fewer looks than IPA's disk_wait_attempts, however late the timers
   * fire on a loaded machine.
   */
  async initialize(): Promise<void> {
    const { config, log } = this.ctx;
    // Not in --standalone runs on a developer's host (nor with --disks, see assembleArrays): a scan would assemble the host's arrays.
    if (config.rootPath === '/' && !config.standalone) {
      // IPA's _md_scan_and_assemble: arrays built by an earlier boot (cleaning) are there for the deploy.
      const { assembleArrays } = await import('./raid/software-raid.js');
      // IPA's order for md and multipath: arrays first, so multipathd does not claim an array member's paths meanwhile.
      await Promise.all([
        assembleArrays(this.ctx.run, config.disks).then(() => (config.disks.length ? undefined : this.startMultipath())),
        config.disks.length ? undefined : loadIpmiModules(this.ctx.run, () => this.firmwareDescribesBmc()),
      ]);
    }
    const { budgetMs, pollMs } = diskWaitPlan(config.diskWaitAttempts, config.diskWaitDelay);
    const deadline = Date.now() + budgetMs;
    for (let look = 1; ; look++) {
      const seen = await dirEntries(join(config.rootPath, 'sys/block'));
      try {
        await this.get_os_install_device();
        break;
      } catch (e) {
        const late = Date.now() >= deadline;
        if (late && look >= Math.floor(config.diskWaitAttempts)) {
          // Not fatal: inspection and lookup must still run on diskless machines.
          log.warn(`no suitable root disk after ${look} looks in ${Math.round(budgetMs / 1000)} s: ${(e as Error).message}`);
          break;
        }
        const waitMs = late ? pollMs : Math.min(pollMs, Math.max(0, deadline - Date.now()));
        await sleepUntilDirChanges(join(config.rootPath, 'sys/block'), seen, waitMs);
      }
    }
    if (config.hardwareInitializationDelay > 0) await sleep(config.hardwareInitializationDelay * 1000);
  }

  private inventoryOptions() {
    const { config, state, run, log } = this.ctx;
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
      onlyDisks: config.disks,
      enableVlanInterfaces: config.enableVlanInterfaces,
    };
  }

  /** The whole inventory: every disk, skip_block_devices or not (IPA's list_hardware_info reports them all). */
  async list_hardware_info(): Promise<Inventory> {
    const { collectInventory } = await import('./inventory/index.js');
    return collectInventory(this.inventoryOptions());
  }

  /** The disks the steps and the install device choice work on: an invalid skip_block_devices fails (see listBlockDevices). */
  async list_block_devices(): Promise<BlockDevice[]> {
    const { listBlockDevices } = await import('./inventory/index.js');
    return listBlockDevices({
      ...this.inventoryOptions(),
      skipBlockDevices: this.ctx.state.node?.properties?.skip_block_devices,
      strictSkipList: true,
      onSkipped: (names) => {
        // Once per change: the steps list the disks several times.
        const line = `skip_block_devices leaves out ${names.join(', ')}`;
        if (line !== this.lastSkipLog) this.ctx.log.info(line);
        this.lastSkipLog = line;
      },
    });
  }
  private lastSkipLog = '';

  async list_network_interfaces(): Promise<NetworkInterface[]> {
    const [{ listNetworkInterfaces }, { createHostAccess }] = await Promise.all([
      import('./inventory/network.js'),
      import('./inventory/host-access.js'),
    ]);
    const { rootPath, enableVlanInterfaces, collectLldp, lldpTimeout } = this.ctx.config;
    return listNetworkInterfaces(createHostAccess({ root: rootPath, run: rootPath === '/' ? this.ctx.run : undefined }), {
      enableVlanInterfaces,
      collectLldp,
      lldpTimeout,
      lldpCache: this.lldpCache,
      log: this.ctx.log,
    });
  }

  /**
   * The device path (e.g. /dev/sda) to deploy onto: with a software RAID,
   * its root volume (see raid/install-device.ts); else root device hints of
   * the cached node, else the smallest disk >= 4 GiB.
   */
  async get_os_install_device(): Promise<string> {
    const [{ getOsInstallDevice }, { chooseRaidInstallDevice }] = await Promise.all([
      import('./inventory/index.js'),
      import('./raid/install-device.js'),
    ]);
    const disks = await this.list_block_devices();
    if (disks.length === 0) throw new DeviceNotFound('No block devices found. Check that the disk driver is loaded (lsblk lists no disk).');
    const { node } = this.ctx.state;
    const raid = await chooseRaidInstallDevice(disks, node, this.raidRootVolumes, this.ctx.run, this.ctx.log);
    if (raid.device) return raid.device;
    return getOsInstallDevice(raid.candidates, node).name;
  }

  get_clean_steps(_node: Node, _ports: Port[]): Step[] {
    return listGenericCleanSteps();
  }
  get_deploy_steps(_node: Node, _ports: Port[]): Step[] {
    return listGenericDeploySteps(this.ctx.config.injectFilesPriority);
  }
  get_service_steps(_node: Node, _ports: Port[]): Step[] {
    return listGenericServiceSteps(this.ctx.config.injectFilesPriority);
  }

  private diskOptions(node: Node) {
    const dii = node.driver_internal_info ?? {};
    const concurrency = Number(dii.disk_erasure_concurrency ?? this.ctx.config.diskErasureConcurrency) || 1;
    return { run: this.ctx.run, concurrency, node, log: this.ctx.log, guardSpecialFilesystems: this.ctx.config.guardSpecialFilesystems };
  }

  /** The disks the erase steps work on: software RAID volumes kept by skip_block_devices volume names are left out. */
  private async eraseTargets(node: Node, includeWipe: boolean): Promise<BlockDevice[]> {
    const { filterRaidSkipList } = await import('./raid/software-raid.js');
    return filterRaidSkipList(await this.list_block_devices(), node, this.ctx.run, includeWipe);
  }

  /**
   * erase_devices: every disk is checked first (virtual media and RAID
   * members skipped, shared-disk filesystems refused), then each one is
   * erased by erase_block_device dispatched through the hardware managers,
   * so a site manager can take over one kind of disk and raise
   * IncompatibleHardwareMethodError for the others.
   */
  async erase_devices(node: Node, _ports: Port[], _args: StepArgs = {}): Promise<Record<string, unknown>> {
    const { describeEraseResult, eraseDevices } = await import('./disks/index.js');
    return eraseDevices(await this.eraseTargets(node, false), node, {
      ...this.diskOptions(node),
      eraseOne: async (d) => {
        const { manager, result } = await this.ctx.dispatchToManagersWithName('erase_block_device', node, d);
        const how = describeEraseResult(result, manager);
        if (how.startsWith('not confirmed:')) this.ctx.log.warn(`erase_devices: ${d.name}: ${how}`);
        return how;
      },
    });
  }

  /**
   * IPA's erase_block_device(node, block_device): firmware erase or the
   * verified overwrite; returns what ran. Like IPA's it checks its disk
   * itself (virtual media and RAID members skipped, read-only refused unless
   * allowed, and here shared-disk filesystems too), so a site manager that
   * dispatches it per disk cannot erase what erase_devices would skip.
   */
  async erase_block_device(node: Node, blockDevice: BlockDevice): Promise<string> {
    if (typeof blockDevice?.name !== 'string' || !blockDevice.name.startsWith('/dev/')) {
      throw new InvalidCommandParamsError(`erase_block_device needs a block device with a /dev/ name, not ${JSON.stringify(blockDevice)}`);
    }
    const [{ eraseBlockDevice, readEraseSettings }, { createDiskIo }, { checkDiskBeforeErase }] = await Promise.all([
      import('./disks/erase-block-device.js'),
      import('./disks/overwrite-io.js'),
      import('./disks/index.js'),
    ]);
    const skip = await checkDiskBeforeErase(blockDevice, node ?? {}, this.diskOptions(node ?? {}));
    if (skip) return skip;
    const { run, log } = this.ctx;
    return eraseBlockDevice(blockDevice.name, readEraseSettings(node), { run, io: createDiskIo(run), log });
  }

  async erase_devices_metadata(node: Node, _ports: Port[], _args: StepArgs = {}): Promise<Record<string, string>> {
    const { eraseDevicesMetadata } = await import('./disks/index.js');
    return eraseDevicesMetadata(await this.eraseTargets(node, true), this.diskOptions(node));
  }

  async erase_devices_express(node: Node, _ports: Port[], _args: StepArgs = {}): Promise<unknown> {
    const { eraseDevicesExpress } = await import('./disks/index.js');
    return eraseDevicesExpress(await this.eraseTargets(node, true), node, this.diskOptions(node));
  }

  /**
   * Remove kernel crash records (pstore): they can carry the previous tenant's data. Loads efi_pstore and mounts
   * pstore when no ramdisk did (see pstore.ts); the result says what was removed, or that no pstore was found.
   */
  async erase_pstore(_node: Node, _ports: Port[], _args: StepArgs = {}): Promise<string> {
    const { erasePstore } = await import('./pstore.js');
    return erasePstore(this.ctx.config.rootPath, this.ctx.run, this.ctx.log);
  }

  /** md device → is_root_volume of the arrays this agent created (IPA's _raid_root_device_mapping). */
  private raidRootVolumes: Record<string, boolean> = {};

  private async raidContext() {
    const { detectBootMode } = await import('../image/run-prepare-image.js');
    return {
      run: this.ctx.run,
      log: this.ctx.log,
      listDisks: () => this.list_block_devices(),
      ramdiskBootMode: detectBootMode(this.ctx.config),
      onlyDisks: this.ctx.config.disks,
    };
  }

  /** raid.create_configuration (clean/service step): the node's target_raid_config, software volumes only. */
  async create_configuration(node: Node, _ports: Port[], _args: StepArgs = {}): Promise<unknown> {
    const { createSoftwareRaid } = await import('./raid/software-raid.js');
    // node.target_raid_config, as IPA: the copy the conductor filters by create_root_volume/create_nonroot_volumes
    // (driver_internal_info) lacks the root volume with create_root_volume=False, and software RAID lays the
    // volumes out from the root one (RAID-1, first), so that copy would fail validation or put another volume there.
    const created = await createSoftwareRaid(node.target_raid_config, node, await this.raidContext());
    Object.assign(this.raidRootVolumes, created.rootVolumes);
    return created.config;
  }

  /** raid.delete_configuration (clean/service step): every software RAID on the node's disks, except volumes on the skip list. */
  async delete_configuration(node: Node, _ports: Port[], _args: StepArgs = {}): Promise<unknown> {
    const { deleteSoftwareRaid } = await import('./raid/software-raid.js');
    const result = await deleteSoftwareRaid(node, await this.raidContext());
    for (const [md, action] of Object.entries(result)) if (action === 'delete') delete this.raidRootVolumes[md];
    return result;
  }

  /** raid.apply_configuration (deploy/service step): args.raid_config, after deleting the existing RAID unless delete_existing is false. */
  async apply_configuration(node: Node, ports: Port[], args: StepArgs = {}): Promise<unknown> {
    const { createSoftwareRaid, validateConfiguration } = await import('./raid/software-raid.js');
    const { raid_config: config, delete_existing: deleteExisting = true } = args;
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new InvalidCommandParamsError('apply_configuration needs args.raid_config: an object with a logical_disks list');
    }
    if (typeof deleteExisting !== 'boolean') {
      throw new InvalidCommandParamsError(
        `apply_configuration: args.delete_existing must be true or false, got ${JSON.stringify(deleteExisting)}`,
      );
    }
    const c = await this.raidContext();
    await validateConfiguration(config, node, c);
    if (deleteExisting) await this.delete_configuration(node, ports);
    const created = await createSoftwareRaid(config, node, c);
    Object.assign(this.raidRootVolumes, created.rootVolumes);
    return created.config;
  }

  /** IPA's validate_configuration(raid_config, node). */
  async validate_configuration(raidConfig: unknown, node: Node): Promise<void> {
    const { validateConfiguration } = await import('./raid/software-raid.js');
    await validateConfiguration(raidConfig, node, await this.raidContext());
  }

  /**
   * inject_files (deploy/service step): write or delete the files of node.properties.inject_files and args.files on
   * the install disk's partitions (see inject-files.ts); a bad entry fails the step with InvalidCommandParamsError.
   */
  async inject_files(node: Node, ports: Port[], args: StepArgs = {}): Promise<null> {
    const { injectFiles } = await import('./inject-files.js');
    const c = this.ctx.config;
    return injectFiles(node, ports, args, {
      run: this.ctx.run,
      log: this.ctx.log,
      rootDevice: async () => String(await this.ctx.dispatchToManagers('get_os_install_device')),
      http: {
        insecure: c.insecure,
        cafile: c.cafile,
        timeoutS: c.imageDownloadConnectionTimeout,
        retries: c.imageDownloadConnectionRetries,
        retryIntervalS: c.imageDownloadConnectionRetryInterval,
      },
    });
  }

  /**
   * clean_uefi_nvram (clean/deploy step): delete the NVRAM boot entries whose device path matches args.match_patterns
   * (IPA's default: disk entries, shim and GRUB loaders). In BIOS mode it does nothing and says so.
   */
  async clean_uefi_nvram(_node: Node, _ports: Port[], args: StepArgs = {}): Promise<unknown> {
    const [{ cleanUefiNvram }, { detectBootMode }] = await Promise.all([
      import('./uefi-nvram.js'),
      import('../image/run-prepare-image.js'),
    ]);
    return cleanUefiNvram(args.match_patterns, { run: this.ctx.run, log: this.ctx.log, bootMode: detectBootMode(this.ctx.config) });
  }

  /** The deploy step behind out-of-band write_image: standby.prepare_image, waited for (IPA returns cmd.wait()). */
  async write_image(_node: Node, _ports: Port[], args: StepArgs = {}): Promise<unknown> {
    const imageInfo = args.image_info;
    if (typeof imageInfo !== 'object' || imageInfo === null || Array.isArray(imageInfo)) {
      throw new InvalidCommandParamsError('write_image needs args.image_info (an object with id, urls and a checksum)');
    }
    // IPA's prepare_image fails on anything but a string here; ignoring it would deploy without the config drive.
    const cd = args.configdrive;
    if (cd !== undefined && cd !== null && typeof cd !== 'string') {
      throw new InvalidCommandParamsError(
        `write_image: args.configdrive must be a string (a base64 gzipped ISO or a URL), got ${Array.isArray(cd) ? 'a list' : typeof cd}`,
      );
    }
    const configdrive = cd ?? null;
    const result = await runPrepareImage(this.ctx, imageInfo as Record<string, unknown>, configdrive);
    return { result: `prepare_image: ${result}` };
  }
}
