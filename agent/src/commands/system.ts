/**
 * Small extensions: rescue (finalize_rescue), system (lockdown), poll
 * (passive-mode inventory, standalone node info) and flow (a list of
 * commands run in order).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandExecutionError, InvalidCommandError, InvalidCommandParamsError, toAgentError } from '../errors.js';
import { applyLookup, type LookupResult } from '../ironic/lookup.js';
import { asObject, checkParams } from './params.js';
import { asyncCommand, syncCommand, type CommandContext, type Extension, type Params } from './types.js';

export const RESCUE_PASSWORD_FILE = 'etc/ipa-rescue-config/ipa-rescue-password';
export const RESCUED_MARKER = 'etc/.rescued';

/** crypt(3) SHA-512 of a clear-text password; only old conductors send one (hashed=false). */
async function hashRescuePassword(ctx: CommandContext, password: string): Promise<string> {
  const r = await ctx.run(['openssl', 'passwd', '-6', '-stdin'], { input: `${password}\n` });
  return r.stdout.trim();
}

/** Write the password hash where the rescue boot scripts pick it up, then stop serving the API. */
async function finalizeRescue(p: Params, ctx: CommandContext): Promise<null> {
  const password = String(p.rescue_password ?? '');
  const hash = p.hashed === true ? password : await hashRescuePassword(ctx, password);
  const root = ctx.config.rootPath;
  await mkdir(join(root, 'etc/ipa-rescue-config'), { recursive: true });
  await writeFile(join(root, RESCUE_PASSWORD_FILE), hash, { mode: 0o600 });
  await writeFile(join(root, RESCUED_MARKER), '');
  ctx.state.serveApi = false;
  return null;
}

export function createRescueExtension(): Extension {
  return {
    finalize_rescue: syncCommand(finalizeRescue, (p) =>
      checkParams('finalize_rescue', p, { rescue_password: 'string', hashed: 'boolean?' }),
    ),
  };
}

export function createSystemExtension(): Extension {
  return {
    // The API closes after this answer; main brings the interfaces down (IPA _lockdown_system).
    lockdown: syncCommand((_p, ctx) => {
      ctx.state.lockdown = true;
      ctx.state.serveApi = false;
      return null;
    }),
  };
}

export function createPollExtension(): Extension {
  return {
    get_hardware_info: syncCommand((_p, ctx) => ctx.managers.dispatchToManagers('list_hardware_info')),
    set_node_info: syncCommand(
      (p, ctx) => {
        if (!ctx.config.standalone) {
          throw new InvalidCommandError('Node lookup data can only be set when the agent is running in standalone mode.');
        }
        const info = asObject(p.node_info);
        if (typeof asObject(info.node).uuid !== 'string')
          throw new InvalidCommandParamsError('set_node_info: node_info.node.uuid is required');
        applyLookup(ctx.state, { node: info.node, config: asObject(info.config) } as LookupResult);
        return null;
      },
      (p) => checkParams('set_node_info', p, { node_info: 'object' }),
    ),
  };
}

/** flow.start_flow: `hasCommand` checks every "ext.cmd" before anything runs. */
export function createFlowExtension(hasCommand: (name: string) => boolean): Extension {
  return {
    start_flow: asyncCommand(
      async (p, ctx) => {
        for (const task of p.flow as Array<Record<string, unknown>>) {
          for (const [name, params] of Object.entries(task)) {
            ctx.log.info(`flow: running ${name}`);
            try {
              await ctx.invokeCommand(name, asObject(params));
            } catch (e) {
              const err = toAgentError(e);
              throw new CommandExecutionError(`${name} failed: ${err.message}: ${err.details}`);
            }
          }
        }
        return null;
      },
      (p) => {
        checkParams('start_flow', p, { flow: 'array' });
        for (const task of p.flow as unknown[]) {
          if (typeof task !== 'object' || task === null || Array.isArray(task)) {
            throw new InvalidCommandParamsError('start_flow: every flow entry must be an object {"ext.cmd": {params}}');
          }
          for (const name of Object.keys(task)) {
            if (!hasCommand(name)) throw new InvalidCommandParamsError(`start_flow: unknown command ${name}`);
          }
        }
      },
    ),
  };
}
