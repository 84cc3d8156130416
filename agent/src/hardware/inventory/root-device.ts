/**
 * Root device hints with ironic-lib / IPA device_hints semantics:
 * string hints are lower-cased and URL-quoted on both sides and compared
 * with oslo's specs_matcher operators (default 's=='), 'size' is in GiB
 * (default '=='; note '=' means >=), booleans are strict. Without hints the
 * smallest disk of at least 4 GiB wins (sort by size, then name).
 */
import { DeviceNotFound } from '../../errors.js';
import type { BlockDevice, Node } from '../types.js';

export const HINT_TYPES = {
  size: 'int',
  model: 'str',
  wwn: 'str',
  serial: 'str',
  vendor: 'str',
  wwn_with_extension: 'str',
  wwn_vendor_extension: 'str',
  name: 'str',
  rotational: 'bool',
  hctl: 'str',
  by_path: 'str',
  tran: 'str',
} as const;
type HintName = keyof typeof HINT_TYPES;

const GIB = 1024 ** 3;
// Longest first so that 's<=' is not read as 's<' and '==' not as '='.
const UNARY_OPS = ['s==', 's!=', 's<=', 's<', 's>=', 's>', '==', '!=', '<in>', '>=', '<=', '>', '<', '='];

type Spec = { op: string; args: string[] } | { op: ''; args: [string] };

/** specs_matcher's grammar: "<op> a", "<all-in> a b", "<or> a <or> b", or a bare atom. */
export function parseSpec(spec: string): Spec {
  const tokens = spec.trim().split(/\s+/).filter(Boolean);
  const first = tokens[0] ?? '';
  if (first === '<or>') {
    const args: string[] = [];
    for (let i = 0; i + 1 < tokens.length && tokens[i] === '<or>'; i += 2) args.push(tokens[i + 1]!);
    return args.length ? { op: '<or>', args } : { op: '', args: [spec] };
  }
  if (first === '<all-in>') return tokens.length > 1 ? { op: '<all-in>', args: tokens.slice(1) } : { op: '', args: [spec] };
  const op = UNARY_OPS.find((o) => first.startsWith(o));
  if (op) {
    const rest = first.length > op.length ? first.slice(op.length) : tokens[1];
    if (rest === undefined || UNARY_OPS.some((o) => rest.startsWith(o))) return { op: '', args: [spec] };
    return { op, args: [rest] };
  }
  return { op: '', args: [first] };
}

const f = (x: string | number) => Number(x);
const OPS: Record<string, (x: string | number, ...y: string[]) => boolean> = {
  '=': (x, y) => f(x) >= f(y!),
  '==': (x, y) => f(x) === f(y!),
  '!=': (x, y) => f(x) !== f(y!),
  '<=': (x, y) => f(x) <= f(y!),
  '<': (x, y) => f(x) < f(y!),
  '>=': (x, y) => f(x) >= f(y!),
  '>': (x, y) => f(x) > f(y!),
  's==': (x, y) => x === y,
  's!=': (x, y) => x !== y,
  's<': (x, y) => String(x) < y!,
  's<=': (x, y) => String(x) <= y!,
  's>': (x, y) => String(x) > y!,
  's>=': (x, y) => String(x) >= y!,
  '<in>': (x, y) => String(x).includes(y!),
  '<all-in>': (x, ...y) => y.every((v) => String(x).includes(v)),
  '<or>': (x, ...y) => y.some((v) => v === x),
};

export function matchSpec(value: string | number, spec: string): boolean {
  const s = parseSpec(spec);
  if (s.op === '') return s.args[0] === value;
  return OPS[s.op]!(value, ...s.args);
}

/** Python's urllib.parse.quote (safe '/'). */
const quote = (s: string) =>
  encodeURIComponent(s)
    .replace(/%2F/g, '/')
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

function splitOpValues(expr: string, name: string): { op: string; values: string[] } {
  const e = String(expr).trim().toLowerCase();
  if (!e) throw new Error(`Root device hint ${name} expression is empty`);
  const s = parseSpec(e);
  if (s.op === '') return { op: '', values: [e] };
  return {
    op: s.op,
    values: e
      .split(s.op)
      .map((v) => v.trim())
      .filter(Boolean),
  };
}

function normalizeExpression(expr: string, name: string): string {
  const { op, values } = splitOpValues(expr, name);
  return (op + values.map((v) => ` ${quote(v)} `).join(op)).trim();
}

const TRUE = ['1', 't', 'true', 'on', 'y', 'yes'];
const FALSE = ['0', 'f', 'false', 'off', 'n', 'no'];
function strictBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (TRUE.includes(s)) return true;
  if (FALSE.includes(s)) return false;
  throw new Error(`not a Boolean: ${String(v)}`);
}

