/**
 * Element resolution as diskimage-builder does it
 * (diskimage_builder/element_dependencies.py), written anew:
 *
 * - every directory (or link to one) in an ELEMENTS_PATH entry is an
 *   element named after it; earlier entries override later ones, with a
 *   warning naming both paths;
 * - `element-deps` and `element-provides` are lists of names, one a line,
 *   stripped, blank lines dropped. DIB does NOT treat `#` lines as comments
 *   (a `#` line is an element name, and then "not found"): same here, and
 *   the error says so;
 * - the user's list is expanded breadth-first; an element already provided
 *   by another is skipped; a name provided twice, or a user-listed element
 *   that another provides, is an error; something must provide
 *   `operating-system`;
 * - cycles in element-deps are fine: DIB queues a dependency only once
 *   (the elements seen so far are not queued again), so a cycle ends.
 *
 * DIB returns a set; the order here is the breadth-first discovery order
 * (user elements first), so builds are deterministic.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../../errors.js';

export interface Element {
  name: string;
  /** The element's directory, symlinks resolved (as DIB's realpath). */
  path: string;
  /** From element-deps, in file order. */
  deps: string[];
  /** From element-provides, in file order. */
  provides: string[];
}

export interface ElementIndex {
  /** Every element visible through the path, the overriding one for each name. */
  elements: Map<string, Element>;
  /** The ELEMENTS_PATH entries, in the order given (earlier wins). */
  searched: string[];
  /** "element <x>: /a/x overrides /b/x" lines. */
  warnings: string[];
}

export interface Resolution {
  /** The elements of the build, breadth-first from the user's list, minus the provided names. */
  elements: Element[];
  /** Each provided name → the element that provides it. */
  providedBy: Map<string, string>;
  warnings: string[];
}

/** An element-deps / element-provides file: stripped lines, blanks dropped; a missing file is an empty list. */
export function readElementList(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const names = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return [...new Set(names)];
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Every element of every path entry; earlier entries override later ones. */
export function discoverElements(elementsPath: readonly string[]): ElementIndex {
  if (elementsPath.length === 0)
    throw new UserError('no elements path: the dib flavor needs at least one directory of elements', {
      hint: 'set dib.elementsPath in the spec, pass --elements-path DIR, or export ELEMENTS_PATH',
    });
  const elements = new Map<string, Element>();
  const warnings: string[] = [];
  for (const entry of [...elementsPath].reverse()) {
    if (!isDirectory(entry))
      throw new UserError(`elements path entry ${entry} is not a directory`, {
        hint: 'fix or remove it in dib.elementsPath / --elements-path / ELEMENTS_PATH',
      });
    for (const name of readdirSync(entry).sort()) {
      const dir = join(entry, name);
      if (!isDirectory(dir)) continue;
      const path = realpathSync(dir);
      const element: Element = {
        name,
        path,
        deps: readElementList(join(path, 'element-deps')),
        provides: readElementList(join(path, 'element-provides')),
      };
      const previous = elements.get(name);
      if (previous) warnings.push(`element ${name}: ${path} overrides ${previous.path}`);
      elements.set(name, element);
    }
  }
  return { elements, searched: [...elementsPath], warnings: warnings.reverse() };
}

/** Expand the user's elements through element-deps and element-provides, as DIB does. */
export function expandElements(userElements: readonly string[], index: ElementIndex): Resolution {
  const user = [...new Set(userElements)];
  const seen = new Set<string>(user);
  const order = [...user];
  /** Who first asked for each name (for the "not found" error). */
  const neededBy = new Map<string, string>();
  const queue = [...user];
  const providedBy = new Map<string, string>();

  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (providedBy.has(name)) continue;
    const element = index.elements.get(name);
    if (!element) throw missingElement(name, neededBy.get(name), index.searched);
    for (const p of element.provides) {
      const other = providedBy.get(p);
      if (other !== undefined)
        throw new UserError(`elements ${other} and ${element.name} both provide '${p}'`, {
          hint: `keep only one of them in the element list (or in the element-deps that pull them in)`,
        });
    }
    for (const p of element.provides) providedBy.set(p, element.name);
    for (const dep of element.deps) {
      if (seen.has(dep)) continue;
      seen.add(dep);
      order.push(dep);
      if (!neededBy.has(dep)) neededBy.set(dep, element.name);
      if (!providedBy.has(dep)) queue.push(dep);
    }
  }

  const conflicts = user.filter((u) => providedBy.has(u));
  if (conflicts.length > 0)
    throw new UserError(`${conflicts.map((c) => `element '${c}' is already provided by ${providedBy.get(c)}`).join('; ')}`, {
      hint: `remove ${conflicts.map((c) => `'${c}'`).join(', ')} from the element list: the element that provides it stands in for it`,
    });
  if (!providedBy.has('operating-system'))
    throw new UserError('no element provides operating-system', {
      hint: "add an operating system element (one whose element-provides lists 'operating-system'), as DIB requires",
    });
  return {
    elements: order.filter((n) => !providedBy.has(n)).map((n) => index.elements.get(n) as Element),
    providedBy,
    warnings: index.warnings,
  };
}

function missingElement(name: string, neededBy: string | undefined, searched: string[]): UserError {
  const from = neededBy ? ` (in the element-deps of ${neededBy})` : '';
  const comment = name.startsWith('#')
    ? `; element-deps and element-provides have no comments in DIB: remove the line '${name}'`
    : '; fix the name or add the directory that holds it to dib.elementsPath / --elements-path / ELEMENTS_PATH';
  return new UserError(`element '${name}'${from} not found in ${searched.join(', ')}`, { hint: comment.slice(2) });
}

/** discoverElements + expandElements. */
export function resolveElements(userElements: readonly string[], elementsPath: readonly string[]): Resolution {
  return expandElements(userElements, discoverElements(elementsPath));
}
