/**
 * The Debian input of a flavor built from Debian packages (tinyipa, later
 * dib): apt with a private state dir against the host's mirror resolves and
 * downloads the package closure (cached), and the kernel comes from its
 * linux-image-* .deb.
 */
import { join } from 'node:path';
import { AptRepo, SCRIPT_ONLY_PACKAGES, type DownloadedPackage } from './apt.js';
import { fetchKernel, type Kernel } from './kernel.js';
import { applySourceOverride, readHostSources, type SourceOverride } from './sources.js';
import { requirementsFor, type HostRequirement } from '../host/tools.js';

export interface DebianInputOptions {
  /** Where packages come from (default: the host's apt sources). */
  sources: SourceOverride;
  /** The flavor's own packages. */
  packages: string[];
  /** Packages the user asked for (`name` or `name=version`); never dropped. */
  userPackages: string[];
  /** Resolved as already installed: neither downloaded nor followed (they only serve maintainer scripts). */
  drop: string[];
  /** A linux-image-* package (meta or exact). */
  kernelPackage: string;
  cacheDir: string;
  log: (line: string) => void;
}

export interface DebianInput {
  packages: DownloadedPackage[];
  kernel: Kernel;
}

/** The host tools this input needs (apt, dpkg, gpgv, the archive keyring, depmod). */
export function debianHostTools(): HostRequirement[] {
  return requirementsFor(['debian']);
}

export async function fetchDebianInput(opts: DebianInputOptions): Promise<DebianInput> {
  const sources = applySourceOverride(await readHostSources(), opts.sources);
  const repo = new AptRepo({ cacheDir: join(opts.cacheDir, 'apt'), sources });
  // RAMFORGE_APT_UPDATE=1 fetches the lists now (a failed fetch fails the build). Otherwise resolve() refreshes
  // lists older than a day and, when the mirror cannot be reached, goes on with the cached ones (a warning, below).
  if (process.env.RAMFORGE_APT_UPDATE === '1') await repo.update({ force: true });
  try {
    return await repo.retryWithFreshLists(() => resolveAndFetch(repo, opts), opts.log);
  } finally {
    for (const w of repo.warnings) opts.log(`warning: ${w}`);
  }
}

async function resolveAndFetch(repo: AptRepo, opts: DebianInputOptions): Promise<DebianInput> {
  const wanted = [...opts.packages, ...opts.userPackages];
  // A package the user asked for by name is never dropped.
  const userWants = new Set(opts.userPackages.map((p) => p.split('=')[0]));
  const assumed = [...new Set([...SCRIPT_ONLY_PACKAGES, ...opts.drop])].filter((p) => !userWants.has(p));
  const resolved = await repo.resolve([...new Set(wanted)], { assumeInstalled: assumed });
  opts.log(`${resolved.length} packages resolved`);
  const packages = await repo.download(resolved);
  const kernel = await fetchKernel(repo, opts.kernelPackage);
  opts.log(`kernel ${kernel.version} from ${kernel.package.name} ${kernel.package.version}`);
  return { packages, kernel };
}
