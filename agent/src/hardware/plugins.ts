/**
 * Where hardware managers come from: the built-in generic manager, every
 * *.js / *.mjs file of config.hardwareManagersDir (sorted by name) and the
 * npm packages named in config.hardwareManagerPackages (resolved from
 * <hardwareManagersDir>/node_modules). This replaces IPA's stevedore entry
 * points. A module may export:
 *   - `default`: a class (constructed with the ManagerContext), an object
 *     implementing HardwareManager, or an array of those;
 *   - `managers`: an array of classes/objects.
 * A module that fails to import or exports nothing usable is logged and
 * skipped: one broken plugin must not keep the node from being cleaned.
 */
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AgentConfig } from '../config.js';
import * as agentErrors from '../errors.js';
import type { AgentState } from '../state.js';
import { execute, type ProgramRunner } from '../util/exec.js';
import { GenericHardwareManager } from './generic.js';
import { createConsoleLog, type Log } from '../util/log.js';
import { initializeManagers, type HardwareManagerRegistry } from './manager.js';
import type { HardwareManager } from './types.js';

/** What a manager class receives in its constructor. */
export interface ManagerContext {
  readonly config: AgentConfig;
  readonly state: AgentState;
  readonly log: Log;
  /** Runs programs (a fake in tests). */
  readonly run: ProgramRunner;
  /** IPA's hardware.dispatch_to_managers, for managers that call each other. */
  dispatchToManagers(method: string, ...args: unknown[]): Promise<unknown>;
  /** The same, also naming the manager that answered (its class name). */
  dispatchToManagersWithName(method: string, ...args: unknown[]): Promise<{ manager: string; result: unknown }>;
  dispatchToAllManagers(method: string, ...args: unknown[]): Promise<Record<string, unknown>>;
  /**
   * The agent's error classes (IPA's errors module), for managers loaded from
   * their own files: `throw new ctx.errors.IncompatibleHardwareMethodError('only NVMe')`
   * passes the call to the next manager; the others reach the conductor
   * with their class name as `type`.
   */
  readonly errors: typeof agentErrors;
}

export interface LoadManagersOptions {
  state: AgentState;
  log?: Log;
  run?: ProgramRunner;
  /** Replace the built-in managers (default: [GenericHardwareManager]). */
  builtins?: (ctx: ManagerContext) => HardwareManager[];
}

type ManagerClass = new (ctx: ManagerContext) => HardwareManager;

function isManager(v: unknown): v is HardwareManager {
  return typeof v === 'object' && v !== null && typeof (v as HardwareManager).evaluate_hardware_support === 'function';
}

/** Turn one export (class, object or array) into manager instances; `where` names it in errors. */
function instantiateExport(value: unknown, ctx: ManagerContext, where: string): HardwareManager[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => instantiateExport(v, ctx, `${where}[${i}]`));
  if (typeof value === 'function') {
    const instance: unknown = new (value as ManagerClass)(ctx);
    if (isManager(instance)) return [instance];
    throw new Error(`${where}: class ${value.name || '(anonymous)'} has no evaluate_hardware_support() method`);
  }
  if (isManager(value)) return [value];
  throw new Error(`${where}: not a hardware manager (export a class or an object with evaluate_hardware_support())`);
}

/** Import one module and return its managers; throws with a message naming the module. */
async function importManagers(specifier: string, ctx: ManagerContext, label: string): Promise<HardwareManager[]> {
  const mod = (await import(specifier)) as Record<string, unknown>;
  const found: HardwareManager[] = [];
  if (mod.default !== undefined) found.push(...instantiateExport(mod.default, ctx, `${label} default export`));
  if (mod.managers !== undefined) found.push(...instantiateExport(mod.managers, ctx, `${label} export "managers"`));
  if (found.length === 0) throw new Error(`${label}: exports neither "default" nor "managers"`);
  return found;
}

/** Custom managers from the plugin directory and packages; failures are logged, never thrown. */
export async function loadCustomManagers(config: AgentConfig, ctx: ManagerContext): Promise<HardwareManager[]> {
  const log = ctx.log;
  const dir = resolve(config.hardwareManagersDir);
  const out: HardwareManager[] = [];
  let files: string[] = [];
  try {
    files = (await readdir(dir)).filter((f) => /\.m?js$/.test(f)).sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') log.warn(`hardware managers: cannot read ${dir}: ${(e as Error).message}`);
  }
  for (const f of files) {
    const path = join(dir, f);
    try {
      const found = await importManagers(pathToFileURL(path).href, ctx, path);
      log.info(`hardware managers: loaded ${found.length} from ${path}`);
      out.push(...found);
    } catch (e) {
      log.error(`hardware managers: skipping ${path}: ${(e as Error).message}. Fix or remove the file.`);
    }
  }
  if (config.hardwareManagerPackages.length > 0) {
    const req = createRequire(join(dir, 'package.json'));
    for (const pkg of config.hardwareManagerPackages) {
      try {
        const found = await importManagers(pathToFileURL(req.resolve(pkg)).href, ctx, `package ${pkg}`);
        log.info(`hardware managers: loaded ${found.length} from package ${pkg}`);
        out.push(...found);
      } catch (e) {
        log.error(
          `hardware managers: skipping package ${pkg}: ${(e as Error).message}. Install it under ${dir}/node_modules or remove it from hardwareManagerPackages.`,
        );
      }
    }
  }
  return out;
}

/** Build the context, load built-in and custom managers, probe, sort and initialize them. */
export async function loadHardwareManagers(config: AgentConfig, o: LoadManagersOptions): Promise<HardwareManagerRegistry> {
  let registry: HardwareManagerRegistry | undefined;
  const notReady = (): never => {
    throw new Error('hardware managers are not initialized yet');
  };
  const ctx: ManagerContext = {
    config,
    state: o.state,
    log: o.log ?? createConsoleLog(config.debug),
    run: o.run ?? execute,
    dispatchToManagers: (method, ...args) => (registry ?? notReady()).dispatchToManagers(method, ...args),
    dispatchToManagersWithName: (method, ...args) => (registry ?? notReady()).dispatchToManagersWithName(method, ...args),
    dispatchToAllManagers: (method, ...args) => (registry ?? notReady()).dispatchToAllManagers(method, ...args),
    errors: agentErrors,
  };
  const builtins = o.builtins ? o.builtins(ctx) : [new GenericHardwareManager(ctx)];
  const custom = await loadCustomManagers(config, ctx);
  registry = await initializeManagers([...builtins, ...custom], { log: ctx.log });
  return registry;
}
