/**
 * Read a spec: YAML → unknown → schema check → normalize → rules.
 * Flags override the spec (applied before validation, so a bad flag is
 * reported like a bad spec field).
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isPair, isScalar, isSeq, parseDocument, visit, type Document } from 'yaml';
import { SpecError, UserError, type SpecIssue } from '../errors.js';
import { WrittenSpecSchema, type WrittenSpec } from './schema.js';
import { normalizeSpec, type BuildSpec } from './normalize.js';
import { checkRules } from './rules.js';
import { readAuthorizedKeys } from './ssh-keys.js';
import { checkAgentConfig } from './agent-config.js';
import { validateAgainst } from './validate.js';
import { FLAVORS } from '../flavors/sections.js';

export interface LoadSpecOptions {
  /** YAML spec file; without it the defaults build the standard tinyipa ramdisk. */
  file?: string;
  /** Values from flags: merged over the spec (objects merge, the rest replaces). */
  overrides?: Record<string, unknown>;
  cwd: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedSpec {
  spec: BuildSpec;
  warnings: SpecIssue[];
  /** The spec file, absolute, if any. */
  file: string | undefined;
}

export async function loadSpec(opts: LoadSpecOptions): Promise<LoadedSpec> {
  const file = opts.file ? resolve(opts.cwd, opts.file) : undefined;
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new UserError(`cannot read spec ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, {
        hint: 'check the path given to --spec',
        cause: e,
      });
    }
    // Errors name the file as it was given (my.yaml), not its absolute path.
    raw = parseYaml(text, opts.file ?? file);
  }
  return validateSpec(raw, { ...opts, file, shownAs: opts.file });
}

/** Validate an already-parsed spec (library entry point; also used by tests). */
export function validateSpec(raw: unknown, opts: LoadSpecOptions & { file?: string; shownAs?: string }): LoadedSpec {
  const file = opts.file;
  const shown = opts.shownAs ?? file;
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new SpecError([{ path: '', message: 'a spec is a YAML mapping', fix: 'start with e.g. "name: my-ramdisk"' }], shown);
  const merged = deepMerge(raw as Record<string, unknown>, opts.overrides ?? {});
  const fail = (issues: SpecIssue[]): never => {
    throw new SpecError(attributeToFlags(issues, opts.overrides ?? {}, raw as Record<string, unknown>), shown);
  };
  const moved = movedKeys(merged);
  if (moved.length) fail(moved);
  const issues = validateAgainst(WrittenSpecSchema, merged);
  issues.push(...foreignSections(merged as WrittenSpec));
  if (issues.length) fail(issues);
  const base = file ? dirname(file) : opts.cwd;
  const spec = normalizeSpec(merged as WrittenSpec, { resolvePath: (p) => resolve(base, p), env: opts.env });
  const { errors, warnings } = checkRules(spec);
  const keys = readAuthorizedKeys(spec.ssh.authorizedKeys);
  errors.push(...keys.issues);
  if (errors.length) fail(errors);
  const agentConfigIssues = checkAgentConfig(spec.agent.config);
  if (agentConfigIssues.length) fail(agentConfigIssues);
  spec.ssh.authorizedKeys = keys.keys;
  return { spec, warnings, file };
}

/**
 * Issues about values the command line set (a flag's value at the issue's
 * path, or the section a flag wrote into) say so instead of naming the spec
 * file, and a path given by a flag is relative to the current directory.
 */
/** The flags of `ramforge build` that write into a flavor's section (cli/commands/build.ts), by the key they set. */
const SECTION_FLAGS: Record<string, string> = {
  'tinyipa.kernel.package': '--kernel',
  'tinyipa.packages': '--package',
  'tinyipa.node.version': '--node-version',
  'dib.elements': '--element',
  'dib.elementsPath': '--elements-path',
};

/** The flags that set keys under `section` in `overrides`. */
function flagsInto(section: string, overrides: Record<string, unknown>): string[] {
  return Object.entries(SECTION_FLAGS)
    .filter(
      ([key]) =>
        key.startsWith(`${section}.`) &&
        key.split('.').reduce<unknown>((at, k) => (at as Record<string, unknown> | undefined)?.[k], overrides) !== undefined,
    )
    .map(([, flag]) => flag);
}

export function attributeToFlags(
  issues: SpecIssue[],
  overrides: Record<string, unknown>,
  written: Record<string, unknown> = {},
): SpecIssue[] {
  const fromFlags = (path: string): boolean => {
    let at: unknown = overrides;
    for (const seg of path.split(/[.[\]]+/).filter(Boolean)) {
      if (at === null || typeof at !== 'object') return false;
      at = Array.isArray(at) ? at[Number(seg)] : (at as Record<string, unknown>)[seg];
      if (at === undefined) return false;
    }
    return path !== '';
  };
  return issues.map((i) => {
    // A flavor section that only flags wrote: name the flags, not a section the user never wrote.
    const flags =
      (FLAVORS as readonly string[]).includes(i.path) && written[i.path] === undefined && fromFlags(i.path)
        ? flagsInto(i.path, overrides)
        : [];
    if (flags.length) {
      const flavor = /flavor '([^']+)'/.exec(i.message)?.[1] ?? 'another';
      return {
        ...i,
        fromFlags: true,
        path: flags.join(', '),
        message: `${flags.length > 1 ? 'apply' : 'applies'} only to flavor ${i.path}, but this build's flavor is '${flavor}'`,
        fix: `drop ${flags.join(' and ')}, or build with --flavor ${i.path}`,
      };
    }
    return fromFlags(i.path)
      ? {
          ...i,
          fromFlags: true,
          ...(i.fix
            ? {
                fix: i.fix
                  .replace('paths are relative to the spec file', 'a path given by a flag is relative to the current directory')
                  .replace('relative to the spec file', 'relative to the current directory'),
              }
            : {}),
        }
      : i;
  });
}

