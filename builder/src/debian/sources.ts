/**
 * The host's apt sources, read at run time. ramforge never carries a mirror
 * host name of its own: whatever the host's apt uses (deb822 `*.sources`,
 * one-line `sources.list` / `*.list`) is what the builder downloads from,
 * together with the keyring each source names in Signed-By.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/** One binary ("deb") source: every URI × every suite, with the same components and key. */
export interface AptSource {
  uris: string[];
  /** Suite names (bookworm, bookworm-security) or an exact path ending in '/'. */
  suites: string[];
  /** Empty for an exact-path suite. */
  components: string[];
  /** Keyring path(s) (space separated), or an inline ASCII-armoured key block. */
  signedBy?: string;
  /** Restricts the source to these architectures (Architectures: / [arch=]). */
  architectures?: string[];
  /** Where this source was read from, for error messages ("/etc/apt/sources.list.d/debian.sources"). */
  origin: string;
}

/** A spec's replacement for the host's sources. */
export interface SourceOverride {
  mirror?: string;
  suite?: string;
  components?: string[];
}

/** Parse a deb822 `.sources` text. Only `deb` entries are kept; `Enabled: no` stanzas are skipped. */
export function parseDeb822Sources(text: string, origin: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of splitStanzas(text)) {
    const types = words(stanza.get('types'));
    if (!types.includes('deb')) continue;
    if ((stanza.get('enabled') ?? 'yes').trim().toLowerCase() === 'no') continue;
    const uris = words(stanza.get('uris'));
    const suites = words(stanza.get('suites'));
    if (uris.length === 0 || suites.length === 0) continue;
    const src: AptSource = { uris, suites, components: words(stanza.get('components')), origin };
    const signedBy = stanza.get('signed-by');
    if (signedBy?.trim()) src.signedBy = signedBy.trim();
    const arches = words(stanza.get('architectures'));
    if (arches.length) src.architectures = arches;
    out.push(src);
  }
  return out;
}

/** Parse one-line format (`deb [opts] uri suite comp...`); `deb-src` and comments are skipped. */
export function parseOneLineSources(text: string, origin: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line.startsWith('deb ') && !line.startsWith('deb\t')) continue;
    let rest = line.slice(3).trim();
    const opts = new Map<string, string>();
    if (rest.startsWith('[')) {
      const end = rest.indexOf(']');
      if (end < 0) continue;
      for (const kv of rest.slice(1, end).trim().split(/\s+/)) {
        const eq = kv.indexOf('=');
        if (eq > 0) opts.set(kv.slice(0, eq).toLowerCase(), kv.slice(eq + 1));
      }
      rest = rest.slice(end + 1).trim();
    }
    const [uri, suite, ...components] = rest.split(/\s+/);
    if (!uri || !suite) continue;
    const src: AptSource = { uris: [uri], suites: [suite], components, origin };
    // One-line options use commas between values (arch=amd64,i386; signed-by=a.gpg,b.gpg).
    const signedBy = opts.get('signed-by');
    if (signedBy) src.signedBy = signedBy.split(',').join(' ');
    const arch = opts.get('arch');
    if (arch) src.architectures = arch.split(',');
    out.push(src);
  }
  return out;
}

/**
 * Every enabled binary source of the host's apt, in apt's own reading order:
 * sources.list first, then sources.list.d/ sorted by file name.
 * @param aptDir the apt configuration directory; tests point it at a fixture.
 */
export async function readHostSources(aptDir = '/etc/apt'): Promise<AptSource[]> {
  const out: AptSource[] = [];
  const main = join(aptDir, 'sources.list');
  const mainText = await readOptional(main);
  if (mainText !== undefined) out.push(...parseOneLineSources(mainText, main));
  const partsDir = join(aptDir, 'sources.list.d');
  let names: string[] = [];
  try {
    names = (await readdir(partsDir)).sort();
  } catch {
    // No sources.list.d is fine; the error below covers "nothing at all".
  }
  for (const name of names) {
    // apt itself ignores every other suffix (*.disabled, *.save, *.dpkg-old).
    if (!/^[\w.-]+\.(list|sources)$/.test(name)) continue;
    const path = join(partsDir, name);
    const text = await readOptional(path);
    if (text === undefined) continue;
    out.push(...(name.endsWith('.sources') ? parseDeb822Sources(text, path) : parseOneLineSources(text, path)));
  }
  if (out.length === 0) {
    throw new UserError(`no apt sources are configured on this host (read ${main} and ${partsDir}/*.sources, *.list)`, {
      hint:
        `add a deb822 file to ${partsDir}/ (Types: deb / URIs: / Suites: / Components: / Signed-By:), ` +
        'or set `mirror`, `suite` and `components` in the build spec',
    });
  }
  return out;
}

