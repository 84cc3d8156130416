/**
 * The extension table (ipa-protocol.md §5.1) and the one-call factory main.ts
 * and the tests use: createCommandDispatcher(ctx) → CommandDispatcher.
 */
import { CommandDispatcher } from './dispatcher.js';
import { createLogExtension } from './log.js';
import { createImageExtension, createStandbyExtension } from './standby.js';
import { createStepExtension } from './steps.js';
import { createFlowExtension, createPollExtension, createRescueExtension, createSystemExtension } from './system.js';
import type { CommandContext, Extension } from './types.js';

export { CommandDispatcher } from './dispatcher.js';
export { collectSystemLogs } from '../util/system-logs.js';
export type { CommandContext, CommandResult, CommandSpec, Extension, Params } from './types.js';
export { CommandStatus, asyncCommand, syncCommand } from './types.js';

/** Every built-in extension by name, plus `extra` (which flow.start_flow can call too). */
export function createExtensions(extra: Record<string, Extension> = {}): Record<string, Extension> {
  const extensions: Record<string, Extension> = {
    clean: createStepExtension('clean'),
    deploy: createStepExtension('deploy'),
    service: createStepExtension('service'),
    standby: createStandbyExtension(),
    image: createImageExtension(),
    log: createLogExtension(),
    rescue: createRescueExtension(),
    system: createSystemExtension(),
    poll: createPollExtension(),
    ...extra,
  };
  const hasCommand = (name: string): boolean => {
    const dot = name.indexOf('.');
    const extName = name.slice(0, dot);
    const ext = Object.hasOwn(extensions, extName) ? extensions[extName] : undefined;
    return dot > 0 && ext !== undefined && Object.hasOwn(ext, name.slice(dot + 1));
  };
  extensions.flow = createFlowExtension(hasCommand);
  return extensions;
}

/** The agent's command dispatcher with the built-in extensions (plus `extra`, e.g. fakes in tests). */
export function createCommandDispatcher(
  ctx: Omit<CommandContext, 'invokeCommand'>,
  extra: Record<string, Extension> = {},
): CommandDispatcher {
  return new CommandDispatcher(ctx, createExtensions(extra));
}
