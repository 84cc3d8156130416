/** Shared flag parsing for the commands (node:util parseArgs, strict). */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../errors.js';

export interface CommandModule {
  run(argv: string[]): Promise<number>;
}

export class CliUsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { hint: hint ?? 'see --help' });
    this.name = 'CliUsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

export function parseFlags<O extends Options>(argv: string[], options: O, usage: string, allowPositionals = false) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' }, debug: { type: 'boolean' } },
      allowPositionals,
      strict: true,
    });
  } catch (e) {
    throw new CliUsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), `usage: ${usage.split('\n')[0]}`);
  }
}

/** Plain, timestamped progress lines on stderr (what CI logs see). */
export function plainLog(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

export function humanSize(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`;
  return `${bytes} B`;
}
