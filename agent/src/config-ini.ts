/**
 * IPA's oslo.config INI files: /etc/ironic-python-agent.conf, then every
 * *.conf in /etc/ironic-python-agent.d/ (sorted by name; later files win).
 * Only `[DEFAULT]` carries IPA's options; other sections are skipped.
 *
 * Our own small parser, not the `ini` npm package: `ini` (npm view ini, 7.x)
 * strips inline `;`/`#` comments from values, has no continuation lines and
 * turns repeated keys into arrays, while oslo.config's iniparser keeps the
 * rest of the line as the value, joins indented continuation lines with
 * "\n", and lets the last assignment win. Reading these files the way IPA
 * does matters more than a dependency, and the grammar is 40 lines.
 *
 * oslo.config semantics kept: `key = value` or `key: value` (the first `=`
 * or `:` splits), `#`/`;` comment lines, a line starting with whitespace
 * continues the previous value, a blank line ends it, matching quotes around
 * a whole value are removed. A syntax error makes the whole file unusable
 * (oslo raises ParseError; we log the file and line and skip the file so the
 * agent keeps running). Unknown options are ignored with a debug line, as
 * oslo ignores them; a known option with a bad value is skipped with a
 * warning naming the file and line.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { CONFIG_OPTIONS, ipaOptionName, type AgentOptions, type ConfigOptionName, type OptionSpec } from './config.js';
import type { Log } from './util/log.js';

/** One `key = value` of a section, with the line it started on. */
export interface IniAssignment {
  section: string;
  key: string;
  value: string;
  line: number;
}

export type IniParse = { ok: true; assignments: IniAssignment[] } | { ok: false; line: number; reason: string };

/** Parse oslo.config INI text (pure). */
export function parseOsloIni(text: string): IniParse {
  const assignments: IniAssignment[] = [];
  let section: string | undefined;
  let current: { key: string; parts: string[]; line: number } | undefined;
  const flush = (): void => {
    if (!current || section === undefined) return;
    assignments.push({ section, key: current.key, value: current.parts.join('\n'), line: current.line });
    current = undefined;
  };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!.replace(/\s+$/, '');
    if (!line) {
      flush();
      continue;
    }
    if (line[0] === ' ' || line[0] === '\t') {
      if (!current) return { ok: false, line: n, reason: 'continuation line (leading whitespace) without a preceding "key = value"' };
      current.parts.push(line.trimStart());
      continue;
    }
    flush();
    if (line.startsWith('[')) {
      if (!line.endsWith(']')) return { ok: false, line: n, reason: 'section header without a closing "]"' };
      if (line.length <= 2) return { ok: false, line: n, reason: 'empty section name "[]"' };
      section = line.slice(1, -1);
      continue;
    }
    if (line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    const colon = line.indexOf(':');
    const at = eq < 0 ? colon : colon < 0 ? eq : Math.min(eq, colon);
    if (at < 0) return { ok: false, line: n, reason: 'not "key = value", a [section] or a comment' };
    const key = line.slice(0, at).trim();
    if (!key) return { ok: false, line: n, reason: 'empty option name' };
    if (section === undefined) return { ok: false, line: n, reason: `"${key}" before any [section] (IPA's options go in [DEFAULT])` };
    let value = line.slice(at + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1);
    current = { key, parts: [value], line: n };
  }
  flush();
  return { ok: true, assignments };
}

/** IPA's option name ([DEFAULT] key) → our option. */
const BY_IPA_NAME: ReadonlyMap<string, ConfigOptionName> = new Map(
  (Object.keys(CONFIG_OPTIONS) as ConfigOptionName[]).map((k) => [ipaOptionName(k), k] as const),
);

/** Convert a value of one kind; config-load.ts's convertValue, injected to keep this module free of the loader. */
export type Convert = (raw: string, spec: OptionSpec) => { value: unknown; problem?: undefined } | { problem: { expected: string } };

