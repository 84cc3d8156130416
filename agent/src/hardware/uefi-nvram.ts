/**
 * The clean_uefi_nvram step (IPA's GenericHardwareManager.clean_uefi_nvram and
 * efi_utils.clean_boot_records, behaviour re-implemented): remove the UEFI
 * NVRAM boot entries whose device path (the part of `efibootmgr -v`'s line
 * after the label, e.g. HD(1,GPT,...)/File(\EFI\debian\shimx64.efi)) matches
 * one of the patterns, case-insensitively, each with `efibootmgr -b XXXX -B`.
 * As IPA, only the device path is matched, not the label. The patterns are
 * Python `re` ones (IPA's re.compile(p, re.IGNORECASE) and search), translated
 * by translatePythonPattern.
 */
import { InvalidCommandParamsError } from '../errors.js';
import { parseBootRecords, type BootRecord } from '../image/uefi-boot-entries.js';
import type { ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';

/** IPA's DEFAULT_CLEAN_UEFI_NVRAM_MATCH_PATTERNS: entries on a disk partition, and shim or GRUB loaders. */
export const DEFAULT_NVRAM_MATCH_PATTERNS = ['^HD\\(', 'shim.*\\.efi', 'grub.*\\.efi'];

/** A pattern Python's re would reject too. */
class PySyntaxError extends Error {}
/** A pattern Python's re accepts that JavaScript cannot express with the same meaning. */
class Untranslatable extends Error {}

const PY_WHITESPACE = ' \t\n\r\v\f';
const hex = (n: number): string => (n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`);

/**
 * A Python `re` pattern (str, compiled with re.IGNORECASE, as IPA compiles
 * match_patterns) as the source of a JavaScript RegExp with the `i` flag and
 * nothing else, token by token, so that both match the same strings:
 *
 * - `\A`, `\Z` (and 3.14's `\z`), `^`, `$` and `.` become lookarounds and
 *   classes with Python's meaning under the flags in force (`$` also before a
 *   final newline; `.` not a newline unless DOTALL), so the `s` and `m`
 *   flags, global or scoped, need no JavaScript flag.
 * - A leading global flag group `(?aimsux)`: `i` is always on; `s`, `m` as
 *   above; `x` (verbose) drops whitespace and `#` comments outside classes
 *   and escapes between tokens, as Python's parser does; `a` (ASCII) is
 *   JavaScript's own meaning of `\d`, `\w`, `\s`, `\b`; `u` is Python's
 *   default for str patterns and is accepted, but `\d`, `\w` and `\b` match
 *   ASCII only here, as under `(?a)`: efibootmgr's device paths are ASCII.
 *   `L` is refused, as Python refuses LOCALE for str patterns. A global
 *   group anywhere else is refused, as Python 3.11+ does.
 * - Scoped `(?flags-flags:...)`: V8 in Node 22 has no regexp modifiers (only
 *   behind --js-regexp-modifiers), so they are translated as above;
 *   `(?i:` changes nothing (always case-insensitive), `(?-i:` cannot be
 *   expressed and is refused.
 * - `{,n}` (and `{,}`) quantifiers become `{0,n}` (`{0,}`); a `{` that is not
 *   a quantifier, and `}`, are escaped, as Python reads them as literals.
 * - `(?P<n>...)` is `(?<n>...)`, `(?P=n)` and `\N` back-references are
 *   wrapped so that a following digit stays a digit; octal and `\a` escapes
 *   become `\xHH`. A back-reference to a group that did not take part in
 *   the match matches nothing in Python and the empty string in JavaScript.
 *
 * Refused, naming the construct: conditional groups `(?(1)a|b)`, atomic
 * groups `(?>...)`, possessive quantifiers `a*+`, `\N{name}`.
 */
export function translatePythonPattern(p: string): string {
  let out = '';
  let i = 0;
  interface Flags {
    s: boolean;
    m: boolean;
    x: boolean;
  }
  let flags: Flags = { s: false, m: false, x: false };
  const stack: Array<{ flags: Flags; group?: number }> = [];
  let groups = 0;
  const closed = new Set<number>();
  /** Whether the last token can take a quantifier (Python: "nothing to repeat" / "multiple repeat"). */
  let canRepeat = false;
  /** Where the token being read starts, for messages. */
  let at = 0;
  const bad = (why: string) => new PySyntaxError(`${why} at position ${at}`);
  const untranslatable = (construct: string) => new Untranslatable(construct);

  /** An escape after the backslash at p[i]; returns the JS text and advances i. `inClass`: Python's class escapes. */
  const readEscape = (inClass: boolean): string => {
    const start = i;
    const c = p[i + 1];
    if (c === undefined) throw bad('bad escape (end of pattern)');
    i += 2;
    if (/[0-7]/.test(c) && (inClass || c === '0' || (/[0-7]/.test(p[i] ?? '') && /[0-7]/.test(p[i + 1] ?? '')))) {
      // Octal: \0, \0NN, \NNN (outside a class a leading 1-9 needs three octal digits, else it is a group reference).
      let digits = c;
      while (digits.length < 3 && /[0-7]/.test(p[i] ?? '')) digits += p[i++];
      const n = Number.parseInt(digits, 8);
      if (n > 0o377) throw bad(`octal escape value \\${digits} outside of range 0-0o377`);
      return hex(n);
    }
    if (/[1-9]/.test(c)) {
      if (inClass) throw bad(`bad escape \\${c}`);
      let digits = c;
      if (/\d/.test(p[i] ?? '')) digits += p[i++];
      const n = Number(digits);
      if (n > groups) throw bad(`invalid group reference ${n}`);
      if (!closed.has(n)) throw bad('cannot refer to an open group');
      canRepeat = true;
      return `(?:\\${n})`;
    }
    const fixed = (len: number, name: string) => {
      const h = p.slice(i, i + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(h)) throw bad(`incomplete escape \\${name}${h}`);
      i += len;
      return Number.parseInt(h, 16);
    };
    switch (c) {
      case 'x':
        return hex(fixed(2, 'x'));
      case 'u':
        return hex(fixed(4, 'u'));
      case 'U': {
        const n = fixed(8, 'U');
        if (n > 0x10ffff) throw bad(`bad escape \\U${p.slice(start + 2, i)}`);
        if (n <= 0xffff) return hex(n);
        if (inClass) throw untranslatable(`\\U${p.slice(start + 2, i)} (a character outside the BMP) in a character class`);
        const v = n - 0x10000;
        return `(?:${hex(0xd800 + (v >> 10))}${hex(0xdc00 + (v & 0x3ff))})`;
      }
      case 'N':
        throw untranslatable('\\N{...} (a Unicode character by name)');
      case 'a':
        return '\\x07';
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'v':
      case 'd':
      case 'D':
      case 's':
      case 'S':
      case 'w':
      case 'W':
        return `\\${c}`;
      case 'b':
        // In a class \b is a backspace, in both.
        if (!inClass) canRepeat = false;
        return '\\b';
    }
    if (!inClass) {
      if (c === 'B') {
        canRepeat = false;
        return '\\B';
      }
      if (c === 'A') {
        canRepeat = false;
        return '(?<![^])';
      }
      if (c === 'Z' || c === 'z') {
        canRepeat = false;
        return '(?![^])';
      }
    }
    if (/[0-9A-Za-z]/.test(c)) throw bad(`bad escape \\${c}`);
    return `\\${c}`;
  };

  /** [...] from p[i] = '[' to its closing ']'. */
  const charClass = (): string => {
    let body = '[';
    i++;
    if (p[i] === '^') {
      body += '^';
      i++;
    }
    // A ] first is a literal in Python, the end of an empty class in JavaScript.
    if (p[i] === ']') {
      body += '\\]';
      i++;
    }
    for (;;) {
      const c = p[i];
      if (c === undefined) throw bad('unterminated character set');
      if (c === ']') {
        i++;
        return `${body}]`;
      }
      if (c === '\\') body += readEscape(true);
      else {
        body += c;
        i++;
      }
    }
  };

  const quantifierNext = (q: string): string => {
    if (!canRepeat) throw bad(out === '' || /[|(]$/.test(out) ? 'nothing to repeat' : 'multiple repeat');
    if (p[i] === '+') throw untranslatable(`the possessive quantifier ${q}+`);
    if (p[i] === '?') {
      i++;
      q += '?';
    }
    canRepeat = false;
    return q;
  };

  while (i < p.length) {
    at = i;
    const c = p[i]!;
    if (flags.x && PY_WHITESPACE.includes(c)) {
      i++;
      continue;
    }
    if (flags.x && c === '#') {
      while (i < p.length && p[i] !== '\n') i++;
      continue;
    }
    if (c === '\\') {
      canRepeat = true;
      out += readEscape(false);
      continue;
    }
    if (c === '[') {
      out += charClass();
      canRepeat = true;
      continue;
    }
    if (c === '*' || c === '+' || c === '?') {
      i++;
      out += quantifierNext(c);
      continue;
    }
    if (c === '{') {
      const m = /^\{(\d*)(?:(,)(\d*))?\}/.exec(p.slice(i));
      if (m && p[i + 1] !== '}') {
        i += m[0].length;
        const lo = m[1] || '0';
        const hi = m[2] ? m[3] : lo;
        out += quantifierNext(`{${lo}${m[2] ? `,${hi}` : ''}}`);
        continue;
      }
      out += '\\{';
      i++;
      canRepeat = true;
      continue;
    }
    if (c === '(') {
      const rest = p.slice(i);
      if (!rest.startsWith('(?')) {
        stack.push({ flags, group: ++groups });
        out += '(';
        i++;
        canRepeat = false;
        continue;
      }
      const name = /^\(\?P<([^>]*)>/.exec(rest);
      if (name) {
        stack.push({ flags, group: ++groups });
        out += `(?<${name[1]}>`;
        i += name[0].length;
        canRepeat = false;
        continue;
      }
      const ref = /^\(\?P=([^)]*)\)/.exec(rest);
      if (ref) {
        out += `(?:\\k<${ref[1]}>)`;
        i += ref[0].length;
        canRepeat = true;
        continue;
      }
      const look = /^\(\?(?::|=|!|<=|<!)/.exec(rest);
      if (look) {
        stack.push({ flags });
        out += look[0];
        i += look[0].length;
        canRepeat = false;
        continue;
      }
      if (rest.startsWith('(?#')) {
        i += 3;
        while (p[i] !== ')') {
          if (i >= p.length) throw bad('missing ), unterminated comment');
          i += p[i] === '\\' ? 2 : 1;
        }
        i++;
        continue;
      }
      if (rest.startsWith('(?(')) throw untranslatable('a conditional group (?(id/name)yes|no)');
      if (rest.startsWith('(?>')) throw untranslatable('an atomic group (?>...)');
      const fl = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])?/.exec(rest)!;
      const [all, on = '', off, end] = fl;
      const construct = all;
      for (const f of on + (off ?? '')) if (!'aiLmsux'.includes(f)) throw bad(`unknown flag or extension: ${construct}`);
      if (!end || (on === '' && off === undefined)) throw bad(`unknown extension or missing -, : or ): ${construct}`);
      if (on.includes('L')) throw bad(`bad inline flags: cannot use the LOCALE flag L with a str pattern: ${construct}`);
      if (on.includes('a') && on.includes('u')) throw bad(`bad inline flags: flags 'a', 'u' and 'L' are incompatible: ${construct}`);
      if (off !== undefined) {
        if (end === ')') throw bad(`missing : after ${construct}`);
        if (off === '') throw bad(`missing flag after - in ${construct}`);
        if (/[aLu]/.test(off)) throw bad(`bad inline flags: cannot turn off 'a', 'u' or 'L': ${construct}`);
        for (const f of off) if (on.includes(f)) throw bad(`bad inline flags: flag turned on and off: ${construct}`);
        if (off.includes('i')) {
          throw untranslatable(
            `${construct} turns case-insensitive matching off in a scope: the patterns are matched with re.IGNORECASE, and Node 22's JavaScript has no scoped regexp modifiers`,
          );
        }
      }
      const next: Flags = { ...flags };
      for (const f of on) if (f === 's' || f === 'm' || f === 'x') next[f] = true;
      for (const f of off ?? '') if (f === 's' || f === 'm' || f === 'x') next[f] = false;
      i += all.length;
      if (end === ')') {
        // Global flags: only at the very start (Python 3.11+), before any other token.
        if (stack.length || out !== '') throw bad(`global flags not at the start of the expression: ${construct}`);
        flags = next;
        continue;
      }
      stack.push({ flags });
      flags = next;
      out += '(?:';
      canRepeat = false;
      continue;
    }
    if (c === ')') {
      const top = stack.pop();
      if (!top) throw bad('unbalanced parenthesis');
      flags = top.flags;
      if (top.group) closed.add(top.group);
      out += ')';
      i++;
      canRepeat = true;
      continue;
    }
    i++;
    if (c === '|') {
      out += '|';
      canRepeat = false;
    } else if (c === '.') {
      out += flags.s ? '[^]' : '[^\\n]';
      canRepeat = true;
    } else if (c === '^') {
      out += flags.m ? '(?<![^\\n])' : '(?<![^])';
      canRepeat = false;
    } else if (c === '$') {
      out += flags.m ? '(?=\\n|(?![^]))' : '(?=\\n?(?![^]))';
      canRepeat = false;
    } else {
      out += c === '}' || c === ']' ? `\\${c}` : c;
      canRepeat = true;
    }
  }
  if (stack.length) throw bad('missing ), unterminated subpattern');
  return out;
}

/** The patterns as case-insensitive regular expressions; InvalidCommandParamsError unless a list of strings that compile. */
export function compileMatchPatterns(value: unknown): RegExp[] {
  const patterns = value ?? DEFAULT_NVRAM_MATCH_PATTERNS;
  const bad = (why: string) =>
    new InvalidCommandParamsError(`clean_uefi_nvram: match_patterns must be a list of regular expressions (strings): ${why}`);
  if (!Array.isArray(patterns)) throw bad(`got ${JSON.stringify(patterns)}`);
  return patterns.map((p, i) => {
    if (typeof p !== 'string') throw bad(`match_patterns[${i}] is ${JSON.stringify(p)}`);
    try {
      return new RegExp(translatePythonPattern(p), 'i');
    } catch (e) {
      if (e instanceof Untranslatable) {
        throw new InvalidCommandParamsError(
          `clean_uefi_nvram: match_patterns[${i}] ${JSON.stringify(p)} cannot be translated from Python's re to JavaScript: ${e.message}`,
        );
      }
      throw bad(`match_patterns[${i}] ${JSON.stringify(p)} does not compile: ${(e as Error).message}`);
    }
  });
}

export interface NvramResult {
  /** The entries removed, as efibootmgr listed them. */
  removed: BootRecord[];
  /** Why nothing was looked at, when so. */
  skipped?: string;
}

/**
 * clean_uefi_nvram(node, ports, match_patterns). Only in UEFI mode: a machine
 * booted in BIOS mode has no NVRAM boot entries to clean, so the step does
 * nothing and says so (IPA runs efibootmgr anyway, which fails the step there).
 */
export async function cleanUefiNvram(
  matchPatterns: unknown,
  o: { run: ProgramRunner; log: Log; bootMode: 'uefi' | 'bios' },
): Promise<NvramResult> {
  const patterns = compileMatchPatterns(matchPatterns);
  if (o.bootMode !== 'uefi') {
    const skipped = 'the ramdisk did not boot in UEFI mode (no /sys/firmware/efi): there are no NVRAM boot entries to clean';
    o.log.warn(`clean_uefi_nvram: ${skipped}`);
    return { removed: [], skipped };
  }
  const sources = (matchPatterns ?? DEFAULT_NVRAM_MATCH_PATTERNS) as string[];
  const removed: BootRecord[] = [];
  for (const r of parseBootRecords((await o.run(['efibootmgr', '-v'])).stdout)) {
    const hit = patterns.findIndex((p) => p.test(r.path));
    if (hit < 0) continue;
    o.log.info(`clean_uefi_nvram: removing Boot${r.num} "${r.label}": ${r.path} matches ${JSON.stringify(sources[hit])}`);
    await o.run(['efibootmgr', '-b', r.num, '-B']);
    removed.push(r);
  }
  return { removed };
}
