/**
 * The ramforge command line: parse, lazily load one command, one catch.
 * The only module that touches process.exit; output for machines goes to
 * stdout (--json), everything for people to stderr.
 */
import { InternalError, InterruptedError, ProcessError, UserError, BuildError } from '../errors.js';
import { setTrace, quoteArgv } from '../exec/run.js';
import { RAMFORGE_VERSION } from '../version.js';
import { CliUsageError, type CommandModule } from './args.js';

const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  build: () => import('./commands/build.js'),
  iso: () => import('./commands/iso.js'),
  doctor: () => import('./commands/doctor.js'),
  ls: () => import('./commands/ls.js'),
};

const HELP = `ramforge ${RAMFORGE_VERSION}: build Ironic provisioning ramdisks and ISOs

Usage: ramforge <command> [options]

Commands:
  build    build a ramdisk (kernel + initramfs), its ISO and UKI into output/<name>/
  iso      make a BIOS+UEFI hybrid ISO from any kernel and initramfs
  doctor   list missing host tools and the apt-get line to install them
  ls       list the members and files of an initramfs

Options:
  --debug        (with any command) print each program run, and an error's stack
  -V, --version  print ramforge's version

Run 'ramforge <command> --help' for a command's options.
Exit codes: 0 success, 2 bad input (spec, flags, files), 1 build failure,
128 + n stopped by signal n (130 for Ctrl-C) with nothing published.
`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === '-V') {
    process.stdout.write(`${RAMFORGE_VERSION}\n`);
    return 0;
  }
  const load = COMMANDS[cmd];
  if (!load) throw new CliUsageError(`unknown command '${cmd}'`, `commands: ${Object.keys(COMMANDS).join(', ')}`);
  if (rest.includes('--debug')) setTrace((a) => process.stderr.write(`+ ${quoteArgv(a)}\n`));
  const mod = await load();
  return mod.run(rest);
}

function report(e: unknown, debug: boolean): number {
  const err = (s: string) => process.stderr.write(s + '\n');
  if (e instanceof InterruptedError) {
    err(`ramforge: ${e.message}`);
    if (debug && e.stack) err(e.stack);
    return e.exitCode;
  }
  if (e instanceof UserError || e instanceof BuildError) {
    const lines = e.message.split('\n');
    err(`ramforge: error: ${lines[0]}`);
    for (const l of lines.slice(1)) err(`ramforge: error: ${l}`);
    const cause = e.cause instanceof ProcessError ? e.cause : undefined;
    if (cause?.stderrTail.trim()) err(`  ${cause.shortMessage}:\n    ${cause.stderrTail.trim().split('\n').slice(-8).join('\n    ')}`);
    if (e.hint) err(`  hint: ${e.hint}`);
    if (debug && e.stack) err(e.stack);
    return e.exitCode;
  }
  if (e instanceof ProcessError) {
    err(`ramforge: error: ${e.shortMessage}`);
    if (e.stderrTail.trim()) err(`    ${e.stderrTail.trim().split('\n').slice(-8).join('\n    ')}`);
    err(`  command: ${quoteArgv(e.command)}`);
    return 1;
  }
  const internal = e instanceof InternalError;
  err(`ramforge: ${internal ? 'internal error' : 'error'}: ${(e as Error)?.message ?? String(e)}`);
  if (debug || internal) err((e as Error)?.stack ?? '');
  if (internal) err('  this is a bug in ramforge: please report it with the output of --debug');
  return 1;
}

/**
 * Exit once stdout and stderr have taken everything written to them: on a pipe they are asynchronous, and
 * process.exit() alone dropped what was still queued (`ramforge ls IMAGE | wc -l` counted 692 of 5,545 lines).
 * A reader that went away (EPIPE: `| head`) ends the wait too.
 */
function exitWhenFlushed(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    stream.once('error', () => process.exit(code));
    stream.write('', done);
  }
}

const argv = process.argv.slice(2);
main(argv).then(exitWhenFlushed, (e: unknown) => exitWhenFlushed(report(e, argv.includes('--debug'))));
