/** Check (and with fix: install) the host tools. Library side of `ramforge doctor`. */
import { ToolMissingError, UserError } from '../errors.js';
import { run } from '../exec/run.js';
import { aptInstallLine, missingRequirements, type HostRequirement, type Purpose } from './tools.js';

export interface DoctorReport {
  purposes: Purpose[];
  missing: HostRequirement[];
  installed: string[];
  aptLine: string | undefined;
}

export async function checkHost(opts: { purposes: Purpose[]; fix?: boolean; log?: (line: string) => void }): Promise<DoctorReport> {
  let missing = missingRequirements(opts.purposes);
  const installed: string[] = [];
  if (missing.length && opts.fix) {
    if (process.getuid?.() !== 0) throw new UserError('installing host packages needs root', { hint: `run as root, or: sudo ${aptInstallLine(missing)}` });
    const pkgs = [...new Set(missing.map((m) => m.pkg))].sort();
    opts.log?.(`installing ${pkgs.join(' ')}`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    // The host's package lists may be stale or absent on a fresh machine.
    await run(['apt-get', 'update', '-qq'], { env });
    await run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env });
    installed.push(...pkgs);
    missing = missingRequirements(opts.purposes);
  }
  return { purposes: opts.purposes, missing, installed, aptLine: missing.length ? aptInstallLine(missing) : undefined };
}

/** Throw ToolMissingError if anything is missing (the pre-build check). */
export async function requireHost(purposes: Purpose[], opts: { install: boolean; log?: (line: string) => void }): Promise<string[]> {
  const report = await checkHost({ purposes, fix: opts.install && process.getuid?.() === 0, log: opts.log });
  if (report.missing.length) throw new ToolMissingError(report.missing);
  return report.installed;
}
