/**
 * Run an external program inside the ramdisk: argv only, no shell; bounded
 * output. (Not to be confused with IPA commands such as
 * `standby.prepare_image`: those go through commands/dispatcher.ts.)
 */
import { spawn } from 'node:child_process';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}
export interface ExecOptions {
  input?: string | Buffer;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Exit codes that do not throw. Default [0]. */
  okCodes?: number[];
  cwd?: string;
}

export class ExecError extends Error {
  constructor(
    readonly argv: string[],
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
    cause?: unknown,
  ) {
    super(
      `Command ${argv.join(' ')} failed with ${code === null ? 'no exit code' : `exit code ${code}`}: ${stderr.trim().slice(-2000) || stdout.trim().slice(-500)}`,
      { cause },
    );
    this.name = 'ExecError';
  }
}

/** Runs an external program; shared by everything that shells out, so tests can pass a recorder/fake. */
export type ProgramRunner = (argv: string[], opts?: ExecOptions) => Promise<ExecResult>;

const MAX = 16 << 20;

export const execute: ProgramRunner = (argv, opts = {}) =>
  new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (!cmd) return reject(new Error('execute: empty argv'));
    const child = spawn(cmd, args, {
      env: { ...process.env, LC_ALL: 'C', ...(opts.env ?? {}) },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      cwd: opts.cwd,
    });
    // Not spawn's `timeout` option: Node keeps that timer running when the
    // program is missing (ENOENT), holding the process open for the whole timeout.
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      if (out.length < MAX) out += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      if (err.length < MAX) err += d.toString();
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ExecError(argv, null, out, String(e.message), e));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const c = code ?? -1;
      if ((opts.okCodes ?? [0]).includes(c)) resolve({ stdout: out, stderr: err, code: c });
      else reject(new ExecError(argv, code, out, err));
    });
  });

/** The program could not be started because it is not there (spawn ENOENT). */
export function isProgramMissing(e: unknown): boolean {
  if (!(e instanceof ExecError) || e.code !== null) return false;
  const cause = e.cause as NodeJS.ErrnoException | undefined;
  return cause?.code === 'ENOENT' || /\bENOENT\b/.test(e.stderr);
}
