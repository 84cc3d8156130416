/**
 * The one way the builder starts external programs: argv arrays, never a
 * shell; explicit cwd; a small fixed environment; stderr kept (bounded) for
 * the error message.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ProcessError } from '../errors.js';

const STDERR_TAIL = 8192;

export interface RunOptions {
  cwd?: string;
  /** Extra variables; merged over the minimal base environment. */
  env?: Record<string, string | undefined>;
  /** Data or a stream for stdin. Default: ignored. */
  input?: string | Buffer | Readable;
  /** Where stdout goes. Default: captured and returned. */
  stdout?: Writable | 'inherit' | 'ignore';
  /** Called with every chunk of stderr (e.g. to feed a task list). */
  onStderr?: (chunk: string) => void;
  /**
   * Stops the program when aborted: SIGTERM to its process group (it runs in
   * one of its own), SIGKILL 10 s later if it is still there; run() settles
   * only once it has exited. Default: the process's interrupt signal
   * (setInterruptSignal).
   */
  signal?: AbortSignal;
  /**
   * Runs to its end even after an interrupt (the default signal does not
   * apply): cleanup steps, and programs that must not be cut short (apt-get
   * installing packages).
   */
  noInterrupt?: boolean;
  /** Exit codes that count as success. Default [0]. */
  okCodes?: number[];
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Debug hook: set by the CLI with --debug; prints "+ argv". */
export let traceCommand: ((argv: string[]) => void) | undefined;
export function setTrace(fn: ((argv: string[]) => void) | undefined): void {
  traceCommand = fn;
}

/**
 * How the site reaches the network: proxies, the CA that a TLS-inspecting
 * proxy signs with, npm's own settings (registry, cafile, cache). Passed
 * through to npm, apt and curl-like tools; nothing else of the caller's
 * environment is.
 */
export const NETWORK_ENV = /^(?:https?_proxy|no_proxy|all_proxy|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|npm_config_[a-z0-9_]+)$/i;

export function baseEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {
    PATH: env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    HOME: env.HOME ?? '/root',
    ...(env.TMPDIR ? { TMPDIR: env.TMPDIR } : {}),
    ...(env.SOURCE_DATE_EPOCH ? { SOURCE_DATE_EPOCH: env.SOURCE_DATE_EPOCH } : {}),
  };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && NETWORK_ENV.test(k)) out[k] = v;
  return out;
}

/**
 * The CLI's interrupt (cli/interrupt.ts): every program started without a
 * signal of its own is stopped when it fires, so a Ctrl-C or a SIGTERM
 * sent to ramforge alone does not wait for a long download or compressor.
 * Set by the CLI only: a library caller passes its signal explicitly.
 */
let interruptSignal: AbortSignal | undefined;
export function setInterruptSignal(signal: AbortSignal | undefined): void {
  interruptSignal = signal;
}
/** For the few places that spawn a program themselves (streaming filters): `spawn(…, { ...interruptOption() })`. */
export function interruptOption(): { signal?: AbortSignal } {
  return interruptSignal ? { signal: interruptSignal } : {};
}

/** Grace between SIGTERM and SIGKILL for a stopped program's process group. */
const KILL_AFTER_MS = 10_000;

/** Process groups of the stoppable programs running now (each is its group's leader). */
const running = new Set<number>();

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

/**
 * SIGKILL to every stoppable program still running: for an exit that cannot
 * wait (a second Ctrl-C). They run in process groups of their own, so a
 * terminal's Ctrl-C does not reach them.
 */
export function killRunningPrograms(): void {
  for (const pid of running) signalGroup(pid, 'SIGKILL');
}

export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('run: empty argv');
  traceCommand?.(argv);
  const env: Record<string, string> = { ...baseEnv() };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const stdinMode = opts.input === undefined ? 'ignore' : 'pipe';
  const stdoutMode = opts.stdout === 'inherit' ? 'inherit' : opts.stdout === 'ignore' ? 'ignore' : 'pipe';
  const stdio: StdioOptions = [stdinMode, stdoutMode, 'pipe'];
  return new Promise<RunResult>((resolve, reject) => {
    const signal = opts.signal ?? (opts.noInterrupt ? undefined : interruptSignal);
    if (signal?.aborted) {
      reject(new ProcessError(argv, null, null, 'not started: stopped', signal.reason));
      return;
    }
    // A stoppable program gets a process group of its own, so stopping it stops what it started too
    // (mmdebstrap ignores SIGTERM and waits for its worker; apt-get's methods).
    const child = spawn(cmd, args, { cwd: opts.cwd, env, stdio, detached: signal !== undefined });
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      if (child.pid === undefined) return;
      signalGroup(child.pid, 'SIGTERM');
      const pid = child.pid;
      killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), KILL_AFTER_MS);
    };
    if (signal) {
      if (child.pid !== undefined) running.add(child.pid);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    const settled = (): void => {
      signal?.removeEventListener('abort', onAbort);
      if (child.pid !== undefined) running.delete(child.pid);
      clearTimeout(killTimer);
    };
    let out = '';
    let err = '';
    let errAll = '';
    const captureOut = stdoutMode === 'pipe' && typeof opts.stdout !== 'object';
    if (child.stdout) {
      if (typeof opts.stdout === 'object') child.stdout.pipe(opts.stdout, { end: false });
      else if (captureOut)
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString('utf8');
        });
    }
    child.stderr?.on('data', (d: Buffer) => {
      const s = d.toString('utf8');
      opts.onStderr?.(s);
      err += s;
      if (err.length > STDERR_TAIL * 2) err = err.slice(-STDERR_TAIL);
      if (errAll.length < 1 << 20) errAll += s;
    });
    if (child.stdin && opts.input !== undefined) {
      child.stdin.on('error', () => {
        /* EPIPE when the child exits early: reported through its exit code */
      });
      if (typeof opts.input === 'string' || Buffer.isBuffer(opts.input)) child.stdin.end(opts.input);
      else opts.input.pipe(child.stdin);
    }
    child.on('error', (e: NodeJS.ErrnoException) => {
      settled();
      if (e.code === 'ENOENT') reject(new ProcessError(argv, null, null, `could not run '${cmd}': not found on PATH`, e));
      else reject(new ProcessError(argv, null, null, e.message, e));
    });
    child.on('close', (code, killedBy) => {
      settled();
      if (signal?.aborted) {
        reject(new ProcessError(argv, code, killedBy, `stopped (${String((signal.reason as Error | undefined)?.message ?? 'aborted')})`));
        return;
      }
      const ok = (opts.okCodes ?? [0]).includes(code ?? -1);
      if (ok) resolve({ stdout: out, stderr: errAll, exitCode: code ?? 0 });
      else reject(new ProcessError(argv, code, killedBy, err.slice(-STDERR_TAIL)));
    });
  });
}

/** Absolute path of an executable on PATH (plus sbin dirs), or undefined. */
export function findTool(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  for (const d of dirs) {
    if (!d) continue;
    const p = join(d, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Shell-quote argv for display in --debug logs and error messages. */
export function quoteArgv(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
