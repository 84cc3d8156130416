/**
 * The entry of the image's `pkg-map` (pkg-map-cli.ts): bundled by the element
 * runner into /tmp/in_target.d/ramforge-runtime/pkg-map.mjs, run by the
 * build's Node through builtin-elements/pkg-map/bin/pkg-map. Maps are read
 * from /usr/share/pkg-map (RAMFORGE_PKG_MAP_DIR in the unit tests).
 */
import { pkgMapCommand } from './pkg-map-cli.js';

process.exitCode = pkgMapCommand(process.argv.slice(2), {
  env: process.env,
  mapDir: process.env.RAMFORGE_PKG_MAP_DIR ?? '/usr/share/pkg-map',
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
