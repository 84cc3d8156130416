/** The host's mount table, as this process sees it. */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';

/** Mount points at or below `root` in this process's mount namespace (/proc/self/mountinfo, octal escapes decoded). */
export function mountsUnder(root: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const unoctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  const base = resolvePath(root);
  return mountinfo
    .split('\n')
    .map((l) => unoctal(l.split(' ')[4] ?? ''))
    .filter((m) => m === base || m.startsWith(`${base}/`));
}
