/**
 * What DIB's `dib-run-parts` runs in a phase directory, and in which order
 * (diskimage_builder/lib/dib-run-parts): the decisions only, no process is
 * started here. The runner sources the environment files and executes the
 * scripts in the order these functions give.
 *
 * - A script is an entry that is (or links to) a regular file executable by
 *   the caller (`find -xtype f -executable`) and whose name matches
 *   `^[0-9A-Za-z_-]+$`: `foo.sh` is skipped without error.
 * - Scripts run in `LANG=C sort -n` order: the leading number (none → 0),
 *   ties broken by comparing the names byte by byte.
 * - environment.d files: regular files named `[0-9A-Za-z_.-]+`, executable
 *   or not. DIB sorts their full paths with `sort -n`; a path starts with
 *   '/', so every key is 0 and the order is the byte order of the names
 *   (not numeric: `9-x` comes after `10-y`).
 */
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const SCRIPT_NAME = /^[0-9A-Za-z_-]+$/;
export const ENVIRONMENT_FILE_NAME = /^[0-9A-Za-z_.-]+$/;

/** A number as GNU `sort -n` reads it at the start of a line in the C locale. */
interface SortNumber {
  negative: boolean;
  /** Integer digits without leading zeros ('' for 0). */
  int: string;
  /** Fraction digits without trailing zeros. */
  frac: string;
}

function leadingNumber(s: string): SortNumber {
  let i = 0;
  while (s[i] === ' ' || s[i] === '\t') i++;
  let negative = false;
  if (s[i] === '-') {
    negative = true;
    i++;
  }
  const intStart = i;
  while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
  const int = s.slice(intStart, i).replace(/^0+/, '');
  let frac = '';
  if (s[i] === '.') {
    const fracStart = ++i;
    while (i < s.length && s[i]! >= '0' && s[i]! <= '9') i++;
    frac = s.slice(fracStart, i).replace(/0+$/, '');
  }
  // "-0", "-", "-x": zero, whatever the sign.
  if (int === '' && frac === '') negative = false;
  return { negative, int, frac };
}

function compareMagnitude(a: SortNumber, b: SortNumber): number {
  if (a.int.length !== b.int.length) return a.int.length < b.int.length ? -1 : 1;
  if (a.int !== b.int) return a.int < b.int ? -1 : 1;
  if (a.frac !== b.frac) return a.frac < b.frac ? -1 : 1;
  return 0;
}

/** Byte order of two strings (what GNU sort's last-resort comparison does in the C locale). */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The order of `LANG=C sort -n`: the leading number (optional blanks and
 * '-', digits, an optional '.' fraction; none is 0), then the whole line
 * byte by byte. Written here because no npm package reproduces GNU sort's
 * numeric key; the unit test checks it against /usr/bin/sort.
 */
export function compareSortN(a: string, b: string): number {
  const x = leadingNumber(a);
  const y = leadingNumber(b);
  let c: number;
  if (x.negative !== y.negative) c = x.negative ? -1 : 1;
  else c = x.negative ? -compareMagnitude(x, y) : compareMagnitude(x, y);
  return c !== 0 ? c : compareBytes(a, b);
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile(); // follows symlinks: find -xtype f
  } catch {
    return false; // a dangling link
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK); // find -executable asks access(2)
    return true;
  } catch {
    return false;
  }
}

export interface PhaseListing {
  /** Script names in the order they run. */
  scripts: string[];
  /** Files dib-run-parts leaves out, with why (for a debug listing). */
  skipped: { name: string; reason: 'not executable' | 'name' }[];
}

/** The scripts dib-run-parts would run in `dir`, in order (a missing dir: nothing). */
export function listPhaseScripts(dir: string): PhaseListing {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { scripts: [], skipped: [] };
    throw e;
  }
  const scripts: string[] = [];
  const skipped: PhaseListing['skipped'] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (!isRegularFile(path)) continue;
    if (!isExecutable(path)) skipped.push({ name, reason: 'not executable' });
    else if (!SCRIPT_NAME.test(name)) skipped.push({ name, reason: 'name' });
    else scripts.push(name);
  }
  scripts.sort(compareSortN);
  skipped.sort((a, b) => compareBytes(a.name, b.name));
  return { scripts, skipped };
}

/** The environment.d files sourced before a phase, in order (a missing dir: none). */
export function listEnvironmentFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names.filter((n) => ENVIRONMENT_FILE_NAME.test(n) && isRegularFile(join(dir, n))).sort(compareBytes);
}
