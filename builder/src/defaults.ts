/**
 * Defaults every part of the builder shares, declared once: the timestamp
 * of reproducible artifacts and the cache directory.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from './errors.js';

/**
 * 2026-01-01T00:00:00Z: every date in the artifacts when neither the spec
 * nor SOURCE_DATE_EPOCH gives one (`build` and `iso` alike). Not 0: FAT
 * (the ISO's EFI system partition) cannot store dates before 1980.
 */
export const DEFAULT_EPOCH = 1767225600;

/** The latest date the artifacts can carry: cpio's 32-bit mtime (2106-02-07). */
export const MAX_EPOCH = 4294967295;

/**
 * SOURCE_DATE_EPOCH: undefined when unset or empty, its whole seconds, else
 * a UserError (a typo must not build with another date than the one asked).
 */
export function epochFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.SOURCE_DATE_EPOCH?.trim();
  if (!v) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > MAX_EPOCH)
    throw new UserError(`SOURCE_DATE_EPOCH '${env.SOURCE_DATE_EPOCH}' is not whole seconds since 1970-01-01 up to ${MAX_EPOCH}`, {
      hint: 'give whole seconds before 2106 (the cpio format keeps 32 bits; e.g. $(git log -1 --format=%ct)), or unset it for the default date',
    });
  return Number(v);
}

/** ramforge's cache root: $RAMFORGE_CACHE, else $XDG_CACHE_HOME/ramforge, else ~/.cache/ramforge. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RAMFORGE_CACHE) return env.RAMFORGE_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ramforge');
}
