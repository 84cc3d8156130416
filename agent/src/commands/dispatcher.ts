/**
 * CommandDispatcher: dispatches "ext.cmd" to an extension, records every
 * command for GET /v1/commands (never purged; a new process starts empty,
 * which is how the conductor detects a freshly booted agent) and allows one
 * command at a time: a POST waits for a sync command, and is 409
 * AgentIsBusy while an async one runs (IPA's command_lock).
 */
import {
  type AgentError,
  AgentIsBusy,
  InvalidCommandError,
  InvalidCommandParamsError,
  InvalidContentError,
  RequestedObjectNotFoundError,
  VersionMismatch,
  toAgentError,
} from '../errors.js';
import { CommandStatus, type CommandContext, type CommandResult, type CommandSpec, type Extension, type Params } from './types.js';
import { crypto } from '../util/node-builtins.js';

/** One recorded command. `done` settles (never rejects) when it finishes. */
interface CommandRecord {
  readonly id: string;
  readonly name: string;
  status: CommandStatus;
  error: AgentError | null;
  result: unknown;
  done: Promise<void>;
}

/**
 * A POST that waited behind another command and will not run: its client
 * hung up meanwhile (`signal`), so no one would read the answer, or the API
 * stopped serving (finalize_rescue, lockdown). Not an AgentError: a client
 * that is gone gets no answer at all; one still there gets 503.
 */
export class CommandNotStarted extends Error {
  readonly clientGone: boolean;
  constructor(message: string, clientGone: boolean) {
    super(message);
    this.name = 'CommandNotStarted';
    this.clientGone = clientGone;
  }
}

function isBadRequestError(e: unknown): boolean {
  return e instanceof InvalidContentError || e instanceof InvalidCommandError || e instanceof InvalidCommandParamsError;
}

function serializeRecord(r: CommandRecord): CommandResult {
  return {
    id: r.id,
    command_name: r.name,
    command_status: r.status,
    command_error: r.error ? r.error.toJSON() : null,
    command_result: r.result,
  };
}

/** IPA wraps bare strings: sync → {result: s}; async → {result: "<cmd>: s"}. */
function wrapResult(value: unknown, prefix?: string): unknown {
  if (Buffer.isBuffer(value)) value = value.toString();
  if (typeof value === 'string') return { result: prefix ? `${prefix}: ${value}` : value };
  return value === undefined ? null : value;
}

export class CommandDispatcher {
  private readonly records = new Map<string, CommandRecord>();
  private readonly extensions: Record<string, Extension>;
  /** Settles when the POST ahead of this one is through (IPA's command_lock); see executeCommand. */
  private commandLock: Promise<void> = Promise.resolve();
  readonly ctx: CommandContext;

  /** `ctx` without invokeCommand: the service provides it. */
  constructor(ctx: Omit<CommandContext, 'invokeCommand'>, extensions: Record<string, Extension>) {
    this.ctx = { ...ctx, invokeCommand: (name, params) => this.invokeCommand(name, params) };
    this.extensions = extensions;
  }

  /** Every command since start, oldest first. */
  listResults(): CommandResult[] {
    return [...this.records.values()].map(serializeRecord);
  }

  /** One command; `wait` blocks until it is no longer RUNNING. Unknown id → 404. */
  async getResult(id: string, wait = false): Promise<CommandResult> {
    const r = this.records.get(id);
    if (!r) throw new RequestedObjectNotFoundError('Command Result', id);
    if (wait) await r.done;
    return serializeRecord(r);
  }

  /** Split and look up "ext.cmd"; throws the 400/404 errors IPA answers with. */
  private resolveCommand(name: unknown): { ext: string; cmd: string; spec: CommandSpec } {
    const { ext, cmd } = this.splitCommand(name);
    return { ext, cmd, spec: this.lookUp(ext, cmd) };
  }

  /**
   * "ext.cmd" → its parts at the first dot; 400 without one (IPA's split_command, checked before busy). As there,
   * "ext." and ".cmd" pass: the empty extension is then 404, the empty command 400.
   */
  private splitCommand(name: unknown): { ext: string; cmd: string } {
    if (typeof name !== 'string') throw new InvalidCommandError('Command name must be a string of the form <extension>.<name>');
    const dot = name.indexOf('.');
    if (dot < 0) throw new InvalidCommandError('Command name must be of the form <extension>.<name>');
    return { ext: name.slice(0, dot), cmd: name.slice(dot + 1) };
  }

  /** The command `cmd` of extension `ext`: 404 for an unknown extension, 400 for an unknown command (checked after busy, as in IPA). */
  private lookUp(ext: string, cmd: string): CommandSpec {
    const extension = Object.hasOwn(this.extensions, ext) ? this.extensions[ext] : undefined;
    if (!extension) throw new RequestedObjectNotFoundError('Extension', ext);
    const spec = Object.hasOwn(extension, cmd) ? extension[cmd] : undefined;
    if (!spec) throw new InvalidCommandError(`Unknown command: ${cmd}`);
    return spec;
  }

  /** The async command still running, if any (a sync one holds the lock instead). */
  private findBusyCommand(): string | undefined {
    const last = [...this.records.values()].at(-1);
    return last?.status === CommandStatus.RUNNING ? last.name : undefined;
  }

