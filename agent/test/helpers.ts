/**
 * Test fixtures for the agent core: a state from IPA defaults, a recording
 * command runner (no program ever runs), a fake hardware manager, and an
 * app wired like main.ts, served on 127.0.0.1 when a test first sends to it.
 */
import { type AgentApi, buildApp } from '../src/api/app.js';
import { createCommandDispatcher, type CommandDispatcher, type Extension } from '../src/commands/index.js';
import { createDefaultConfig, type AgentConfig } from '../src/config.js';
import { type HardwareManagerRegistry, initializeManagers } from '../src/hardware/manager.js';
import { HardwareSupport, type HardwareManager, type Node, type Port, type Step } from '../src/hardware/types.js';
import { createState, type AgentState } from '../src/state.js';
import type { ProgramRunner, ExecOptions } from '../src/util/exec.js';
import type { Log } from '../src/util/log.js';

import { inject, injectable } from './support/inject.js';
import { silentLog } from './support/logs.js';

export { silentLog };

export function makeConfig(over: Partial<AgentConfig> = {}): AgentConfig {
  return { ...createDefaultConfig(), listenHost: '127.0.0.1', listenPort: 0, standalone: true, ...over };
}

/** A runner that records argv and answers from `answers` (by argv[0]), else empty success. */
export function createRecorder(
  answers: Record<string, string> = {},
): ProgramRunner & { calls: string[][]; opts: (ExecOptions | undefined)[] } {
  const calls: string[][] = [];
  const opts: (ExecOptions | undefined)[] = [];
  const run = (async (argv: string[], o?: ExecOptions) => {
    calls.push(argv);
    opts.push(o);
    return { stdout: answers[argv[0]!] ?? '', stderr: '', code: 0 };
  }) as ProgramRunner & { calls: string[][]; opts: (ExecOptions | undefined)[] };
  run.calls = calls;
  run.opts = opts;
  return run;
}

/** A manager with one clean step `fake_step` whose behaviour the test controls. */
export class FakeManager implements HardwareManager {
  readonly name = 'fake_manager';
  readonly version = '2.0';
  [k: string]: unknown;
  calls: unknown[][] = [];
  gate: Promise<void> = Promise.resolve();
  failWith: Error | undefined;
  evaluate_hardware_support(): number {
    return HardwareSupport.MAINLINE;
  }
  get_clean_steps(_n: Node, _p: Port[]): Step[] {
    return [{ step: 'fake_step', priority: 50, interface: 'deploy', reboot_requested: false, abortable: true }];
  }
  get_deploy_steps(): Step[] {
    return [];
  }
  get_service_steps(): Step[] {
    return [];
  }
  async fake_step(node: Node, ports: Port[], args: Record<string, unknown>): Promise<unknown> {
    this.calls.push([node, ports, args]);
    await this.gate;
    if (this.failWith) throw this.failWith;
    return { done: true, args };
  }
}

export interface TestAgent {
  /** The API, served on 127.0.0.1 on first inject(). */
  app: ReturnType<typeof injectable>;
  state: AgentState;
  commands: CommandDispatcher;
  managers: HardwareManagerRegistry;
  run: ReturnType<typeof createRecorder>;
  heartbeats: number;
}

export async function createTestAgent(
  o: {
    config?: Partial<AgentConfig>;
    managers?: HardwareManager[];
    extra?: Record<string, Extension>;
    token?: string;
    bodyLimit?: number;
    bodyIdleMs?: number;
    /** Runs programs for the commands: the recorder by default, which runs nothing. */
    runner?: ProgramRunner;
    /** The commands' log: silent by default. */
    log?: Log;
  } = {},
): Promise<TestAgent> {
  const config = makeConfig(o.config);
  const state = createState(config, '10.0.0+ramforge');
  state.token = o.token;
  const managers = await initializeManagers(o.managers ?? [new FakeManager()], { log: silentLog });
  const run = createRecorder();
  const commands = createCommandDispatcher({ state, config, managers, run: o.runner ?? run, log: o.log ?? silentLog }, o.extra);
  const agent: TestAgent = {
    app: injectable(buildApp(state, commands, { bodyLimit: o.bodyLimit, bodyIdleMs: o.bodyIdleMs })),
    state,
    commands,
    managers,
    run,
    heartbeats: 0,
  };
  state.requestHeartbeat = () => {
    agent.heartbeats++;
  };
  return agent;
}

/** POST a command over a socket; returns status and parsed JSON. */
export async function postCommand(app: AgentApi, body: unknown, query = ''): Promise<{ status: number; json: any }> {
  const r = await inject(app, {
    method: 'POST',
    url: `/v1/commands/${query}`,
    payload: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  return { status: r.statusCode, json: r.body ? JSON.parse(r.body) : undefined };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A gate a test's command waits on: `wait` settles once `open()` is called. */
export function makeGate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { wait, open };
}
