/**
 * The agent's container as container.tar.gz: built from the Dockerfile by
 * a Docker engine (dockerode), or flattened from an image archive without
 * one (coreos.container). Either way the same normalisation (docker/
 * container-tree.ts), so both give the same file for the same image.
 *
 * An engine build is cached twice: the engine keeps its layers (the
 * Dockerfile's steps run again only when their inputs change), and the
 * normalised archive is kept per image ID and epoch, so a warm build does
 * not export and compress again.
 */
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type Docker from 'dockerode';
import type { AgentBundle } from '../../agent-bundle.js';
import { REPO_ROOT } from '../../agent-bundle.js';
import type { NodeRuntime } from '../../node-runtime.js';
import { Tree } from '../../tree/tree.js';
import { NETWORK_ENV } from '../../exec/run.js';
import { debianBase, hostRelease } from '../../debian/mmdebstrap.js';
import { formatDeb822, readHostSources } from '../../debian/sources.js';
import { sha256File } from '../../debian/apt.js';
import { connectEngine } from '../../docker/engine.js';
import { importBaseImage } from '../../docker/base-image.js';
import { buildImage } from '../../docker/build-image.js';
import { exportImageInto } from '../../docker/export-container.js';
import { flattenImage, readImageArchive } from '../../docker/image-archive.js';
import { addInitLayer, removeEngineArtefacts, writeContainerArchive } from '../../docker/container-tree.js';
import { makeAgentCompileCache } from '../../agent-compile-cache.js';
import { AGENT_BUNDLE_PATH, agentNodeFlags } from '../tinyipa/agent-start.js';
import type { CoreosSpec } from './spec.js';

export const DEFAULT_DOCKERFILE = join(REPO_ROOT, 'Dockerfile');
const START_SCRIPT = fileURLToPath(new URL('./context/ironic-python-agent', import.meta.url));
/** tinyipa's start.mjs: hands the shipped compile-cache entries to Node, then loads the bundle. */
const AGENT_START = fileURLToPath(new URL('../tinyipa/rootfs/usr/lib/ramforge-agent/start.mjs', import.meta.url));

export interface AgentContainer {
  file: string;
  bytes: number;
  sha256: string;
  /** sha256 of the uncompressed, normalised tar. */
  treeSha256: string;
  entries: number;
  source: 'engine' | 'archive';
  /** Engine builds: the image ID and the FROM image. */
  image?: string;
  base?: string;
}

export interface ContainerEnv {
  cacheDir: string;
  workspace: string;
  epoch: number;
  log: (line: string) => void;
  signal: AbortSignal;
}

/** The proxy variables of the caller, as build arguments (the engine's predefined ARGs). */
export function proxyBuildArgs(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && NETWORK_ENV.test(k) && /proxy$/i.test(k)) out[k] = v;
  return out;
}

/** Build with the engine (or flatten coreos.container) and write the normalised archive. */
export async function makeAgentContainer(
  own: CoreosSpec,
  /** The Node runtime and the agent bundle, still on their way: made while the base is. */
  runtimePromise: Promise<{ node: NodeRuntime; agent: AgentBundle }>,
  env: ContainerEnv,
): Promise<AgentContainer> {
  const out = join(env.workspace, 'container.tar.gz');
  const tree = new Tree({ storeDir: join(env.workspace, 'container-store'), usrMerge: false });
  if (own.container !== undefined) {
    await runtimePromise;
    env.log(`flattening ${own.container}`);
    const image = await readImageArchive(own.container, join(env.workspace, 'image-archive'));
    await flattenImage(tree, image);
    addInitLayer(tree, env.epoch);
    removeEngineArtefacts(tree);
    return { ...(await writeContainerArchive(tree, out, env.epoch)), source: 'archive' };
  }

  const docker = await connectEngine();
  const [base, runtime] = await Promise.all([own.baseImage ?? importDebianBase(docker, env), runtimePromise]);
  const dockerfile = own.dockerfile ?? DEFAULT_DOCKERFILE;
  // V8's code cache for the bundle, as tinyipa and dib ship it: the container's Node is this pinned
  // binary, so it is made here, under the bundle's path in the container, with the start script's flags.
  const compileCache = await makeAgentCompileCache({
    node: runtime.node.binary,
    bundle: runtime.agent.code,
    url: pathToFileURL(AGENT_BUNDLE_PATH).href,
    flags: agentNodeFlags(await readFile(START_SCRIPT, 'utf8')),
    log: env.log,
  });
  const imageId = await buildImage(docker, {
    context: [
      { name: 'Dockerfile', content: await readFile(dockerfile) },
      { name: 'node', content: { source: runtime.node.binary }, mode: 0o755 },
      { name: 'agent.mjs', content: runtime.agent.code },
      { name: 'start.mjs', content: { source: AGENT_START } },
      // The directory is copied whether or not an entry could be made (Node ignores a file it did not name).
      compileCache
        ? { name: `compile-cache/${compileCache.key}`, content: compileCache.data }
        : { name: 'compile-cache/README', content: Buffer.from('No entry: the agent compiles its bundle at start.\n') },
      { name: 'ironic-python-agent', content: { source: START_SCRIPT }, mode: 0o755 },
    ],
    buildArgs: { BASE: base, APT_SOURCES: formatDeb822(await readHostSources()), ...proxyBuildArgs() },
    epoch: env.epoch,
    log: env.log,
    signal: env.signal,
  });

  const cacheDir = join(env.cacheDir, 'coreos-containers');
  const cached = join(cacheDir, `${imageId.replace(/^sha256:/, '')}-${env.epoch}.tar.gz`);
  if (existsSync(cached)) {
    env.log(`container ${imageId.slice(0, 19)}: the normalised archive is cached`);
    await copyFile(cached, out);
    const sha256 = await sha256File(out);
    const meta = JSON.parse(await readFile(`${cached}.json`, 'utf8')) as { treeSha256: string; entries: number };
    return { file: out, bytes: (await stat(out)).size, sha256, ...meta, source: 'engine', image: imageId, base };
  }
  env.log(`exporting ${imageId.slice(0, 19)}`);
  await exportImageInto(docker, imageId, tree);
  removeEngineArtefacts(tree);
  const archive = await writeContainerArchive(tree, out, env.epoch);
  await mkdir(cacheDir, { recursive: true });
  // The metadata first: the archive's presence is what marks the cache entry complete.
  await writeFile(`${cached}.json`, JSON.stringify({ treeSha256: archive.treeSha256, entries: archive.entries }));
  await copyFile(out, `${cached}.partial`);
  await rename(`${cached}.partial`, cached);
  return { ...archive, source: 'engine', image: imageId, base };
}

/** The default FROM image: a minimal Debian of the host's release, imported once per content. */
async function importDebianBase(docker: Docker, env: ContainerEnv): Promise<string> {
  const release = hostRelease() ?? 'bookworm';
  const base = await debianBase({ release, variant: 'minbase', include: [], epoch: env.epoch }, env);
  return importBaseImage(docker, { tarball: base.tarball, key: `${release}-${base.key.slice(0, 16)}`, log: env.log });
}
