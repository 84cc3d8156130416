import { checkHost, expandPurposes } from '../../host/doctor.js';
import { HOST_REQUIREMENTS, isPresent, type Purpose } from '../../host/tools.js';
import { CliUsageError, parseFlags, plainLog } from '../args.js';

const USAGE = `ramforge doctor [--fix] [--for build|iso|test|all] [--json]

List the host tools ramforge needs, which are missing, and the exact apt-get
line that installs them. --fix installs them (root).

Options:
  --for WHAT   build, iso, test or all (default: build and iso)
  --fix        install what is missing with apt-get
  --json       machine-readable report on stdout
  --debug      print every command run and stack traces
  -h, --help   this help

Exit code 1 when something is missing (after --fix: when it could not be
installed), 0 when all is there.`;

export async function run(argv: string[]): Promise<number> {
  const { values: v } = parseFlags(argv, { fix: { type: 'boolean' }, for: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  if (v.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const sel = v.for ?? 'build,iso';
  const purposes: Purpose[] = sel === 'all' ? ['build', 'iso', 'test'] : (sel.split(',') as Purpose[]);
  for (const p of purposes)
    if (!['build', 'iso', 'test'].includes(p)) throw new CliUsageError(`--for: unknown purpose '${p}'`, 'use build, iso, test or all');
  const report = await checkHost({ purposes, fix: v.fix, log: plainLog });
  if (v.json) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    for (const r of HOST_REQUIREMENTS.filter((x) => x.purposes.some((p) => expandPurposes(purposes).includes(p)))) {
      process.stdout.write(`${isPresent(r.tool) ? 'ok     ' : 'MISSING'}  ${r.tool.padEnd(46)} ${r.pkg.padEnd(22)} ${r.why}\n`);
    }
    if (report.aptLine) process.stdout.write(`\nmissing: install with\n  ${report.aptLine}\n(or: ramforge doctor --fix)\n`);
    else process.stdout.write('\nall host tools present\n');
  }
  return report.missing.length ? 1 : 0;
}