  /**
   * Run a POSTed command. Throws (→ HTTP error) only for requests IPA
   * rejects: bad name, unknown extension/command, invalid params, busy.
   * Everything that goes wrong inside the command becomes a FAILED result.
   *
   * Like IPA's command_lock, one POST at a time gets this far: a POST that
   * arrives while a sync command runs waits for it rather than answer 409.
   * The conductor relies on that: a sync command it timed out on (after
   * command_timeout, 60 s) is not in the command list yet, so it POSTs
   * again, and IPA's answer to that retry is the second run's result. An
   * async command holds the lock only while it starts; a POST meanwhile is
   * AgentIsBusy (409), as in IPA.
   *
   * Unlike IPA, a waiting POST whose client hung up (`signal` aborted) is
   * dropped when its turn comes rather than run for no one: the conductor
   * hangs up after command_timeout and POSTs again, and without this every
   * abandoned retry behind a long sync command would run in turn. So the
   * queue holds only clients still listening. The API answers a POST that
   * got its turn after it stopped serving with CommandNotStarted too.
   */
  async executeCommand(name: unknown, params: Params, o: { wait?: boolean; signal?: AbortSignal } = {}): Promise<CommandResult> {
    const previous = this.commandLock;
    let release!: () => void;
    this.commandLock = new Promise<void>((r) => {
      release = r;
    });
    let record: CommandRecord;
    try {
      await previous;
      // IPA's order: the name's form (400), busy (409), then the extension (404) and command (400).
      const { ext, cmd } = this.splitCommand(name);
      this.checkStillWanted(`${ext}.${cmd}`, o.signal);
      const busy = this.findBusyCommand();
      if (busy) throw new AgentIsBusy(busy);
      const spec = this.lookUp(ext, cmd);
      spec.validate?.(params, this.ctx);
      if (!spec.async) return await this.runSync(`${ext}.${cmd}`, cmd, spec, params);
      record = this.startAsync(cmd, spec, params);
    } finally {
      release();
    }
    if (o.wait) await record.done;
    return serializeRecord(record);
  }

  /** Throw CommandNotStarted for a POST that waited its turn and should no longer run. */
  private checkStillWanted(fullName: string, signal: AbortSignal | undefined): void {
    if (signal?.aborted) {
      this.ctx.log.warn(`not running ${fullName}: its client hung up while it waited for the command ahead`);
      throw new CommandNotStarted(`${fullName} not run: the client hung up`, true);
    }
    if (!this.ctx.state.serveApi) {
      this.ctx.log.warn(`not running ${fullName}: the API stopped serving while it waited for the command ahead`);
      throw new CommandNotStarted(`${fullName} not run: the agent's API has stopped serving`, false);
    }
  }

  private async runSync(fullName: string, cmd: string, spec: CommandSpec, params: Params): Promise<CommandResult> {
    let record: CommandRecord;
    try {
      const value = await spec.run(params, this.ctx);
      record = {
        id: crypto().randomUUID(),
        name: cmd,
        status: CommandStatus.SUCCEEDED,
        error: null,
        result: wrapResult(value),
        done: Promise.resolve(),
      };
    } catch (e) {
      // Bad-request errors raised by the command itself are answered as such (IPA re-raises InvalidContentError).
      if (isBadRequestError(e)) throw e;
      // IPA records a sync failure under the full "ext.cmd" name (ExecuteCommandMixin.execute_command).
      this.ctx.log.error(`command ${fullName} failed: ${(e as Error)?.message ?? String(e)}`);
      record = {
        id: crypto().randomUUID(),
        name: fullName,
        status: CommandStatus.FAILED,
        error: toAgentError(e),
        result: null,
        done: Promise.resolve(),
      };
    }
    this.records.set(record.id, record);
    return serializeRecord(record);
  }

  private startAsync(cmd: string, spec: CommandSpec, params: Params): CommandRecord {
    const record: CommandRecord = {
      id: crypto().randomUUID(),
      name: cmd,
      status: CommandStatus.RUNNING,
      error: null,
      result: null,
      done: Promise.resolve(),
    };
    this.records.set(record.id, record);
    // Start on the next tick so the POST answers RUNNING before any work happens.
    record.done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => spec.run(params, this.ctx))
      .then(
        (value) => {
          record.result = wrapResult(value, cmd);
          record.status = CommandStatus.SUCCEEDED;
        },
        (e: unknown) => {
          this.ctx.log.error(`command ${cmd} failed: ${(e as Error)?.message ?? String(e)}`);
          record.error = toAgentError(e);
          record.status = e instanceof VersionMismatch ? CommandStatus.VERSION_MISMATCH : CommandStatus.FAILED;
        },
      )
      .finally(() => {
        // The conductor moves on only when it hears from us: heartbeat now, not in 90-180 s.
        try {
          this.ctx.state.requestHeartbeat();
        } catch (e) {
          this.ctx.log.warn(`requesting a heartbeat failed: ${(e as Error).message}`);
        }
      });
    return record;
  }

  /** Run a command without recording it or checking busy; rejects with its error (flow, write_image). */
  async invokeCommand(name: string, params: Params): Promise<unknown> {
    const { cmd, spec } = this.resolveCommand(name);
    spec.validate?.(params, this.ctx);
    return wrapResult(await spec.run(params, this.ctx), spec.async ? cmd : undefined);
  }
}
