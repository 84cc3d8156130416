/**
 * The agent's one logger. Everything logs through a `Log`; the process's log
 * writes one line per message to stderr, which the ramdisk's service manager
 * (and the console) capture. Hardware managers get the same object, and
 * console or a pino logger fit the interface too. Test doubles (silent, in
 * memory) are in agent/test/support/logs.ts.
 */
export interface Log {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** One timestamped line per message on stderr; debug lines only with `debug` (ipa-debug). */
export function createConsoleLog(debug = false): Log {
  const line =
    (level: string) =>
    (msg: string): void => {
      process.stderr.write(`${new Date().toISOString()} ${level} agent: ${msg}\n`);
    };
  return { debug: debug ? line('DEBUG') : () => {}, info: line('INFO'), warn: line('WARNING'), error: line('ERROR') };
}
