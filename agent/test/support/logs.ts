/** Test doubles of the agent's Log (agent/src/util/log.ts). */
import type { Log } from '../../src/util/log.js';

/** Swallows everything (tests that do not look at logs). */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** Keeps every line in memory as "LEVEL message", for tests that assert on log content. */
export function createMemoryLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const push =
    (level: string) =>
    (m: string): void => {
      lines.push(`${level} ${m}`);
    };
  return { lines, debug: push('DEBUG'), info: push('INFO'), warn: push('WARNING'), error: push('ERROR') };
}
