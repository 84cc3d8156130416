/**
 * Parsers for the text apt-get prints. Kept pure (no I/O) so they are unit
 * tested against captured output.
 */

/** A package version chosen by apt's resolver. */
export interface ResolvedPackage {
  name: string;
  version: string;
  arch: string;
}

/** A resolved package whose .deb is in the cache and matches the index's SHA256. */
export interface DownloadedPackage extends ResolvedPackage {
  /** Absolute path of the .deb in the cache. */
  path: string;
  size: number;
  sha256: string;
}

/** One line of `apt-get download --print-uris`. */
export interface PackageUri {
  uri: string;
  /** The file name apt-get download writes (epoch ':' encoded as '%3a'). */
  fileName: string;
  size: number;
  sha256: string;
}

/**
 * Parse `apt-get install -s` output. The lines look like
 *   Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []
 *   Inst linux-base (4.12.1 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [all])
 *   Inst foo [1.0-1] (1.0-2 Debian:12/stable [amd64])       (an upgrade: old version in brackets)
 * Order is apt's install order; the result is sorted by name for reproducibility.
 */
export function parseSimulatedInstall(stdout: string): ResolvedPackage[] {
  const seen = new Map<string, ResolvedPackage>();
  const re = /^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([^\]\s]+)\]\)/;
  for (const line of stdout.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const [, rawName = '', version = '', arch = ''] = m;
    // Multi-arch names may carry ":amd64"; the architecture is in the brackets anyway.
    const name = rawName.replace(/:[\w-]+$/, '');
    seen.set(`${name}:${arch}`, { name, version, arch });
  }
  return [...seen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Parse `apt-get download --print-uris`: 'URI' file size SHA256:hex */
export function parsePrintUris(stdout: string): PackageUri[] {
  const out: PackageUri[] = [];
  const re = /^'([^']+)' (\S+) (\d+) (?:\S+ )*?SHA256:([0-9a-f]{64})/;
  for (const line of stdout.split('\n')) {
    const m = re.exec(line.trim());
    if (!m) continue;
    out.push({ uri: m[1] ?? '', fileName: m[2] ?? '', size: Number(m[3]), sha256: m[4] ?? '' });
  }
  return out;
}

/** The file name apt-get download gives a package: name_version_arch.deb with ':' as %3a. */
export function debFileName(p: ResolvedPackage): string {
  return `${p.name}_${p.version.replace(/:/g, '%3a')}_${p.arch}.deb`;
}

/** What an apt-get failure is about, from its "E:" lines. */
export type AptFailure =
  | { kind: 'unknown-package'; name: string }
  | { kind: 'unknown-version'; name: string; version: string }
  | { kind: 'no-candidate'; name: string }
  | { kind: 'unresolvable'; detail: string }
  | { kind: 'fetch-failed'; uri: string; reason: string }
  | { kind: 'signature'; detail: string }
  | { kind: 'other'; detail: string };

/** Classify apt-get's stderr (+ stdout, where apt prints the unmet dependencies). */
export function classifyAptFailure(text: string): AptFailure {
  const lines = text.split('\n').map((l) => l.trim());
  for (const l of lines) {
    let m = /^E: Unable to locate package (\S+)/.exec(l);
    if (m) return { kind: 'unknown-package', name: m[1] ?? '' };
    m = /^E: Version '([^']+)' for '([^']+)' was not found/.exec(l);
    if (m) return { kind: 'unknown-version', name: m[2] ?? '', version: m[1] ?? '' };
    m = /^E: Package '([^']+)' has no installation candidate/.exec(l);
    if (m) return { kind: 'no-candidate', name: m[1] ?? '' };
  }
  const sig = lines.find((l) => /NO_PUBKEY|not signed|EXPKEYSIG|BADSIG|signatures (were )?invalid|The following signatures/.test(l));
  if (sig) return { kind: 'signature', detail: sig };
  for (const l of lines) {
    const m = /^[EW]: Failed to fetch (\S+)\s+(.*)$/.exec(l);
    if (m) return { kind: 'fetch-failed', uri: m[1] ?? '', reason: (m[2] ?? '').trim() };
  }
  const unmet = lines.filter((l) => / : Depends: | : PreDepends: |Unable to correct problems|held broken packages/.test(l));
  if (unmet.length) return { kind: 'unresolvable', detail: unmet.join('; ') };
  const e = lines.filter((l) => l.startsWith('E: ')).join('; ');
  return { kind: 'other', detail: e || lines.filter(Boolean).slice(-3).join('; ') };
}

/** fetch-failed's text: the failure's first line, then `settings KEY` (absent in memos written before the key was). */
export function parseFailedFetch(text: string): { failure: string; settings?: string } {
  const lines = text.split('\n');
  const settings = lines.map((l) => /^settings ([0-9a-f]+)$/.exec(l.trim())?.[1]).find((k) => k !== undefined);
  return { failure: (lines[0] ?? '').trim(), ...(settings !== undefined ? { settings } : {}) };
}
