/**
 * The hardware-manager framework (ipa-protocol.md §6): probe every candidate
 * once, keep those with support > 0 sorted by support (descending, stable so
 * load order breaks ties), initialize them in that order, then dispatch
 * method calls by name the way IPA's hardware.dispatch_to_managers does.
 */
import { AgentError, HardwareManagerMethodNotFound, IncompatibleHardwareMethodError } from '../errors.js';
import { createConsoleLog, type Log } from '../util/log.js';
import type { HardwareManager, Node, Port, Step } from './types.js';

export type { Log } from '../util/log.js';

/** A manager that passed evaluate_hardware_support, with the facts dispatch needs. */
export interface ActiveManager {
  readonly manager: HardwareManager;
  /** The key of step maps and dispatch_to_all results (IPA: the class name). */
  readonly className: string;
  /** HARDWARE_MANAGER_NAME (defaults to the class name). */
  readonly name: string;
  /** HARDWARE_MANAGER_VERSION (defaults to "1.0"). */
  readonly version: string;
  readonly support: number;
}

export type StepKind = 'clean' | 'deploy' | 'service';

/**
 * A manager passes a call on to the next one: our IncompatibleHardwareMethodError,
 * or any error of that name. A site manager is a module of its own, loaded
 * beside the agent's bundle: it may throw `ctx.errors.IncompatibleHardwareMethodError`
 * or a class of its own with that name (as IPA matches the class of its
 * errors module, which every manager imports).
 */
export function passesToNextManager(e: unknown): boolean {
  if (e instanceof IncompatibleHardwareMethodError) return true;
  if (!(e instanceof Error)) return false;
  // A plain `class IncompatibleHardwareMethodError extends Error {}` keeps name 'Error': its class name counts too.
  return e.name === 'IncompatibleHardwareMethodError' || e.constructor?.name === 'IncompatibleHardwareMethodError';
}

/** `className` if set, else the class name of an instance, else `name` (plain-object managers). */
export function getManagerClassName(m: HardwareManager, fallback = 'HardwareManager'): string {
  // An explicit className survives minifiers that rename classes.
  if (typeof m.className === 'string' && m.className) return m.className;
  const ctor = (m as { constructor?: { name?: string } }).constructor;
  if (ctor && ctor !== Object && ctor.name) return ctor.name;
  return typeof m.name === 'string' && m.name ? m.name : fallback;
}

export class HardwareManagerRegistry {
  readonly managers: readonly ActiveManager[];

  constructor(managers: readonly ActiveManager[]) {
    this.managers = managers;
  }

  /**
   * Call `method` on the first manager (by support) that has it. A manager
   * throwing IncompatibleHardwareMethodError passes to the next one; any
   * other error propagates. Nobody answered → HardwareManagerMethodNotFound.
   */
  async dispatchToManagers(method: string, ...args: unknown[]): Promise<unknown> {
    return (await this.dispatchToManagersWithName(method, ...args)).result;
  }

  /** dispatchToManagers, also naming the manager that answered (its className), for reports that must say who did what. */
  async dispatchToManagersWithName(method: string, ...args: unknown[]): Promise<{ manager: string; result: unknown }> {
    for (const m of this.managers) {
      const fn = m.manager[method];
      if (typeof fn !== 'function') continue;
      try {
        return { manager: m.className, result: await fn.apply(m.manager, args) };
      } catch (e) {
        if (passesToNextManager(e)) continue;
        throw e;
      }
    }
    throw new HardwareManagerMethodNotFound(method);
  }

  /** Call `method` on every manager that has it: {className: result}. All skipped → HardwareManagerMethodNotFound. */
  async dispatchToAllManagers(method: string, ...args: unknown[]): Promise<Record<string, unknown>> {
    const results: Record<string, unknown> = {};
    for (const m of this.managers) {
      const fn = m.manager[method];
      if (typeof fn !== 'function') continue;
      try {
        results[m.className] = await fn.apply(m.manager, args);
      } catch (e) {
        if (passesToNextManager(e)) continue;
        throw e;
      }
    }
    if (Object.keys(results).length === 0) throw new HardwareManagerMethodNotFound(method);
    return results;
  }