/** Validates and normalizes hints (ironic-lib parse_root_device_hints); throws Error on invalid ones. */
export function parseRootDeviceHints(hints: Record<string, unknown>): Record<string, string | boolean> {
  const invalid = Object.keys(hints).filter((k) => !(k in HINT_TYPES));
  if (invalid.length)
    throw new Error(`The hints "${invalid.join(', ')}" are invalid. Valid hints are: "${Object.keys(HINT_TYPES).join(', ')}"`);
  const out: Record<string, string | boolean> = {};
  for (const [name, expr] of Object.entries(hints)) {
    const type = HINT_TYPES[name as HintName];
    if (type === 'str') {
      if (typeof expr !== 'string') throw new Error(`Root device hint "${name}" is not a string value. Hint expression: ${String(expr)}`);
      out[name] = normalizeExpression(expr, name);
    } else if (type === 'int') {
      for (const v of splitOpValues(String(expr), name).values) {
        if (!/^[+-]?\d+$/.test(v)) throw new Error(`Root device hint "${name}" is not an integer value. Current value: ${String(expr)}`);
        if (Number(v) <= 0) throw new Error(`Root device hint "${name}" should be a positive integer. Current value: ${String(expr)}`);
      }
      out[name] = String(expr);
    } else {
      try {
        out[name] = strictBool(expr);
      } catch {
        throw new Error(`Root device hint "${name}" is not a Boolean value. Current value: ${String(expr)}`);
      }
    }
  }
  // No operator means equality: 's==' for strings, '==' for sizes.
  for (const [name, v] of Object.entries(out)) {
    if (typeof v === 'boolean' || parseSpec(v).op !== '') continue;
    out[name] = `${HINT_TYPES[name as HintName] === 'str' ? 's==' : '=='} ${v}`;
  }
  return out;
}

/**
 * Every device matching all hints, in input order (find_devices_by_hints).
 * With `allSerialsAndWwns` (the install device, as IPA's
 * get_os_install_device), a serial or wwn hint matches any of the disk's
 * serials/wwns; a disk that has none matches no such hint.
 */
export function findDevicesByHints(
  devices: BlockDevice[],
  hints: Record<string, unknown>,
  o: { allSerialsAndWwns?: boolean } = {},
): BlockDevice[] {
  const parsed = parseRootDeviceHints(hints);
  return devices.filter((dev) =>
    Object.entries(parsed).every(([name, hint]) => {
      /** A string attribute as the hint compares it; undefined (no match) when it cannot be normalized. */
      const normalized = (v: string): string | undefined => {
        try {
          return normalizeExpression(v, name);
        } catch {
          return undefined;
        }
      };
      const list = !o.allSerialsAndWwns ? undefined : name === 'serial' ? dev.serials : name === 'wwn' ? dev.wwns : undefined;
      if (list) {
        return list.some((v) => {
          const value = v === null ? undefined : normalized(v);
          return value !== undefined && matchSpec(value, hint as string);
        });
      }
      const raw = (dev as unknown as Record<string, unknown>)[name];
      const type = HINT_TYPES[name as HintName];
      if (type === 'bool') {
        try {
          return strictBool(raw) === hint;
        } catch {
          return false;
        }
      }
      // Python's str(None) is 'None': a null attribute matches the hint 'none'.
      const value = type === 'str' ? normalized(raw === null || raw === undefined ? 'None' : String(raw)) : Number(raw) / GIB;
      return value !== undefined && matchSpec(value, hint as string);
    }),
  );
}

/** The smallest disk >= minSize, ties broken by name (utils.guess_root_disk). */
export function guessRootDisk(disks: BlockDevice[], minSize = 4 * GIB): BlockDevice {
  if (!disks.length)
    throw new DeviceNotFound('No block devices found: check that the disk controller driver is loaded (lsblk shows no disk)');
  const sorted = [...disks].sort((a, b) => a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const hit = sorted.find((d) => d.size >= minSize);
  if (!hit)
    throw new DeviceNotFound(
      `No suitable device was found for deployment - root device hints were not provided and all found block devices are smaller than ${minSize}B.`,
    );
  return hit;
}

export function readRootDeviceHints(node?: Node): Record<string, unknown> | undefined {
  const pick = (o: Record<string, unknown> | undefined) => {
    const v = o?.root_device;
    return v && typeof v === 'object' && Object.keys(v).length ? (v as Record<string, unknown>) : undefined;
  };
  return pick(node?.instance_info) ?? pick(node?.properties);
}

/** The install target: the first disk matching the node's root device hints, else the guess. */
export function getOsInstallDevice(disks: BlockDevice[], node?: Node): BlockDevice {
  const hints = readRootDeviceHints(node);
  if (!hints) return guessRootDisk(disks);
  let found: BlockDevice[];
  try {
    found = findDevicesByHints(disks, hints, { allSerialsAndWwns: true });
  } catch (e) {
    throw new DeviceNotFound(
      `No devices could be found using the root device hints ${JSON.stringify(hints)} because they failed to validate. Error: ${(e as Error).message}`,
    );
  }
  if (!found.length) throw new DeviceNotFound(`No suitable device was found for deployment using these hints ${JSON.stringify(hints)}`);
  return found[0]!;
}
