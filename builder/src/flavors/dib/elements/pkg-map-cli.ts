/**
 * The image's `pkg-map` command (DIB: elements/pkg-map/bin/pkg-map, a
 * Python script), as it runs inside the chroot during the build: bundled
 * by the element runner into `/tmp/in_target.d/ramforge-runtime/pkg-map.mjs`
 * and run there by the build's Node (builtin-elements/pkg-map/bin/pkg-map,
 * pkg-map-main.ts). It reads the JSON map at run time, so every argument
 * DIB takes works for any target: `--element E` (/usr/share/pkg-map/E),
 * `--pkg-map FILE`, `--distro`, `--release`, `--missing-ok`, `--prefix`,
 * `--debug`.
 *
 * The command line is parsed as DIB's argparse `parse_known_args` parses it
 * (Python 3.11, bookworm's): long options may be shortened and take
 * `=VALUE`, an option needing a value refuses one that looks like an
 * option, unknown options and `--` itself are names. Output, log lines
 * (`INFO:root:...` on stderr, as Python's logging prints them), messages
 * and exit codes are DIB's: 0; 1 for no `--element`/`--pkg-map`, both, no
 * distro, a name without a mapping, a map that is not JSON; 2 for a missing
 * map (without `--missing-ok`) and for a bad command line. A mapped value
 * is printed as Python's `str()` prints it (a list as `['a', 'b']`);
 * false-like values (`""`, null, 0, [], {}) skip the name, as in DIB.
 *
 * Imports nothing but Node and pkg-map.ts (bundled, run on the build's Node).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mergeNameMap, PkgMapShapeError } from './pkg-map.js';

export interface PkgMapIo {
  /** DISTRO_NAME and DIB_RELEASE are the defaults of --distro and --release. */
  env: Readonly<Record<string, string | undefined>>;
  /** Where `--element E` finds E's map (DIB: /usr/share/pkg-map). */
  mapDir: string;
  out: (line: string) => void;
  err: (line: string) => void;
}

interface Option {
  strings: readonly string[];
  dest: 'help' | 'element' | 'pkgMap' | 'distro' | 'release' | 'missingOk' | 'prefix' | 'debug';
  /** Takes a value. */
  value: boolean;
}

/** DIB's parser, in its order (argparse reports ambiguous matches in this order). */
const OPTIONS: readonly Option[] = [
  { strings: ['-h', '--help'], dest: 'help', value: false },
  { strings: ['--element'], dest: 'element', value: true },
  { strings: ['--pkg-map'], dest: 'pkgMap', value: true },
  { strings: ['--distro'], dest: 'distro', value: true },
  { strings: ['--release'], dest: 'release', value: true },
  { strings: ['--missing-ok'], dest: 'missingOk', value: false },
  { strings: ['--prefix'], dest: 'prefix', value: true },
  { strings: ['--debug'], dest: 'debug', value: false },
];
const OPTION_STRINGS = OPTIONS.flatMap((o) => o.strings.map((s) => ({ s, o })));

export const USAGE = [
  'usage: pkg-map [-h] [--element ELEMENT] [--pkg-map PKG_MAP] [--distro DISTRO]',
  '               [--release RELEASE] [--missing-ok] [--prefix PREFIX] [--debug]',
];

const HELP = [
  ...USAGE,
  '',
  "The distribution's package names for generic NAMEs, from an element's pkg-map",
  '(JSON). Exit 1 on an error, 2 when the pkg-map file does not exist, else 0.',
  '',
  'options:',
  '  -h, --help         this help',
  '  --element ELEMENT  the element whose map is used (/usr/share/pkg-map/ELEMENT)',
  '  --pkg-map PKG_MAP  this map file instead',
  '  --distro DISTRO    the distribution (default: DISTRO_NAME)',
  '  --release RELEASE  its release (default: DIB_RELEASE)',
  '  --missing-ok       print a name without mapping as it is, not an error',
  '  --prefix PREFIX    print each package name after PREFIX',
  '  --debug            log each mapping',
];

export interface PkgMapArgs {
  element: string;
  pkgMap: string;
  distro: string | undefined;
  release: string | undefined;
  missingOk: boolean;
  prefix: string;
  debug: boolean;
}

/** What the command line asks for, or the exit argparse makes (help: 0, an error: 2). */
export type Parsed = { args: PkgMapArgs; names: string[] } | { exit: number; out: string[]; err: string[] };

type Classified =
  | { kind: 'name' }
  | { kind: 'separator' }
  | { kind: 'unknown' }
  | { kind: 'option'; option: Option; string: string; explicit: string | undefined };

class ArgError extends Error {}

