/**
 * The agent's one logger. Everything logs through a `Log`; the process's log
 * writes one line per message to stderr, which the ramdisk's service manager
 * (and the console) capture. Hardware managers get the same object, and
 * console or a pino logger fit the interface too.
 */
export interface Log {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** One timestamped line per message on stderr; debug lines only with `debug` (ipa-debug). */
export function createConsoleLog(debug = false): Log {
  const line = (level: string) => (msg: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${level} agent: ${msg}\n`);
  };
  return { debug: debug ? line('DEBUG') : () => {}, info: line('INFO'), warn: line('WARNING'), error: line('ERROR') };
}

/** Swallows everything (tests that do not look at logs). */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** Keeps every line in memory as "LEVEL message", for tests that assert on log content. */
export function createMemoryLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (m: string): void => { lines.push(`${level} ${m}`); };
  return { lines, debug: push('DEBUG'), info: push('INFO'), warn: push('WARNING'), error: push('ERROR') };
}
