/**
 * The minimal logger the Ironic client needs. main.ts may pass its own (e.g.
 * a pino/fastify logger, whose methods have the same shape); the default
 * writes one line per message to stderr, which is what the ramdisk's
 * service manager captures as the agent's log.
 */
export interface ClientLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

function writeLine(level: string, msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level} ironic-client: ${msg}\n`);
}

/** Logs to stderr; debug lines only when `debug` is true (ipa-debug). */
export function createStderrLogger(debug = false): ClientLogger {
  return {
    debug: (m) => { if (debug) writeLine('DEBUG', m); },
    info: (m) => writeLine('INFO', m),
    warn: (m) => writeLine('WARNING', m),
    error: (m) => writeLine('ERROR', m),
  };
}

/** Swallows everything: the default in tests that do not look at logs. */
export const silentLogger: ClientLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Keeps every line in memory, for tests that assert on log content. */
export function createMemoryLogger(): ClientLogger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (m: string) => { lines.push(`${level} ${m}`); };
  return { lines, debug: push('DEBUG'), info: push('INFO'), warn: push('WARNING'), error: push('ERROR') };
}
