/**
 * The clean_uefi_nvram step (IPA's GenericHardwareManager.clean_uefi_nvram and
 * efi_utils.clean_boot_records, behaviour re-implemented): remove the UEFI
 * NVRAM boot entries whose device path (the part of `efibootmgr -v`'s line
 * after the label, e.g. HD(1,GPT,...)/File(\EFI\debian\shimx64.efi)) matches
 * one of the patterns, case-insensitively, each with `efibootmgr -b XXXX -B`.
 * As IPA, only the device path is matched, not the label.
 */
import { InvalidCommandParamsError } from '../errors.js';
import { parseBootRecords, type BootRecord } from '../image/uefi-boot-entries.js';
import type { ProgramRunner } from '../util/exec.js';
import type { Log } from '../util/log.js';

/** IPA's DEFAULT_CLEAN_UEFI_NVRAM_MATCH_PATTERNS: entries on a disk partition, and shim or GRUB loaders. */
export const DEFAULT_NVRAM_MATCH_PATTERNS = ['^HD\\(', 'shim.*\\.efi', 'grub.*\\.efi'];

/**
 * Python's \A and \Z (start and end of the string) as JavaScript's ^ and $ (without the m flag the same):
 * JavaScript reads \A and \Z as the letters A and Z. An escaped backslash and a character class are left as they are.
 */
function pythonAnchors(p: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') {
      const next = p[i + 1] ?? '';
      out += !inClass && next === 'A' ? '^' : !inClass && next === 'Z' ? '$' : c + next;
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
      // A ] right after [ or [^ is a literal in Python's classes.
      if (p[i + 1] === '^') out += p[++i];
      if (p[i + 1] === ']') out += p[++i];
    } else out += c;
  }
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
      // Python's named groups (?P<n>...) and back-references (?P=n) have other spellings in JavaScript.
      return new RegExp(pythonAnchors(p.replace(/\(\?P</g, '(?<').replace(/\(\?P=(\w+)\)/g, '\\k<$1>')), 'i');
    } catch (e) {
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
  const removed: BootRecord[] = [];
  for (const r of parseBootRecords((await o.run(['efibootmgr', '-v'])).stdout)) {
    const hit = patterns.find((p) => p.test(r.path));
    if (!hit) continue;
    o.log.info(`clean_uefi_nvram: removing Boot${r.num} "${r.label}": ${r.path} matches ${hit.source}`);
    await o.run(['efibootmgr', '-b', r.num, '-B']);
    removed.push(r);
  }
  return { removed };
}
