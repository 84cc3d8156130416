/** Check (and with fix: install) the host tools, and run host probes. Library side of `ramforge doctor`. */
import { HostProbeError, ToolMissingError, UserError } from '../errors.js';
import { run } from '../exec/run.js';
import {
  aptInstallLine,
  BUILD_PURPOSES,
  missingRequirements,
  requirementsFor,
  type HostProbe,
  type HostRequirement,
  type Purpose,
} from './tools.js';

export interface DoctorReport {
  purposes: Purpose[];
  missing: HostRequirement[];
  installed: string[];
  aptLine: string | undefined;
}

/** `build` stands for every tool a build of any available flavor may need. */
export function expandPurposes(purposes: Purpose[]): Purpose[] {
  return [...new Set(purposes.flatMap((p) => (p === 'build' ? BUILD_PURPOSES : [p])))];
}

export async function checkHost(opts: { purposes: Purpose[]; fix?: boolean; log?: (line: string) => void }): Promise<DoctorReport> {
  const { missing, installed } = await installMissing(requirementsFor(expandPurposes(opts.purposes)), {
    fix: opts.fix ?? false,
    log: opts.log,
  });
  return { purposes: opts.purposes, missing, installed, aptLine: missing.length ? aptInstallLine(missing) : undefined };
}

async function installMissing(
  reqs: HostRequirement[],
  opts: { fix: boolean; log?: (line: string) => void },
): Promise<{ missing: HostRequirement[]; installed: string[] }> {
  let missing = missingRequirements(reqs);
  const installed: string[] = [];
  if (missing.length && opts.fix) {
    if (process.getuid?.() !== 0)
      throw new UserError('installing host packages needs root', { hint: `run as root, or: sudo ${aptInstallLine(missing)}` });
    const pkgs = [...new Set(missing.map((m) => m.pkg))].sort();
    opts.log?.(`installing ${pkgs.join(' ')}`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    // The host's package lists may be stale or absent on a fresh machine.
    await run(['apt-get', 'update', '-qq'], { env });
    // Not cut short by an interrupt: dpkg stopped half-way leaves packages half-configured.
    await run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env, noInterrupt: true });
    installed.push(...pkgs);
    missing = missingRequirements(reqs);
  }
  return { missing, installed };
}

/**
 * Install (as root, when allowed) or name what is missing of `reqs`, then
 * run the probes; throws ToolMissingError or HostProbeError. Returns the
 * Debian packages it installed.
 */
export async function ensureHost(
  reqs: HostRequirement[],
  probes: HostProbe[],
  opts: { install: boolean; log?: (line: string) => void },
): Promise<string[]> {
  const { missing, installed } = await installMissing(reqs, { fix: opts.install && process.getuid?.() === 0, log: opts.log });
  if (missing.length) throw new ToolMissingError(missing);
  const failed: { what: string; problem: string; hint: string }[] = [];
  for (const p of probes) {
    const problem = await p.check();
    if (problem !== undefined) failed.push({ what: p.what, problem, hint: p.hint });
  }
  if (failed.length) throw new HostProbeError(failed);
  return installed;
}

/** The tools of `purposes` (the ISO command's pre-check). */
export async function requireHost(purposes: Purpose[], opts: { install: boolean; log?: (line: string) => void }): Promise<string[]> {
  return ensureHost(requirementsFor(expandPurposes(purposes)), [], opts);
}
