/**
 * The clean, deploy and service extensions (ipa-protocol.md §5.1, §5.2):
 * get_<kind>_steps (sync) and execute_<kind>_step (async), identical but for
 * the key names and the error class.
 */
import { AgentError, CleaningError, DeploymentError, ServicingError, VersionMismatch } from '../errors.js';
import type { HardwareManagerRegistry, StepKind } from '../hardware/manager.js';
import type { Node, Port, Step } from '../hardware/types.js';
import { asObject, checkParams } from './params.js';
import { asyncCommand, syncCommand, type CommandContext, type Extension, type Params } from './types.js';

const STEP_ERRORS: Record<StepKind, new (details: string) => AgentError> = {
  clean: CleaningError,
  deploy: DeploymentError,
  service: ServicingError,
};

/** IPA check_versions: a non-null version map must equal ours exactly (key order aside). */
export function checkVersions(managers: HardwareManagerRegistry, provided: unknown): void {
  if (provided === null || provided === undefined) return;
  const actual = managers.getCurrentVersions();
  const given = asObject(provided);
  const keys = Object.keys(actual);
  const same =
    typeof provided === 'object' &&
    !Array.isArray(provided) &&
    keys.length === Object.keys(given).length &&
    keys.every((k) => Object.hasOwn(given, k) && given[k] === actual[k]);
  if (!same) throw new VersionMismatch(actual, provided);
}

/** The conductor sends the full node: cache it so root device hints and driver_internal_info are current. */
function cacheNode(ctx: CommandContext, node: unknown): Node {
  const n = asObject(node) as Node;
  if (typeof node === 'object' && node !== null) {
    // Heartbeats go to the looked-up node's UUID: a node dict without one (a hand-made call) must not stop them.
    const uuid = ctx.state.node?.uuid;
    ctx.state.node = typeof n.uuid !== 'string' && uuid ? { ...n, uuid } : n;
  }
  return n;
}

async function getSteps(kind: StepKind, params: Params, ctx: CommandContext): Promise<Record<string, unknown>> {
  const node = cacheNode(ctx, params.node);
  const ports = (params.ports ?? []) as Port[];
  const steps = await ctx.managers.collectSteps(kind, node, ports);
  return { [`${kind}_steps`]: steps, hardware_manager_version: ctx.managers.getCurrentVersions() };
}

async function executeStep(kind: StepKind, params: Params, ctx: CommandContext): Promise<Record<string, unknown>> {
  const { step, node: rawNode, ports, [`${kind}_version`]: version, ...extra } = params;
  const node = cacheNode(ctx, rawNode);
  checkVersions(ctx.managers, version);
  const s = step as Step & { args?: Record<string, unknown> | null };
  const kwargs = { ...extra, ...asObject(s.args) };
  ctx.log.info(`executing ${kind} step ${s.step} (interface ${s.interface}) with args ${JSON.stringify(Object.keys(kwargs))}`);
  let result: unknown;
  try {
    result = await ctx.managers.dispatchToManagers(s.step, node, (ports ?? []) as Port[], kwargs);
  } catch (e) {
    if (e instanceof AgentError) throw e;
    throw new STEP_ERRORS[kind](`Error performing ${kind} step ${s.step}: ${(e as Error)?.message ?? String(e)}`);
  }
  return { [`${kind}_result`]: result === undefined ? null : result, [`${kind}_step`]: step };
}

/** get_<kind>_steps / execute_<kind>_step. */
export function createStepExtension(kind: StepKind): Extension {
  return {
    [`get_${kind}_steps`]: syncCommand(
      (params, ctx) => getSteps(kind, params, ctx),
      (params) => checkParams(`get_${kind}_steps`, params, { node: 'object', ports: 'array?' }),
    ),
    [`execute_${kind}_step`]: asyncCommand(
      (params, ctx) => executeStep(kind, params, ctx),
      (params) => {
        const cmd = `execute_${kind}_step`;
        checkParams(cmd, params, { step: 'object', node: 'object', ports: 'array?', [`${kind}_version`]: 'object?' });
        checkParams(cmd, params.step as Params, { step: 'string', args: 'object?' });
      },
    ),
  };
}
