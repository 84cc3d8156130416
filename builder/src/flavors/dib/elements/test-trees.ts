/** Test helper: element trees written into a temp dir that the test removes in t.after. */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** path inside the tree → file content (a trailing '/' makes a directory); '+x' suffix on the key: mode 0755. */
export type TreeSpec = Record<string, string>;

export function tempDir(t: { after: (fn: () => void) => void }, prefix = 'dib-elements-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeTree(root: string, files: TreeSpec): string {
  for (const [key, content] of Object.entries(files)) {
    const exec = key.endsWith(' +x');
    const rel = exec ? key.slice(0, -3) : key;
    const path = join(root, rel);
    if (rel.endsWith('/')) {
      mkdirSync(path, { recursive: true });
      continue;
    }
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    chmodSync(path, exec ? 0o755 : 0o644);
  }
  return root;
}
