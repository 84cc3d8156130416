/**
 * Ctrl-C, SIGTERM (a CI job cancelled, `timeout`) and SIGHUP (the terminal
 * went away) during a command that writes files: the first one aborts the
 * command's AbortSignal, so running programs are stopped (the build's
 * children through their signal, a dib phase's whole process group), the
 * command's `finally` blocks remove the workspace and partial files, and
 * nothing is published. A second signal exits at once (the workspace is
 * then left; the next build removes it: see sweepStaleWorkspaces).
 *
 * Without handlers Node dies on the first signal with no cleanup at all,
 * and a dib phase (its own process group, so a terminal's Ctrl-C does not
 * reach it) went on running after ramforge had gone.
 */
import { constants } from 'node:os';
import { InterruptedError } from '../errors.js';

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
  const handlers = SIGNALS.map((sig) => {
    const code = constants.signals[sig];
    const handler = (): void => {
      if (controller.signal.aborted) {
        write(`ramforge: ${sig} again: stopping now; ${what}\n`);
        exit(128 + code);
        return;
      }
      write(`\nramforge: ${sig}: stopping and cleaning up (send it again to stop at once)\n`);
      controller.abort(new InterruptedError(sig, code));
    };
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  return {
    signal: controller.signal,
    dispose: () => {
      for (const [sig, h] of handlers) process.off(sig, h);
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
