/**
 * The error of a failed element script: DIB stops the build at the first
 * failing script; ramforge says which one, where, how, and shows the end of
 * its output (exit code 1: the input was well-formed, a step of it failed).
 */
import { BuildError } from '../../../errors.js';

/** Lines of a failed script's output shown in the error. */
export const TAIL_LINES = 20;

export interface ScriptFailure {
  element: string;
  phase: string;
  /** The script's name in the phase directory, or the environment.d file that failed. */
  script: string;
  /** 'script' or an environment.d file sourced before the phase. */
  kind: 'script' | 'environment';
  exitCode: number | null;
  signal?: string | null;
  /** The last lines of its output (stdout and stderr interleaved). */
  tail: string[];
}

export class ElementScriptError extends BuildError {
  readonly failure: ScriptFailure;
  constructor(f: ScriptFailure) {
    super(formatScriptFailure(f), {
      hint:
        f.kind === 'environment'
          ? `fix environment.d/${f.script} of element ${f.element} (it is sourced by bash with set -eu before every phase)`
          : `fix ${f.phase}/${f.script} of element ${f.element} (or the input it reads); DIB_DEBUG_TRACE=1 traces the scripts that honour it`,
    });
    this.name = 'ElementScriptError';
    this.failure = f;
  }
}

/** The message: one headline, then the output tail indented. */
export function formatScriptFailure(f: ScriptFailure): string {
  const how = f.signal ? `was killed by ${f.signal}` : `exited with code ${f.exitCode}`;
  const what = f.kind === 'environment' ? `environment.d/${f.script} (sourced before ${f.phase})` : `${f.phase}/${f.script}`;
  const head = `element ${f.element}: ${what} ${how}`;
  const tail = f.tail.slice(-TAIL_LINES);
  if (tail.length === 0) return `${head} (no output)`;
  return [`${head}; last ${tail.length} line${tail.length === 1 ? '' : 's'} of its output:`, ...tail.map((l) => `  | ${l}`)].join('\n');
}

/** A bounded list of the last lines seen. */
export class LineTail {
  private lines: string[] = [];
  constructor(private readonly max = TAIL_LINES) {}
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.shift();
  }
  reset(): void {
    this.lines = [];
  }
  get(): string[] {
    return [...this.lines];
  }
}
