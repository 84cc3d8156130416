/**
 * Ctrl-C, SIGTERM (a CI job cancelled, `timeout`) and SIGHUP (the terminal
 * went away) during a command that writes files: the first one aborts the
 * command's AbortSignal, so running programs are stopped (each in its own
 * process group: exec/run.ts; a dib phase's through its signal), the
 * command's `finally` blocks remove the workspace and partial files, and
 * nothing is published. A second signal kills the programs still running
 * and exits at once (the workspace is then left; the next build removes
 * it: see workspace.ts).
 *
 * Without handlers Node dies on the first signal with no cleanup at all,
 * and a dib phase (its own process group, so a terminal's Ctrl-C does not
 * reach it) went on running after ramforge had gone.
 */
import { constants } from 'node:os';
import { InterruptedError } from '../errors.js';
import { killRunningPrograms } from '../exec/run.js';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface Interrupt {
  signal: AbortSignal;
  /** Removes the handlers (tests; the CLI exits instead). */
  dispose(): void;
}

export function installInterruptHandlers(
  what: string,
  write: (line: string) => void = (l) => process.stderr.write(l),
  exit: (code: number) => void = (c) => process.exit(c),
): Interrupt {
  const controller = new AbortController();
  // After SIGHUP the terminal is gone: writes to it fail (EIO), and an unhandled stream error would end the
  // process before its cleanup. Progress lines are then lost, nothing else.
  const ignore = (): void => {};
  process.stderr.on('error', ignore);
  const say = (line: string): void => {
    try {
      write(line);
    } catch {
      // as above
    }
  };
  const handlers = SIGNALS.map((sig) => {
    const code = constants.signals[sig];
    const handler = (): void => {
      if (controller.signal.aborted) {
        say(`ramforge: ${sig} again: stopping now; ${what}\n`);
        killRunningPrograms();
        exit(128 + code);
        return;
      }
      say(`\nramforge: ${sig}: stopping and cleaning up (send it again to stop at once)\n`);
      controller.abort(new InterruptedError(sig, code));
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  return {
    signal: controller.signal,
    dispose: () => {
      for (const [sig, h] of handlers) process.off(sig, h);
      process.stderr.off('error', ignore);
    },
  };
}

/**
 * The error to report for a command that failed: the interrupt, saying what
 * became of the work, when there was one (the failure is its consequence:
 * a program killed, a stage stopped).
 */
export function interruptedOr(e: unknown, signal: AbortSignal, outcome: string): unknown {
  const r: unknown = signal.reason;
  return signal.aborted && r instanceof InterruptedError ? new InterruptedError(r.signalName, r.signalNumber, outcome) : e;
}
