/**
 * Every error the builder library throws. The CLI (cli/main.ts) is the only
 * place that catches them, prints them and maps them to exit codes:
 * UserError (and subclasses) → 2, everything else → 1.
 */

/** Bad input: a spec, a flag, a file the user named. Exit code 2. */
export class UserError extends Error {
  readonly exitCode = 2;
  /** What to do about it, printed after the message. */
  readonly hint: string | undefined;
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'UserError';
    this.hint = opts.hint;
  }
}

export interface SpecIssue {
  /** JSON-pointer-like path in the spec, e.g. "outputs[1].format" or "packages". */
  path: string;
  message: string;
  /** How to fix it. */
  fix?: string;
  /** The value came from a command-line flag, not from the spec file. */
  fromFlags?: boolean;
}

/** The spec failed validation; carries every issue found, not just the first. */
export class SpecError extends UserError {
  readonly issues: SpecIssue[];
  readonly file: string | undefined;
  constructor(issues: SpecIssue[], file?: string) {
    const where = (i: SpecIssue): string => (i.fromFlags ? 'command line: ' : file ? `${file}: ` : '');
    const lines = issues.map((i) => `${where(i)}${i.path || '(root)'}: ${i.message}${i.fix ? ` (${i.fix})` : ''}`);
    super(lines.join('\n'));
    this.name = 'SpecError';
    this.issues = issues;
    this.file = file;
  }
}

/** A host tool is missing. Names the Debian package that provides it. */
export class ToolMissingError extends UserError {
  readonly tools: { tool: string; pkg: string; why: string }[];
  constructor(tools: { tool: string; pkg: string; why: string }[]) {
    const pkgs = [...new Set(tools.map((t) => t.pkg))].sort();
    super(`missing host tools: ${tools.map((t) => `'${t.tool}' (${t.why})`).join(', ')}`, {
      hint: `install them with: apt-get install -y ${pkgs.join(' ')}  (or run: ramforge doctor --fix)`,
    });
    this.name = 'ToolMissingError';
    this.tools = tools;
  }
}

/** A host condition no package fixes does not hold (see HostProbe in host/tools.ts). */
export class HostProbeError extends UserError {
  readonly failed: { what: string; problem: string; hint: string }[];
  constructor(failed: { what: string; problem: string; hint: string }[]) {
    super(`the host is not ready: ${failed.map((f) => `${f.what}: ${f.problem}`).join('; ')}`, {
      hint: failed.map((f) => f.hint).join('; '),
    });
    this.name = 'HostProbeError';
    this.failed = failed;
  }
}

/** An external process failed. */
export class ProcessError extends Error {
  readonly command: string[];
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Last few KiB of stderr. */
  readonly stderrTail: string;
  readonly shortMessage: string;
  constructor(command: string[], exitCode: number | null, signal: NodeJS.Signals | null, stderrTail: string, cause?: unknown) {
    const what = signal ? `killed by ${signal}` : `exited with code ${exitCode}`;
    const short = `${command[0]} ${what}`;
    const tail = stderrTail.trim().split('\n').slice(-5).join('\n');
    super(tail ? `${short}: ${tail}` : short, { cause });
    this.name = 'ProcessError';
    this.command = command;
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderrTail = stderrTail;
    this.shortMessage = short;
  }
}

/** A build step failed for a reason outside the user's input (network, disk, tool). Exit code 1. */
export class BuildError extends Error {
  readonly exitCode = 1;
  readonly hint: string | undefined;
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'BuildError';
    this.hint = opts.hint;
  }
}

/**
 * The run was stopped by a signal (Ctrl-C, a CI job's cancel, `timeout`).
 * The reason an interrupted command's AbortSignal carries; exit code
 * 128 + the signal's number, as a shell reports a process it killed.
 */
export class InterruptedError extends Error {
  readonly exitCode: number;
  readonly signalName: NodeJS.Signals;
  readonly signalNumber: number;
  /** What became of the command's work, e.g. "nothing was published". */
  constructor(signalName: NodeJS.Signals, signalNumber: number, outcome?: string) {
    super(`interrupted by ${signalName}${outcome ? `: ${outcome}` : ''}`);
    this.signalNumber = signalNumber;
    this.name = 'InterruptedError';
    this.signalName = signalName;
    this.exitCode = 128 + signalNumber;
  }
}

/** A bug in ramforge. */
export class InternalError extends Error {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'InternalError';
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** Turn low-level fs errors into actionable build errors (ENOSPC etc.). */
export function explainFsError(e: unknown, what: string): Error {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const path = (e as NodeJS.ErrnoException | undefined)?.path;
  const at = path ? ` (${path})` : '';
  if (code === 'ENOSPC')
    return new BuildError(`${what}: no space left on device${at}`, {
      hint: 'free disk space where the output directory is (the build works in .workspace beside it) or choose --output on a larger filesystem, and run again',
      cause: e,
    });
  if (code === 'EDQUOT')
    return new BuildError(`${what}: disk quota exceeded`, { hint: 'free space under your quota and run again', cause: e });
  if (code === 'EACCES' || code === 'EPERM')
    return new BuildError(`${what}: permission denied${at}`, {
      hint: path
        ? `check that you may read ${path} (an input of the spec) or write where it is (the output directory and the .workspace beside it)`
        : 'check the permissions of the output directory and the .workspace beside it',
      cause: e,
    });
  if (code === 'EXDEV')
    return new BuildError(`${what}: the workspace and the output directory are on different filesystems${at}`, {
      hint: 'choose an --output directory on one filesystem with its parent directory, or make it a mount point of its own',
      cause: e,
    });
  return e instanceof Error ? e : new Error(String(e));
}