const NEGATIVE_NUMBER = /^-\d+$|^-\d*\.\d+$/;

/** argparse's _parse_optional: what one argument is (before anything is consumed). */
function classify(arg: string): Classified {
  if (arg === '' || arg[0] !== '-') return { kind: 'name' };
  const exact = OPTION_STRINGS.find((x) => x.s === arg);
  if (exact) return { kind: 'option', option: exact.o, string: exact.s, explicit: undefined };
  if (arg.length === 1) return { kind: 'name' };
  const eq = arg.indexOf('=');
  if (eq >= 0) {
    const named = OPTION_STRINGS.find((x) => x.s === arg.slice(0, eq));
    if (named) return { kind: 'option', option: named.o, string: named.s, explicit: arg.slice(eq + 1) };
  }
  const matches: { o: Option; s: string; explicit: string | undefined }[] = [];
  if (arg[1] === '-') {
    const prefix = eq >= 0 ? arg.slice(0, eq) : arg;
    const explicit = eq >= 0 ? arg.slice(eq + 1) : undefined;
    for (const x of OPTION_STRINGS) if (x.s.startsWith(prefix)) matches.push({ ...x, explicit });
  } else {
    // A single dash: its first letter may be a short option with the rest as its argument (-hx).
    for (const x of OPTION_STRINGS)
      if (x.s === arg.slice(0, 2)) matches.push({ ...x, explicit: arg.slice(2) });
      else if (x.s.startsWith(arg)) matches.push({ ...x, explicit: undefined });
  }
  if (matches.length > 1) throw new ArgError(`ambiguous option: ${arg} could match ${matches.map((m) => m.s).join(', ')}`);
  const [only] = matches;
  if (only) return { kind: 'option', option: only.o, string: only.s, explicit: only.explicit };
  if (NEGATIVE_NUMBER.test(arg) || arg.includes(' ')) return { kind: 'name' };
  return { kind: 'unknown' };
}

/** DIB's command line as argparse's parse_known_args reads it. */
export function parsePkgMapArgs(argv: readonly string[], env: PkgMapIo['env']): Parsed {
  const args: PkgMapArgs = {
    element: '',
    pkgMap: '',
    distro: env.DISTRO_NAME,
    release: env.DIB_RELEASE,
    missingOk: false,
    prefix: '',
    debug: false,
  };
  const names: string[] = [];
  const fail = (msg: string): Parsed => ({ exit: 2, out: [], err: [...USAGE, `pkg-map: error: ${msg}`] });
  // Every argument is classified first (an ambiguous one fails before any is used); after `--` all are names.
  let kinds: Classified[];
  try {
    let rest = false;
    kinds = argv.map((a) => {
      if (rest) return { kind: 'name' };
      if (a === '--') {
        rest = true;
        return { kind: 'separator' };
      }
      return classify(a);
    });
  } catch (e) {
    if (e instanceof ArgError) return fail(e.message);
    throw e;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const k = kinds[i] as Classified;
    if (k.kind !== 'option') {
      names.push(arg); // parse_known_args leaves names, unknown options and `--` itself to the caller
      continue;
    }
    const { option, explicit } = k;
    const label = option.strings.join('/');
    if (!option.value) {
      if (explicit !== undefined) {
        // -hh is -h twice; -hx names an -x that does not exist; --debug=x gives a flag a value.
        let left = explicit;
        if (!k.string.startsWith('--')) while (left !== '' && `-${left[0]}` === k.string) left = left.slice(1);
        if (left !== '' || explicit === '') return fail(`argument ${label}: ignored explicit argument ${pyRepr(left)}`);
      }
      if (option.dest === 'help') return { exit: 0, out: HELP, err: [] };
      args[option.dest as 'missingOk' | 'debug'] = true;
      continue;
    }
    let value = explicit;
    if (value === undefined) {
      const next = kinds[i + 1];
      if (next?.kind !== 'name') return fail(`argument ${label}: expected one argument`);
      value = argv[++i] as string;
    }
    args[option.dest as 'element' | 'pkgMap' | 'distro' | 'release' | 'prefix'] = value;
  }
  return { args, names };
}

/** A Python-like JSON value: numbers keep their Python type (int or float) and digits for str(). */
class PyNumber {
  constructor(
    readonly value: number,
    readonly int: bigint | undefined,
  ) {}
}
type Py = string | boolean | null | PyNumber | Py[] | { [k: string]: Py };

/** json.loads: integers stay exact where the Node running this shows the source text (22 does). */
export function parsePyJson(text: string): Py {
  return JSON.parse(text, function (this: unknown, _key: string, value: unknown, context?: { source?: string }) {
    if (typeof value !== 'number') return value;
    const source = context?.source;
    if (source !== undefined) return new PyNumber(value, /^-?\d+$/.test(source) ? BigInt(source) : undefined);
    return new PyNumber(value, Number.isSafeInteger(value) ? BigInt(value) : undefined);
  }) as Py;
}