/**
 * Turn one file's assignments into option values (later assignments win).
 * Absolute path options are taken under `root` (a fixture tree in tests), as
 * the agent sees its files there: Ironic's ironic-tls.conf names
 * /etc/ironic-python-agent/ironic.crt.
 */
export function iniValues(
  assignments: IniAssignment[],
  file: string,
  o: { convert: Convert; root: string; log: Log },
): Partial<AgentOptions> {
  const out: Record<string, unknown> = {};
  for (const a of assignments) {
    const where = `${file}:${a.line}`;
    if (a.section !== 'DEFAULT') {
      o.log.debug(`${where}: [${a.section}] ${a.key} ignored (the agent reads [DEFAULT] only)`);
      continue;
    }
    const name = a.key.toLowerCase().replace(/-/g, '_');
    const key = BY_IPA_NAME.get(name);
    if (!key) {
      o.log.debug(`${where}: unknown option ${a.key} ignored`);
      continue;
    }
    const spec: OptionSpec = CONFIG_OPTIONS[key];
    const r = o.convert(a.value, spec);
    if (r.problem) {
      o.log.warn(`${where}: ${a.key} = ${JSON.stringify(a.value)} ignored: expected ${r.problem.expected}`);
      continue;
    }
    let value = r.value;
    if (spec.path && typeof value === 'string' && isAbsolute(value) && o.root !== '/') value = join(o.root, value);
    out[key] = value;
  }
  return out as Partial<AgentOptions>;
}

/** An INI file, or a directory whose *.conf files are read sorted (oslo's --config-file / --config-dir). */
export type IniSource = { file: string } | { dir: string };

/** IPA's default INI files under `root`: /etc/ironic-python-agent.conf, then /etc/ironic-python-agent.d/*.conf. */
export function defaultIniSources(root: string): IniSource[] {
  return [{ file: join(root, 'etc/ironic-python-agent.conf') }, { dir: join(root, 'etc/ironic-python-agent.d') }];
}

/** The INI files of `sources`, in order (later wins); a missing default file or directory is skipped. */
export async function listIpaConfigFiles(sources: IniSource[]): Promise<string[]> {
  const files: string[] = [];
  for (const src of sources) {
    if ('file' in src) {
      const isFile = await stat(src.file).then(
        (s) => s.isFile(),
        () => false,
      );
      if (isFile) files.push(src.file);
      continue;
    }
    const names = await readdir(src.dir).catch(() => [] as string[]);
    // oslo's glob('*.conf'): dotfiles are not matched. Python's sorted(): by code point, like JS's default sort.
    for (const n of names.filter((n) => n.endsWith('.conf') && !n.startsWith('.')).sort()) files.push(join(src.dir, n));
  }
  return files;
}

/**
 * Read IPA's INI files under `root` and merge their [DEFAULT] options, later
 * files winning. An unreadable or malformed file is logged (file and line)
 * and skipped; this never throws.
 */
export async function readIpaConfigFiles(
  root: string,
  o: { convert: Convert; log: Log; sources?: IniSource[] },
): Promise<Partial<AgentOptions>> {
  const merged: Partial<AgentOptions> = {};
  const sources = o.sources ?? defaultIniSources(root);
  for (const file of await listIpaConfigFiles(sources)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      o.log.warn(`${file}: cannot read (${(e as Error).message}); file ignored`);
      continue;
    }
    const parsed = parseOsloIni(text);
    if (!parsed.ok) {
      o.log.error(`${file}:${parsed.line}: ${parsed.reason}; the whole file is ignored`);
      continue;
    }
    const values = iniValues(parsed.assignments, file, { ...o, root });
    if (Object.keys(values).length) o.log.info(`${file}: ${(Object.keys(values) as ConfigOptionName[]).map(ipaOptionName).join(', ')}`);
    Object.assign(merged, values);
  }
  return merged;
}
