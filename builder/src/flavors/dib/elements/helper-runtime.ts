/**
 * What in-chroot helper commands run on: `<hooks>/ramforge-runtime/`, seen
 * by in-target phases as /tmp/in_target.d/ramforge-runtime/ (the hook tree is
 * bound there read-only, run-phase.ts): `pkg-map.mjs`, the image's pkg-map
 * command (pkg-map-cli.ts) bundled by esbuild, and `node`, an empty file on
 * which enter-phase.bash binds the build's pinned Node binary read-only for
 * the phase. Nothing of it is ever in the image: the hook tree is a mount
 * that ends with each phase, and finalise_base empties /tmp.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleAgent } from '../../../agent-bundle.js';

export const HELPER_RUNTIME_DIR = 'ramforge-runtime';

const PKG_MAP_ENTRY = fileURLToPath(new URL('./pkg-map-main.ts', import.meta.url));

let pkgMapBundle: Promise<Buffer> | undefined;

/** pkg-map.mjs: one ES module, nothing but Node built-ins (bundled once per process). */
export function pkgMapScript(): Promise<Buffer> {
  pkgMapBundle ??= bundleAgent({ nodeVersion: '20', entry: PKG_MAP_ENTRY }).then(
    (b) => b.code,
    (e: unknown) => {
      pkgMapBundle = undefined;
      throw e;
    },
  );
  return pkgMapBundle;
}

/** Write `<hooks>/ramforge-runtime/`; `node` (the host path of the Node to bind) absent: no node, pkg-map says so when called. */
export async function writeHelperRuntime(hooks: string, node: string | undefined): Promise<void> {
  const dir = join(hooks, HELPER_RUNTIME_DIR);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pkg-map.mjs'), await pkgMapScript());
  // The mount point: not executable, so that without the bind pkg-map refuses it rather than running an empty file.
  if (node !== undefined) writeFileSync(join(dir, 'node'), '', { mode: 0o644 });
}
