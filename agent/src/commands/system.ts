/**
 * Small extensions: rescue (finalize_rescue), system (lockdown), poll
 * (passive-mode inventory, standalone node info) and flow (a list of
 * commands run in order).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandExecutionError, InvalidCommandError, InvalidCommandParamsError, toAgentError } from '../errors.js';
import { applyLookup, type LookupResult } from '../ironic/lookup.js';
import { asObject, checkParams } from './params.js';
import { asyncCommand, syncCommand, type CommandContext, type Extension, type Params } from './types.js';

export const RESCUE_CONFIG_DIR = 'etc/ipa-rescue-config';
export const RESCUE_PASSWORD_FILE = `${RESCUE_CONFIG_DIR}/ipa-rescue-password`;
export const RESCUED_MARKER = 'etc/.rescued';

/**
 * crypt(3) SHA-256 of a clear-text password, as IPA makes it; only conductors
 * older than Ussuri send one (hashed=false). openssl where the ramdisk has it,
 * else busybox's mkpasswd (tinyipa ships no openssl).
 */
async function hashRescuePassword(ctx: CommandContext, password: string): Promise<string> {
  const tries = [
    ['openssl', 'passwd', '-5', '-stdin'],
    ['busybox', 'mkpasswd', '-m', 'sha256', '-P', '0'],
  ];
  let last: unknown;
  for (const argv of tries) {
    try {
      const hash = (await ctx.run(argv, { input: `${password}\n` })).stdout.trim();
      if (hash.startsWith('$5$')) return hash;
      last = new Error(`${argv[0]} printed no SHA-256 crypt hash`);
    } catch (e) {
      last = e;
    }
  }
  throw new CommandExecutionError(`finalize_rescue: cannot hash the clear-text rescue password: ${(last as Error).message}`);
}

/**
 * What the ramdisk's rescue script writes into /etc/shadow: a crypt(3)
 * string ($id$salt$hash, or a DES/other crypt without '$'), never a ':' or
 * whitespace that would break the file.
 */
const CRYPT_HASH = /^[A-Za-z0-9./$=,+-]+$/;

/**
 * Write the password hash where the ramdisk's rescue hand-over picks it up
 * (docs/rescue.md), mark the ramdisk rescued, then stop serving the API.
 * A ramdisk built without rescue support has no etc/ipa-rescue-config: the
 * command fails (as IPA's write does) instead of reporting a rescue nobody
 * can log in to.
 */
async function finalizeRescue(p: Params, ctx: CommandContext): Promise<null> {
  const password = String(p.rescue_password ?? '');
  const root = ctx.config.rootPath;
  if (!existsSync(join(root, RESCUE_CONFIG_DIR))) {
    throw new CommandExecutionError(
      `finalize_rescue: this ramdisk has no /${RESCUE_CONFIG_DIR}: it was built without rescue support (spec "rescue: false"). Rescue the node with a ramdisk built with rescue enabled`,
    );
  }
  const hash = p.hashed === true ? password : await hashRescuePassword(ctx, password);
  await writeFile(join(root, RESCUE_PASSWORD_FILE), hash, { mode: 0o600 });
  await writeFile(join(root, RESCUED_MARKER), '');
  ctx.log.info('finalize_rescue: rescue password written; the agent stops and the ramdisk hands the node to the rescue user');
  ctx.state.serveApi = false;
  return null;
}

function checkFinalizeRescue(p: Params): void {
  checkParams('finalize_rescue', p, { rescue_password: 'string', hashed: 'boolean?' });
  const password = p.rescue_password as string;
  if (password === '') throw new InvalidCommandParamsError('finalize_rescue: rescue_password is empty');
  // openssl and mkpasswd read one line: a line break would hash only the part before it, a password nobody types.
  if (p.hashed !== true && /[\n\0]/.test(password)) {
    throw new InvalidCommandParamsError(
      'finalize_rescue: rescue_password (clear text) contains a line break or NUL, which cannot be hashed',
    );
  }
  if (p.hashed === true && !CRYPT_HASH.test(password)) {
    throw new InvalidCommandParamsError(
      'finalize_rescue: rescue_password (hashed=true) is not a crypt(3) hash: only letters, digits and . / $ = , + - are allowed',
    );
  }
}

export function createRescueExtension(): Extension {
  return {
    finalize_rescue: syncCommand(finalizeRescue, checkFinalizeRescue),
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
