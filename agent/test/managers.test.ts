/** Hardware-manager framework: probe/sort, dispatch, dedupe, versions, plugins from a directory. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createCommandDispatcher } from '../src/commands/index.js';
import { checkVersions } from '../src/commands/steps.js';
import {
  HardwareManagerMethodNotFound,
  IncompatibleHardwareMethodError,
  HardwareManagerConfigurationError,
  VersionMismatch,
} from '../src/errors.js';
import { GenericHardwareManager, listGenericCleanSteps } from '../src/hardware/generic.js';
import { deduplicateSteps, initializeManagers } from '../src/hardware/manager.js';
import { loadHardwareManagers } from '../src/hardware/plugins.js';
import type { HardwareManager, Step } from '../src/hardware/types.js';
import { createState } from '../src/state.js';
import { buildApp } from '../src/api/app.js';
import { createRecorder, makeConfig, postCommand, silentLog } from './helpers.js';

/** Every temporary directory of this file lives here and goes away after it. */
const scratch = mkdtempSync(join(tmpdir(), 'rf-agent-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const s = (step: string, priority: number): Step => ({ step, priority, interface: 'deploy', reboot_requested: false });

function manager(name: string, support: number, methods: Record<string, unknown> = {}, version?: string): HardwareManager {
  return {
    className: name,
    name: name.toLowerCase(),
    ...(version ? { version } : {}),
    evaluate_hardware_support: () => support,
    ...methods,
  };
}

test('initializeManagers: keeps support > 0, sorts by support desc (stable), initializes in order, logs bad probes', async () => {
  const initOrder: string[] = [];
  const lines: string[] = [];
  const log = { ...silentLog, error: (m: string) => lines.push(m) };
  const reg = await initializeManagers(
    [
      manager('A', 1, {
        initialize: () => {
          initOrder.push('A');
        },
      }),
      manager('B', 0),
      manager('C', 3, {
        initialize: async () => {
          initOrder.push('C');
        },
      }),
      manager('D', 1, {
        initialize: () => {
          initOrder.push('D');
        },
      }),
      {
        className: 'Broken',
        evaluate_hardware_support: () => {
          throw new Error('probe exploded');
        },
      },
    ],
    { log },
  );
  assert.deepEqual(
    reg.managers.map((m) => m.className),
    ['C', 'A', 'D'],
  );
  assert.deepEqual(initOrder, ['C', 'A', 'D']);
  assert.ok(lines.some((l) => l.includes('Broken') && l.includes('probe exploded')));
  assert.deepEqual(reg.getCurrentVersions(), { c: '1.0', a: '1.0', d: '1.0' });
});

test('dispatchToManagers: skips managers lacking the method, Incompatible → next, other errors propagate, none → NotFound', async () => {
  const calls: string[] = [];
  const reg = await initializeManagers(
    [
      manager('High', 3, {
        m: () => {
          calls.push('High');
          throw new IncompatibleHardwareMethodError();
        },
      }),
      manager('Mid', 2),
      manager('Low', 1, {
        m: (x: number) => {
          calls.push('Low');
          return x * 2;
        },
        cfg: () => {
          throw new HardwareManagerConfigurationError('bad');
        },
      }),
    ],
    { log: silentLog },
  );
  assert.equal(await reg.dispatchToManagers('m', 21), 42);
  assert.deepEqual(calls, ['High', 'Low']);
  await assert.rejects(reg.dispatchToManagers('nope'), HardwareManagerMethodNotFound);
  await assert.rejects(reg.dispatchToManagers('cfg'), HardwareManagerConfigurationError);
});

test('dispatchToAllManagers: {class: result}, Incompatible skipped, all skipped → NotFound', async () => {
  const reg = await initializeManagers(
    [
      manager('X', 2, {
        m: () => 'x',
        inc: () => {
          throw new IncompatibleHardwareMethodError();
        },
      }),
      manager('Y', 1, { m: async () => 'y' }),
    ],
    { log: silentLog },
  );
  assert.deepEqual(await reg.dispatchToAllManagers('m'), { X: 'x', Y: 'y' });
  await assert.rejects(reg.dispatchToAllManagers('inc'), HardwareManagerMethodNotFound);
  await assert.rejects(reg.dispatchToAllManagers('none'), HardwareManagerMethodNotFound);
});

test('deduplicateSteps: highest support, then priority, then class name; unknown managers kept', () => {
  const out = deduplicateSteps(
    {
      Generic: [s('erase_devices', 10), s('write_image', 0), s('only_generic', 5)],
      Vendor: [s('erase_devices', 1), s('write_image', 0)],
      Beta: [s('same', 7)],
      Alpha: [s('same', 7)],
      Ghost: [s('erase_devices', 100)],
    },
    { Generic: 1, Vendor: 3, Beta: 2, Alpha: 2 },
  );
  assert.deepEqual(out, {
    Ghost: [s('erase_devices', 100)],
    Vendor: [s('erase_devices', 1), s('write_image', 0)],
    Generic: [s('only_generic', 5)],
    Alpha: [s('same', 7)],
  });
  const prio = deduplicateSteps({ A: [s('x', 1)], B: [s('x', 9)] }, { A: 2, B: 2 });
  assert.deepEqual(prio, { B: [s('x', 9)] });
});

test('generic manager: IPA name/version and the standard clean steps', async () => {
  const config = makeConfig({ diskWaitAttempts: 0 });
  const reg = await loadHardwareManagers(config, {
    state: createState(config, 'v'),
    log: silentLog,
    run: createRecorder(),
    builtins: (ctx) => [new GenericHardwareManager(ctx)],
  }).catch(() => undefined);
  // initialize() looks for disks through the inventory; without one it only warns.
  assert.ok(reg);
  assert.deepEqual(reg.getCurrentVersions(), { generic_hardware_manager: '1.2' });
  // IPA master's version. Steps a '1.1' agent (IPA <= 9.6, older ramforge) handed the conductor are refused with
  // VersionMismatch, which the conductor answers by refreshing the steps; the map this agent returns is accepted.
  assert.throws(() => checkVersions(reg, { generic_hardware_manager: '1.1' }), VersionMismatch);
  checkVersions(reg, reg.getCurrentVersions());
  const steps = await reg.collectSteps('clean', {}, []);
  assert.deepEqual(
    steps.GenericHardwareManager!.map((x) => [x.step, x.priority]),
    [
      ['erase_devices', 10],
      ['erase_devices_metadata', 99],
      ['erase_devices_express', 0],
      ['erase_pstore', 0],
      ['clean_uefi_nvram', 0],
      ['delete_configuration', 0],
      ['create_configuration', 0],
    ],
  );
  // As IPA: the RAID steps belong to the raid interface (raid_interface=agent runs them), the rest to deploy.
  assert.deepEqual(
    listGenericCleanSteps().map((x) => x.interface),
    ['deploy', 'deploy', 'deploy', 'deploy', 'deploy', 'raid', 'raid'],
  );
  const deploy = await reg.collectSteps('deploy', {}, []);
  assert.deepEqual(
    deploy.GenericHardwareManager!.map((x) => [x.step, x.priority]),
    [
      ['erase_devices_metadata', 0],
      ['apply_configuration', 0],
      ['clean_uefi_nvram', 0],
      ['write_image', 0],
      ['inject_files', 0],
    ],
  );
  const service = await reg.collectSteps('service', {}, []);
  assert.deepEqual(
    service.GenericHardwareManager!.map((x) => `${x.interface}.${x.step}`),
    ['raid.delete_configuration', 'raid.apply_configuration', 'raid.create_configuration', 'deploy.write_image', 'deploy.inject_files'],
  );
});

test('custom managers from a directory: class, object and `managers` exports; a broken file is skipped with a log line', async () => {
  const dir = mkdtempSync(join(scratch, 'hwm-'));
  writeFileSync(
    join(dir, '10-vendor.mjs'),
    `
export default class VendorManager {
  constructor(ctx) { this.ctx = ctx; this.name = 'vendor_manager'; this.version = '3.1'; }
  evaluate_hardware_support() { return 3; }
  get_clean_steps() { return [{ step: 'vendor_wipe', priority: 42, interface: 'deploy', reboot_requested: false, abortable: true },
                              { step: 'erase_devices', priority: 5, interface: 'deploy', reboot_requested: false }]; }
  async vendor_wipe(node, ports, args) { return { wiped: node.uuid, args, standalone: this.ctx.config.standalone }; }
  async erase_devices(node, ports, args) { return 'vendor erase'; }
}`,
  );
  writeFileSync(
    join(dir, '20-objects.js'),
    `
export const managers = [{ name: 'obj_manager', evaluate_hardware_support: () => 1 }, { name: 'unsupported', evaluate_hardware_support: () => 0 }];`,
  );
  writeFileSync(join(dir, '30-broken.mjs'), 'export default {{ syntax error');
  writeFileSync(join(dir, '40-nothing.mjs'), 'export const x = 1;');
  writeFileSync(join(dir, '50-notamanager.mjs'), 'export default { hello: 1 };');
  writeFileSync(join(dir, 'README.txt'), 'not a module');
  mkdirSync(join(dir, 'node_modules'));
  const errors: string[] = [];
  const log = { ...silentLog, error: (m: string) => errors.push(m) };
  const config = makeConfig({ hardwareManagersDir: dir, hardwareManagerPackages: ['no-such-hwm-package'] });
  const state = createState(config, 'v');
  const reg = await loadHardwareManagers(config, {
    state,
    log,
    run: createRecorder(),
    builtins: () => [manager('GenericHardwareManager', 1, { get_clean_steps: () => listGenericCleanSteps() }, '1.1')],
  });
  assert.deepEqual(
    reg.managers.map((m) => m.className),
    ['VendorManager', 'GenericHardwareManager', 'obj_manager'],
  );
  assert.equal(errors.length, 4, errors.join('\n'));
  assert.ok(errors.some((e) => e.includes('30-broken.mjs')));
  assert.ok(errors.some((e) => e.includes('40-nothing.mjs') && e.includes('exports neither')));
  assert.ok(errors.some((e) => e.includes('50-notamanager.mjs') && e.includes('not a hardware manager')));
  assert.ok(errors.some((e) => e.includes('no-such-hwm-package')));

  // The custom step shows up in get_clean_steps and runs through execute_clean_step.
  const commands = createCommandDispatcher({ state, config, managers: reg, run: createRecorder(), log: silentLog });
  const app = buildApp(state, commands);
  const steps = await postCommand(app, { name: 'clean.get_clean_steps', params: { node: { uuid: 'n' }, ports: [] } });
  const result = steps.json.command_result;
  assert.deepEqual(result.hardware_manager_version, { vendor_manager: '3.1', generichardwaremanager: '1.1', obj_manager: '1.0' });
  assert.deepEqual(
    result.clean_steps.VendorManager.map((x: Step) => x.step),
    ['vendor_wipe', 'erase_devices'],
  );
  assert.ok(!result.clean_steps.GenericHardwareManager.some((x: Step) => x.step === 'erase_devices'));
  const run = await postCommand(
    app,
    {
      name: 'clean.execute_clean_step',
      params: {
        step: { step: 'vendor_wipe', interface: 'deploy', priority: 42, args: { passes: 2 } },
        node: { uuid: 'n' },
        ports: [],
        clean_version: result.hardware_manager_version,
      },
    },
    '?wait=true',
  );
  assert.equal(run.json.command_status, 'SUCCEEDED');
  assert.deepEqual(run.json.command_result.clean_result, { wiped: 'n', args: { passes: 2 }, standalone: true });
});

test('a site manager in its own file passes a call on with ctx.errors.IncompatibleHardwareMethodError or a class of that name', async () => {
  const dir = mkdtempSync(join(scratch, 'hwm-pass-'));
  writeFileSync(
    join(dir, '10-nvme-only.mjs'),
    `
export default class NvmeOnly {
  constructor(ctx) { this.ctx = ctx; }
  evaluate_hardware_support() { return 3; }
  async erase_block_device(node, dev) {
    if (dev.name.startsWith('/dev/nvme')) return 'site nvme erase';
    throw new this.ctx.errors.IncompatibleHardwareMethodError('only NVMe');
  }
}`,
  );
  writeFileSync(
    join(dir, '20-own-class.mjs'),
    `
class IncompatibleHardwareMethodError extends Error {}
export default { className: 'OwnClass', evaluate_hardware_support: () => 2,
  erase_block_device(node, dev) { if (dev.name === '/dev/sdb') return 'own sdb'; throw new IncompatibleHardwareMethodError('not mine'); },
  other() { throw new Error('IncompatibleHardwareMethodError in the text only'); } };`,
  );
  const config = makeConfig({ hardwareManagersDir: dir });
  const reg = await loadHardwareManagers(config, {
    state: createState(config, 'v'),
    log: silentLog,
    run: createRecorder(),
    builtins: () => [manager('GenericHardwareManager', 1, { erase_block_device: () => 'generic overwrite', other: () => 'generic' })],
  });
  assert.deepEqual(
    reg.managers.map((m) => m.className),
    ['NvmeOnly', 'OwnClass', 'GenericHardwareManager'],
  );
  assert.equal(await reg.dispatchToManagers('erase_block_device', {}, { name: '/dev/nvme0n1' }), 'site nvme erase');
  assert.equal(await reg.dispatchToManagers('erase_block_device', {}, { name: '/dev/sdb' }), 'own sdb');
  assert.deepEqual(await reg.dispatchToManagersWithName('erase_block_device', {}, { name: '/dev/sda' }), {
    manager: 'GenericHardwareManager',
    result: 'generic overwrite',
  });
  // Only the name counts, not a message that mentions it.
  await assert.rejects(reg.dispatchToManagers('other'), /in the text only/);
});