/**
 * Keys that moved when the spec got a section per flavor. Refused with the
 * new place rather than silently moved, so a spec says one thing one way.
 */
const MOVED: { path: string[]; to: string }[] = [
  { path: ['kernel', 'cmdline'], to: 'cmdline' },
  { path: ['kernel'], to: 'tinyipa.kernel' },
  { path: ['packages'], to: 'tinyipa.packages' },
  { path: ['node'], to: 'tinyipa.node' },
  { path: ['debian'], to: 'tinyipa.debian' },
];

function movedKeys(spec: Record<string, unknown>): SpecIssue[] {
  const issues: SpecIssue[] = [];
  for (const m of MOVED) {
    const [top, sub] = m.path as [string, string | undefined];
    const v = spec[top];
    if (v === undefined) continue;
    if (sub !== undefined) {
      if (isPlain(v) && sub in v)
        issues.push({ path: `${top}.${sub}`, message: `moved to ${m.to}`, fix: `write it as top-level '${m.to}:'` });
      continue;
    }
    // kernel: holding only cmdline was reported above.
    if (top === 'kernel' && isPlain(v) && Object.keys(v).every((k) => k === 'cmdline')) continue;
    const [section, key] = m.to.split('.') as [string, string];
    issues.push({ path: top, message: `moved to ${m.to}`, fix: `write it under '${section}:' as '${key}:' (see examples/tinyipa.yaml)` });
  }
  return issues;
}

/** A flavor section other than the spec's own flavor is a mistake, not something to ignore. */
function foreignSections(spec: WrittenSpec): SpecIssue[] {
  const flavor = spec.flavor ?? 'tinyipa';
  return FLAVORS.filter((f) => f !== flavor && spec[f] !== undefined).map((f) => ({
    path: f,
    message: `is the ${f} flavor's section, but this spec builds flavor '${flavor}'`,
    fix: `remove it, or set flavor: ${f}`,
  }));
}

function parseYaml(text: string, file: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new SpecError(
      doc.errors.map((e) => ({
        path: e.linePos ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '',
        // The parser's message ends with the position again ("... at line 1, column 7:"): said once, in the path.
        message: (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, ''),
        fix: 'fix the YAML syntax',
      })),
      file,
    );
  }
  const octal = leadingZeroNumbers(doc);
  if (octal.length) throw new SpecError(octal, file);
  return doc.toJS();
}

/**
 * YAML 1.2 reads `mode: 0644` as the decimal number 644 (octal 01204:
 * sticky, owner write-only), silently. A number written with a leading zero
 * is refused, naming the key, rather than guessed at.
 */
function leadingZeroNumbers(doc: Document): SpecIssue[] {
  const issues: SpecIssue[] = [];
  visit(doc, {
    Scalar(key, node, path) {
      const src = node.source ?? '';
      // Only where the parser read the digits as decimal: a %YAML 1.1 document reads 0644 as octal, as meant.
      if (key === 'key' || typeof node.value !== 'number' || !/^[-+]?0\d+$/.test(src) || node.value !== Number(src)) return;
      const at: string[] = [];
      for (let i = 0; i < path.length; i++) {
        const here = path[i];
        const next = i + 1 < path.length ? path[i + 1] : node;
        if (isPair(here) && isScalar(here.key)) at.push(`${at.length ? '.' : ''}${String(here.key.value)}`);
        else if (isSeq(here)) at.push(`[${here.items.indexOf(next as never)}]`);
      }
      const digits = src.replace(/^[-+]?0+/, '') || '0';
      issues.push({
        path: at.join(''),
        message: `${src} is the decimal number ${node.value} in YAML, not octal`,
        fix: `for an octal mode write 0o${digits} (or quote it: '${src}'); for the decimal number write ${node.value}`,
      });
    },
  });
  return issues;
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const cur = out[k];
    out[k] = isPlain(cur) && isPlain(v) ? deepMerge(cur, v) : v;
  }
  return out;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