  /** get_<kind>_steps from every manager, deduplicated: {className: [steps]}. */
  async collectSteps(kind: StepKind, node: Node, ports: Port[]): Promise<Record<string, Step[]>> {
    const candidates = await this.dispatchToAllManagers(`get_${kind}_steps`, node, ports);
    const byManager: Record<string, Step[]> = {};
    for (const [cls, steps] of Object.entries(candidates)) {
      if (!Array.isArray(steps)) {
        throw new AgentError('Invalid hardware manager steps', `${cls}.get_${kind}_steps returned ${typeof steps}, not a list of steps`);
      }
      byManager[cls] = steps as Step[];
    }
    return deduplicateSteps(byManager, this.getSupportByClass());
  }

  /** {className: support} of the active managers. */
  getSupportByClass(): Record<string, number> {
    return Object.fromEntries(this.managers.map((m) => [m.className, m.support]));
  }

  /** {HARDWARE_MANAGER_NAME: HARDWARE_MANAGER_VERSION} across active managers (IPA get_current_versions). */
  getCurrentVersions(): Record<string, string> {
    return Object.fromEntries(this.managers.map((m) => [m.name, m.version]));
  }

  /** [{name, version}] in dispatch order, for inspection's `configuration.managers`. */
  getManagersDetail(): Array<{ name: string; version: string }> {
    return this.managers.map((m) => ({ name: m.name, version: m.version }));
  }
}

/**
 * IPA's deduplicate_steps: per step name the winner is the step whose
 * manager has the highest support, then the highest priority, then the
 * alphabetically first class name. Steps of managers with unknown support
 * are kept as they are.
 */
export function deduplicateSteps(candidates: Record<string, Step[]>, support: Record<string, number>): Record<string, Step[]> {
  const out: Record<string, Step[]> = {};
  const byName = new Map<string, Array<{ cls: string; step: Step }>>();
  for (const [cls, steps] of Object.entries(candidates)) {
    if (support[cls] === undefined) {
      (out[cls] ??= []).push(...steps);
      continue;
    }
    for (const step of steps) {
      const list = byName.get(step.step) ?? [];
      list.push({ cls, step });
      byName.set(step.step, list);
    }
  }
  for (const list of byName.values()) {
    list.sort(
      (a, b) =>
        support[b.cls]! - support[a.cls]! ||
        (Number(b.step.priority) || 0) - (Number(a.step.priority) || 0) ||
        (a.cls < b.cls ? -1 : a.cls > b.cls ? 1 : 0),
    );
    const win = list[0]!;
    (out[win.cls] ??= []).push(win.step);
  }
  return out;
}

/** Options of initializeManagers. */
export interface InitializeOptions {
  log?: Log;
}

/**
 * Probe (evaluate_hardware_support, once each), filter > 0, sort by support
 * descending and initialize() in order. A manager whose probe throws is
 * logged and dropped; one whose initialize() throws fails the agent start,
 * as in IPA (its hardware would otherwise be half set up).
 */
export async function initializeManagers(candidates: HardwareManager[], o: InitializeOptions = {}): Promise<HardwareManagerRegistry> {
  const log = o.log ?? createConsoleLog();
  const active: ActiveManager[] = [];
  for (const manager of candidates) {
    const className = getManagerClassName(manager);
    let support: number;
    try {
      support = Number(await manager.evaluate_hardware_support());
    } catch (e) {
      log.error(`hardware manager ${className}: evaluate_hardware_support failed, skipping it: ${(e as Error).message}`);
      continue;
    }
    if (!Number.isFinite(support) || support <= 0) {
      log.info(`hardware manager ${className}: support ${support}, not used on this hardware`);
      continue;
    }
    const name = typeof manager.name === 'string' && manager.name ? manager.name : className;
    const version = typeof manager.version === 'string' && manager.version ? manager.version : '1.0';
    active.push({ manager, className, name, version, support });
  }
  active.sort((a, b) => b.support - a.support);
  for (const m of active) {
    log.info(`hardware manager ${m.className} (${m.name} ${m.version}) support ${m.support}`);
    if (typeof m.manager.initialize === 'function') await m.manager.initialize();
  }
  return new HardwareManagerRegistry(active);
}