/** Python's truth value. */
function truthy(v: Py | undefined): boolean {
  if (v === undefined || v === null || v === false || v === '') return false;
  if (v instanceof PyNumber) return v.int !== undefined ? v.int !== 0n : v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** Python's repr() of a str. */
export function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c > 0x7f && /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u.test(ch))
      out +=
        c < 0x100
          ? `\\x${c.toString(16).padStart(2, '0')}`
          : c < 0x10000
            ? `\\u${c.toString(16).padStart(4, '0')}`
            : `\\U${c.toString(16).padStart(8, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Python's repr() of a float (shortest digits; exponent form below 1e-4 and from 1e16). */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa = '', exp = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const point = Number(exp) + 1; // digits[0..point) before the decimal point
  if (point > 16 || point < -3) {
    const e = Number(exp);
    return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Python's str() of a JSON value (what DIB's pkg-map prints for a mapped value). */
export function pyStr(v: Py): string {
  return typeof v === 'string' ? v : pyReprValue(v);
}

function pyReprValue(v: Py): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return pyRepr(v);
  if (v instanceof PyNumber) return v.int !== undefined ? v.int.toString() : pyFloat(v.value);
  if (Array.isArray(v)) return `[${v.map(pyReprValue).join(', ')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${pyRepr(k)}: ${pyReprValue(x)}`)
    .join(', ')}}`;
}

/** Run `pkg-map ARGS...`; returns the exit code. */
export function pkgMapCommand(argv: readonly string[], io: PkgMapIo): number {
  const parsed = parsePkgMapArgs(argv, io.env);
  if ('exit' in parsed) {
    parsed.out.forEach(io.out);
    parsed.err.forEach(io.err);
    return parsed.exit;
  }
  const { args, names } = parsed;
  const log = (level: 'DEBUG' | 'INFO' | 'ERROR', msg: string) => {
    if (level !== 'DEBUG' || args.debug) io.err(`${level}:root:${msg}`);
  };
  if (!args.element && !args.pkgMap) {
    log('ERROR', 'Please specify an --element argument.');
    return 1;
  }
  if (args.element && args.pkgMap) {
    log('ERROR', 'Specify either --element or --pkg-map');
    return 1;
  }
  if (!args.distro) {
    log('ERROR', 'Please specify a --distro argument or set DISTRO_NAME.');
    return 1;
  }
  const element = args.pkgMap ? `<${args.pkgMap}>` : args.element;
  const file = args.pkgMap ? args.pkgMap : `${io.mapDir}/${args.element}`;
  log('INFO', `Mapping for ${element} : ${names.join(' ')}`);
  if (!existsSync(file)) {
    if (args.missingOk) {
      log('INFO', `No package map for ${element}, done`);
      for (const name of names) io.out(`${args.prefix}${name}`);
      return 0;
    }
    log('ERROR', `Required pkg-map for ${args.element} element does not exist.`);
    return 2;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(file));
  } catch (e) {
    io.err(`pkg-map: cannot read ${file}: ${(e as Error).message}`);
    return 1;
  }
  let map: Py;
  try {
    map = parsePyJson(text);
  } catch (e) {
    log('ERROR', `Unable to parse ${file}`);
    io.err(`pkg-map: ${(e as Error).message}`);
    return 1;
  }
  try {
    const nameMap = mergeNameMap<Py>(map, { distro: args.distro, release: args.release }, (v) => truthy(v as Py));
    for (const name of names) {
      if (nameMap === undefined) throw new PkgMapShapeError('its "default" section is not a JSON object');
      const pkg = Object.hasOwn(nameMap, name) ? nameMap[name] : undefined;
      if (truthy(pkg)) {
        log('DEBUG', `map ${name} -> ${pyStr(pkg as Py)}`);
        io.out(`${args.prefix}${pyStr(pkg as Py)}`);
      } else if (pkg !== undefined) {
        log('DEBUG', `map ${name} -> <skip>`);
      } else if (args.missingOk) {
        log('DEBUG', `pass -> ${name}`);
        io.out(`${args.prefix}${name}`);
      } else {
        log('ERROR', `${element} has no valid mapping for package ${name}`);
        return 1;
      }
    }
  } catch (e) {
    if (!(e instanceof PkgMapShapeError)) throw e;
    io.err(`pkg-map: ${file}: ${e.message} (DIB's pkg-map stops with a Python exception here)`);
    return 1;
  }
  return 0;
}