/**
 * Apply a spec's `mirror` / `suite` / `components` over the host's sources.
 * The keyring is taken from the host source with the same URI, so a spec that
 * only changes the suite keeps apt's signature check.
 */
export function applySourceOverride(host: AptSource[], o: SourceOverride): AptSource[] {
  if (!o.mirror && !o.suite && !o.components) return host;
  const first = host[0];
  const uri = o.mirror ?? first?.uris[0];
  const suite = o.suite ?? first?.suites[0];
  if (!uri || !suite) {
    throw new UserError('the spec overrides the apt sources but names no mirror or suite, and the host has none to fill in', {
      hint: 'set both `mirror` (a URI) and `suite` in the build spec',
    });
  }
  const sameUri = host.find((s) => s.uris.some((u) => trimSlash(u) === trimSlash(uri)));
  const src: AptSource = {
    uris: [uri],
    suites: [suite],
    components: o.components ?? first?.components ?? ['main'],
    origin: 'the build spec (mirror/suite/components)',
  };
  const signedBy = (sameUri ?? (o.mirror ? undefined : first))?.signedBy;
  if (signedBy) src.signedBy = signedBy;
  return [src];
}

/** Render sources as one deb822 file for apt's private configuration. */
export function formatDeb822(sources: AptSource[]): string {
  return sources
    .map((s) => {
      const lines = ['Types: deb', `URIs: ${s.uris.join(' ')}`, `Suites: ${s.suites.join(' ')}`];
      if (s.components.length) lines.push(`Components: ${s.components.join(' ')}`);
      if (s.architectures?.length) lines.push(`Architectures: ${s.architectures.join(' ')}`);
      if (s.signedBy) lines.push(`Signed-By:${foldValue(s.signedBy)}`);
      return lines.join('\n') + '\n';
    })
    .join('\n');
}

/** A short description for messages: "bookworm, bookworm-updates (from /etc/apt/...)". */
export function describeSources(sources: AptSource[]): string {
  const suites = [...new Set(sources.flatMap((s) => s.suites))].join(', ');
  const origins = [...new Set(sources.map((s) => s.origin))].join(', ');
  return `${suites} (mirror from ${origins})`;
}

function splitStanzas(text: string): Map<string, string>[] {
  const stanzas: Map<string, string>[] = [];
  let cur = new Map<string, string>();
  let lastKey: string | undefined;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#')) continue;
    if (raw.trim() === '') {
      if (cur.size) stanzas.push(cur);
      cur = new Map();
      lastKey = undefined;
      continue;
    }
    if (/^[ \t]/.test(raw) && lastKey) {
      // Continuation line (multi-line Signed-By key block); " ." stands for an empty line.
      const v = raw.trim() === '.' ? '' : raw.trim();
      cur.set(lastKey, `${cur.get(lastKey) ?? ''}\n${v}`);
      continue;
    }
    const colon = raw.indexOf(':');
    if (colon <= 0) continue;
    lastKey = raw.slice(0, colon).trim().toLowerCase();
    cur.set(lastKey, raw.slice(colon + 1).trim());
  }
  if (cur.size) stanzas.push(cur);
  return stanzas;
}

function foldValue(v: string): string {
  if (!v.includes('\n')) return ` ${v}`;
  // An inline key goes on continuation lines, an empty line written as " .".
  return v
    .split('\n')
    .map((l) => `\n ${l === '' ? '.' : l}`)
    .join('');
}

function words(v: string | undefined): string[] {
  return v ? v.split(/\s+/).filter(Boolean) : [];
}

function trimSlash(u: string): string {
  return u.replace(/\/+$/, '');
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
