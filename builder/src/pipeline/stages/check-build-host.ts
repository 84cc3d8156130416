import { ensureHost } from '../../host/doctor.js';
import { requirementsFor } from '../../host/tools.js';
import type { HostNeeds } from '../../flavors/contract.js';

/**
 * Fail (or, as root, install) before any slow work starts: the common
 * build tools, the ISO writer's when an ISO is wanted, and the flavor's
 * tools and probes. Returns the Debian packages installed.
 */
export async function checkBuildHost(
  flavorNeeds: HostNeeds,
  opts: { iso: boolean; install: boolean; log: (line: string) => void },
): Promise<string[]> {
  const tools = [...requirementsFor(opts.iso ? ['build', 'iso'] : ['build']), ...flavorNeeds.tools];
  const unique = [...new Map(tools.map((t) => [t.tool, t])).values()];
  return ensureHost(unique, flavorNeeds.probes, { install: opts.install, log: opts.log });
}
