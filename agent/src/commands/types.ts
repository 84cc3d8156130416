/**
 * The command model's shapes (ipa-protocol.md §2.4). A command is a function
 * in an extension, sync (runs inside the request) or async (runs in the
 * background, polled through GET /v1/commands). Params arrive as the JSON
 * object of the POST; validators run before anything is recorded and throw
 * InvalidCommandParamsError (400), as IPA's decorator validators do.
 */
import type { AgentConfig } from '../config.js';
import type { HardwareManagerRegistry } from '../hardware/manager.js';
import type { AgentState } from '../state.js';
import type { ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';

export const CommandStatus = {
  RUNNING: 'RUNNING',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  VERSION_MISMATCH: 'CLEAN_VERSION_MISMATCH',
} as const;
export type CommandStatus = (typeof CommandStatus)[keyof typeof CommandStatus];

/** The five keys IPA serializes, nothing else (command_params is never sent). */
export interface CommandResult {
  id: string;
  command_name: string;
  command_status: CommandStatus;
  command_error: { type: string; code: number; message: string; details: string } | null;
  command_result: unknown;
}

export type Params = Record<string, unknown>;

/** What commands can reach. One per agent; tests build their own with fakes. */
export interface CommandContext {
  readonly state: AgentState;
  readonly config: AgentConfig;
  readonly managers: HardwareManagerRegistry;
  /** Runs programs: poweroff, sync, log collection... (a recorder in tests). */
  readonly run: ProgramRunner;
  readonly log: Log;
  /** Run another command in-process without recording it (flow.start_flow, write_image). */
  invokeCommand(name: string, params: Params): Promise<unknown>;
}

export interface CommandSpec {
  readonly async: boolean;
  /** Throws InvalidCommandParamsError/InvalidCommandError: the POST answers 400 and nothing is recorded. */
  validate?(params: Params, ctx: CommandContext): void;
  run(params: Params, ctx: CommandContext): unknown;
}

/** Commands by short name (the name reported as command_name). */
export type Extension = Record<string, CommandSpec>;

export function syncCommand(run: CommandSpec['run'], validate?: CommandSpec['validate']): CommandSpec {
  return { async: false, run, validate };
}
export function asyncCommand(run: CommandSpec['run'], validate?: CommandSpec['validate']): CommandSpec {
  return { async: true, run, validate };
}
