/**
 * The generic manager over a recorded machine (fixture root in
 * replay mode: files read under the root, command output from .commands/),
 * so nothing touches this host's disks.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bmcDescribed, diskWaitPlan, GenericHardwareManager } from '../src/hardware/generic.js';
import { loadHardwareManagers } from '../src/hardware/plugins.js';
import type { BlockDevice, Inventory } from '../src/hardware/types.js';
import { createState } from '../src/state.js';
import { createTestAgent, makeConfig, postCommand, silentLog } from './helpers.js';
import { createMemoryLog } from './support/logs.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures/server-r640');
const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected-inventory.json'), 'utf8')) as Inventory;

async function loadGeneric(over = {}, log = silentLog) {
  const config = makeConfig({ rootPath: FIXTURE, diskWaitAttempts: 1, ...over });
  const state = createState(config, 'v');
  const managers = await loadHardwareManagers(config, { state, log, builtins: (ctx) => [new GenericHardwareManager(ctx)] });
  return { config, state, managers };
}

test('generic manager: inventory, block devices and NICs of the recorded server', async () => {
  const { managers } = await loadGeneric();
  const inv = (await managers.dispatchToManagers('list_hardware_info')) as Inventory;
  assert.deepEqual(inv.disks, expected.disks);
  assert.deepEqual(inv.cpu, expected.cpu);
  assert.deepEqual(
    inv.interfaces.map((i) => i.mac_address),
    expected.interfaces.map((i) => i.mac_address),
  );
  const disks = (await managers.dispatchToManagers('list_block_devices')) as BlockDevice[];
  assert.deepEqual(
    disks.map((d) => d.name),
    ['/dev/sda', '/dev/sdb', '/dev/nvme0n1'],
  );
  const nics = (await managers.dispatchToManagers('list_network_interfaces')) as Array<{ mac_address: string | null }>;
  assert.ok(nics.some((n) => n.mac_address));
});

test("generic manager: skip_block_devices leaves disks out of list_block_devices, not out of the inventory (IPA's list_hardware_info)", async () => {
  const log = createMemoryLog();
  const { managers, state } = await loadGeneric({}, log);
  state.node = { uuid: 'n', properties: { skip_block_devices: [{ name: '/dev/sda' }] } } as never;
  const disks = (await managers.dispatchToManagers('list_block_devices')) as BlockDevice[];
  assert.deepEqual(
    disks.map((d) => d.name),
    ['/dev/sdb', '/dev/nvme0n1'],
  );
  // Said once, however often the steps list the disks.
  await managers.dispatchToManagers('list_block_devices');
  assert.deepEqual(
    log.lines.filter((l) => l.includes('skip_block_devices')),
    [log.lines.find((l) => l.endsWith('skip_block_devices leaves out /dev/sda'))],
  );
  const inv = (await managers.dispatchToManagers('list_hardware_info')) as Inventory;
  assert.deepEqual(
    inv.disks.map((d) => d.name),
    ['/dev/sda', '/dev/sdb', '/dev/nvme0n1'],
  );
});

test('generic manager: config.disks (RAMFORGE_AGENT_DISKS) restricts the disks to exactly those named', async () => {
  const { managers } = await loadGeneric({ disks: ['/dev/sdb'] });
  const disks = (await managers.dispatchToManagers('list_block_devices')) as BlockDevice[];
  assert.deepEqual(
    disks.map((d) => d.name),
    ['/dev/sdb'],
  );
  const inv = (await managers.dispatchToManagers('list_hardware_info')) as Inventory;
  assert.deepEqual(
    inv.disks.map((d) => d.name),
    ['/dev/sdb'],
  );
  assert.equal(await managers.dispatchToManagers('get_os_install_device'), '/dev/sdb');
});

test("generic manager: install device is the smallest disk >= 4 GiB, or what the cached node's root hints say", async () => {
  const { managers, state } = await loadGeneric();
  assert.equal(await managers.dispatchToManagers('get_os_install_device'), '/dev/sda');
  state.node = { uuid: 'n', properties: { root_device: { name: '/dev/nvme0n1' } } };
  assert.equal(await managers.dispatchToManagers('get_os_install_device'), '/dev/nvme0n1');
  state.node = { uuid: 'n', properties: { skip_block_devices: [{ name: '/dev/sda' }] } };
  assert.deepEqual(
    ((await managers.dispatchToManagers('list_block_devices')) as BlockDevice[]).map((d) => d.name),
    ['/dev/sdb', '/dev/nvme0n1'],
  );
});

test('generic manager: an invalid skip_block_devices entry fails the disk listing instead of skipping nothing', async () => {
  // IPA's find_devices_by_hints raises on such an entry, failing erase_devices and get_os_install_device;
  // skipping nothing would erase the disk the operator meant to protect.
  const { managers, state } = await loadGeneric();
  for (const skip of [[{ name: '/dev/sda', size: 'big' }], [{ nmae: '/dev/sda' }], ['/dev/sda'], { name: '/dev/sda' }]) {
    state.node = { uuid: 'n', properties: { skip_block_devices: skip } };
    for (const method of ['list_block_devices', 'get_os_install_device']) {
      await assert.rejects(managers.dispatchToManagers(method), /skip_block_devices/, `${method} with ${JSON.stringify(skip)}`);
    }
  }
  // The inventory still reports every disk: inspection must not fail on it.
  const inv = (await managers.dispatchToManagers('list_hardware_info')) as Inventory;
  assert.equal(inv.disks.length, 3);
});

test('poll.get_hardware_info through the API returns the inventory', async () => {
  const { managers, config } = await loadGeneric();
  const agent = await createTestAgent({ config: { rootPath: config.rootPath }, managers: managers.managers.map((m) => m.manager) });
  const r = await postCommand(agent.app, { name: 'poll.get_hardware_info', params: {} });
  assert.equal(r.json.command_status, 'SUCCEEDED');
  assert.deepEqual(r.json.command_result.disks, expected.disks);
});

test('write_image without image_info fails the deploy step with a 400-class error', async () => {
  const { managers } = await loadGeneric();
  const agent = await createTestAgent({ managers: managers.managers.map((m) => m.manager) });
  const r = await postCommand(
    agent.app,
    {
      name: 'deploy.execute_deploy_step',
      params: { step: { step: 'write_image', interface: 'deploy', args: {} }, node: {}, ports: [] },
    },
    '?wait=true',
  );
  assert.equal(r.json.command_status, 'FAILED');
  assert.equal(r.json.command_error.type, 'InvalidCommandParamsError');
  const bad = await postCommand(
    agent.app,
    {
      name: 'deploy.execute_deploy_step',
      params: {
        step: { step: 'write_image', interface: 'deploy', args: { image_info: { id: 'x', urls: ['http://127.0.0.1:1/x'] } } },
        node: {},
        ports: [],
      },
    },
    '?wait=true',
  );
  assert.equal(bad.json.command_status, 'FAILED');
  assert.match(bad.json.command_error.details, /checksum/);
});

test('write_image: a configdrive that is not a string fails naming it, instead of deploying without the config drive', async () => {
  const { managers, state } = await loadGeneric();
  // Should the check be missing, the install device lookup fails next: nothing is downloaded or written.
  state.node = { uuid: 'n', properties: { root_device: { name: '/dev/rf-no-such-disk' } } };
  const image_info = { id: 'x', urls: ['http://127.0.0.1:1/x'], disk_format: 'qcow2', checksum: 'a'.repeat(64) };
  for (const configdrive of [{ user_data: 'x' }, 42, ['x'], true]) {
    await assert.rejects(managers.dispatchToManagers('write_image', state.node, [], { image_info, configdrive }), (e: unknown) => {
      assert.equal((e as Error).name, 'InvalidCommandParamsError', JSON.stringify(configdrive));
      assert.match((e as { details: string }).details, /configdrive/);
      return true;
    });
  }
});

test('generic manager: apply_configuration checks its arguments and the config before touching a disk', async () => {
  const { managers } = await loadGeneric();
  const node = { uuid: 'n-raid' };
  await assert.rejects(managers.dispatchToManagers('apply_configuration', node, [], {}), (e: unknown) => {
    assert.equal((e as Error).name, 'InvalidCommandParamsError');
    assert.match((e as { details: string }).details, /args\.raid_config/);
    return true;
  });
  const raid_config = { logical_disks: [{ size_gb: 'MAX', raid_level: '1', controller: 'software' }] };
  await assert.rejects(
    managers.dispatchToManagers('apply_configuration', node, [], { raid_config, delete_existing: 'yes' }),
    /Invalid command parameters/,
  );
  // The recorded server has three disks: RAID-6 needs four, and the first volume must be RAID-1.
  const bad = {
    logical_disks: [
      { size_gb: 100, raid_level: '0', controller: 'software' },
      { size_gb: 'MAX', raid_level: '6', controller: 'software' },
    ],
  };
  await assert.rejects(managers.dispatchToManagers('apply_configuration', node, [], { raid_config: bad }), (e: unknown) => {
    assert.equal((e as Error).name, 'SoftwareRAIDError');
    const d = (e as { details: string }).details;
    assert.match(d, /^Could not validate Software RAID config for n-raid: /);
    assert.match(d, /logical_disks\[0\]\.raid_level: .*requires RAID-1/);
    assert.match(d, /logical_disks\[1\]\.raid_level: .*RAID level 6 with only 3 block devices found \(needs 4\)/);
    return true;
  });
  // No software volume: nothing to do, nothing returned (as IPA).
  assert.deepEqual(await managers.dispatchToManagers('create_configuration', { target_raid_config: {} }, []), {});
});

test("generic manager: the root-disk wait keeps IPA's budget ((attempts - 1) × delay) but looks every 0.5 s at most", () => {
  assert.deepEqual(diskWaitPlan(10, 3), { budgetMs: 27_000, pollMs: 500 });
  assert.deepEqual(diskWaitPlan(4, 0.2), { budgetMs: 600, pollMs: 200 });
  // One attempt: one look, no wait (IPA sleeps only between attempts).
  assert.deepEqual(diskWaitPlan(1, 3), { budgetMs: 0, pollMs: 500 });
  assert.deepEqual(diskWaitPlan(0, 3), { budgetMs: 0, pollMs: 500 });
});

test('generic manager: initialize looks again until a disk appears, and only warns once the budget is spent', async () => {
  class LateDisk extends GenericHardwareManager {
    looks = 0;
    constructor(
      ctx: ConstructorParameters<typeof GenericHardwareManager>[0],
      private readonly appearsAt: number,
    ) {
      super(ctx);
    }
    override async get_os_install_device(): Promise<string> {
      this.looks++;
      if (this.looks < this.appearsAt) throw new Error('no disk yet');
      return '/dev/vda';
    }
  }
  for (const [appearsAt, warned] of [
    [3, false],
    [1000, true],
  ] as const) {
    const config = makeConfig({ rootPath: FIXTURE, diskWaitAttempts: 3, diskWaitDelay: 0.02 });
    const log = createMemoryLog();
    let made: LateDisk | undefined;
    await loadHardwareManagers(config, {
      state: createState(config, 'v'),
      log,
      builtins: (ctx) => [(made = new LateDisk(ctx, appearsAt))],
    });
    const warnings = log.lines.filter((l) => l.includes('no suitable root disk'));
    if (warned) {
      assert.equal(warnings.length, 1);
      assert.ok(made!.looks >= 3, `looked ${made!.looks} times in the 40 ms budget`);
    } else {
      assert.deepEqual(warnings, []);
      assert.equal(made!.looks, 3);
    }
  }
});

test("generic manager: initialize loads the IPMI modules (IPA's _load_ipmi_modules) beside the md assemble where a BMC is described; a missing one is no error", async () => {
  let described = true;
  class AnyDisk extends GenericHardwareManager {
    override async get_os_install_device(): Promise<string> {
      return '/dev/vda';
    }
    // Not this host's /sys: bmcDescribed itself is tested below.
    protected override firmwareDescribesBmc(): Promise<boolean> {
      return Promise.resolve(described);
    }
  }
  const config = makeConfig({ rootPath: '/', standalone: false, diskWaitAttempts: 1 });
  const calls: string[] = [];
  const run = async (argv: string[]) => {
    calls.push(argv.join(' '));
    if (argv[1] === 'ipmi_si') throw new Error('modprobe: FATAL: Module ipmi_si not found');
    return { stdout: '', stderr: '', code: 0 };
  };
  await loadHardwareManagers(config, { state: createState(config, 'v'), log: silentLog, run, builtins: (ctx) => [new AnyDisk(ctx)] });
  // Only the IPMI modprobes: a host with multipathd on PATH adds its own (multipath.ts).
  assert.deepEqual(
    calls.filter((c) => c.startsWith('modprobe ipmi_')),
    ['modprobe ipmi_msghandler', 'modprobe ipmi_devintf', 'modprobe ipmi_si'],
  );
  described = false;
  calls.length = 0;
  await loadHardwareManagers(config, { state: createState(config, 'v'), log: silentLog, run, builtins: (ctx) => [new AnyDisk(ctx)] });
  assert.deepEqual(
    calls.filter((c) => c.startsWith('modprobe ipmi_')),
    [],
    'no BMC described: no modprobe',
  );
});

test('the IPMI modules are loaded only where the firmware describes a BMC: SMBIOS type 38, ACPI IPI0001, a PCI IPMI controller, or ipmi_si options', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ramforge-bmc-'));
  try {
    assert.equal(await bmcDescribed(root, 'x64'), true, 'no DMI in sysfs: cannot tell, load them as IPA does');
    for (const d of [
      'sys/firmware/dmi/entries/0-0',
      'sys/firmware/dmi/entries/1-0',
      'sys/bus/acpi/devices/PNP0A03:00',
      'sys/bus/pci/devices/0000:00:01.0',
    ])
      mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'sys/bus/pci/devices/0000:00:01.0/class'), '0x020000\n');
    assert.equal(await bmcDescribed(root, 'x64'), false);
    mkdirSync(join(root, 'sys/bus/pci/devices/0000:00:02.0'));
    writeFileSync(join(root, 'sys/bus/pci/devices/0000:00:02.0/class'), '0x0c0701\n');
    assert.equal(await bmcDescribed(root, 'x64'), true, 'PCI class 0c07');
    rmSync(join(root, 'sys/bus/pci/devices/0000:00:02.0'), { recursive: true });
    mkdirSync(join(root, 'sys/bus/acpi/devices/IPI0001:00'));
    assert.equal(await bmcDescribed(root, 'x64'), true, 'ACPI IPI0001');
    rmSync(join(root, 'sys/bus/acpi/devices/IPI0001:00'), { recursive: true });
    mkdirSync(join(root, 'sys/firmware/dmi/entries/38-0'));
    assert.equal(await bmcDescribed(root, 'x64'), true, 'SMBIOS type 38');
    rmSync(join(root, 'sys/firmware/dmi/entries/38-0'), { recursive: true });
    assert.equal(await bmcDescribed(root, 'x64'), false);
    // Given to ipmi_si by hand.
    mkdirSync(join(root, 'proc'));
    writeFileSync(join(root, 'proc/cmdline'), 'console=ttyS0 ipmi_si.type=kcs ipmi_si.ports=0xca2\n');
    assert.equal(await bmcDescribed(root, 'x64'), true, 'ipmi_si. on the kernel command line');
    writeFileSync(join(root, 'proc/cmdline'), 'console=ttyS0 "ipmi-si.type=kcs"\n');
    assert.equal(await bmcDescribed(root, 'x64'), true, 'quoted, with kmod\'s "-" for "_"');
    writeFileSync(join(root, 'proc/cmdline'), 'console=ttyS0\n');
    for (const [dir, line] of [
      ['etc/modprobe.d', 'options ipmi_si type=kcs ports=0xca2'],
      ['usr/lib/modprobe.d', 'options ipmi-si type=kcs'],
    ] as const) {
      mkdirSync(join(root, dir), { recursive: true });
      writeFileSync(join(root, dir, 'bmc.conf'), `# site\n${line}\n`);
      assert.equal(await bmcDescribed(root, 'x64'), true, `${line} in ${dir}`);
      rmSync(join(root, dir), { recursive: true });
    }
    assert.equal(await bmcDescribed(root, 'x64'), false);
    assert.equal(await bmcDescribed(root, 'arm64'), true, 'off x86 (device trees): always, as IPA');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
