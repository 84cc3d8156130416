/**
 * The engine-less path: an image given as a file, flattened here into the
 * tree `docker export` would give. Accepted: a `docker save` archive
 * (manifest.json + layer tars), an OCI image layout (oci-layout,
 * index.json, blobs/), as a directory or a tar of one (what buildah,
 * podman, skopeo and `docker save` write). Layers are applied in order
 * with the OCI whiteout rules: `.wh.NAME` deletes NAME from the layers
 * below, `DIR/.wh..wh..opq` empties DIR of what the layers below put
 * there; neither marker is itself in the result.
 */
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { decompressStream } from '../archive/compress.js';
import { UserError } from '../errors.js';
import type { Tree } from '../tree/tree.js';
import { splitTreePath } from '../tree/paths.js';

export interface ImageLayers {
  format: 'docker-save' | 'oci-layout';
  /** Layer blobs, bottom first (absolute paths). */
  layers: string[];
  /** Tags the archive names, for the log. */
  tags: string[];
}

const OCI_INDEX = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

/** Read an image archive (file or directory), unpacking a tar into `scratch`. */
export async function readImageArchive(path: string, scratch: string, what = 'coreos.container'): Promise<ImageLayers> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch (e) {
    throw new UserError(`${what}: ${path} does not exist`, {
      hint: 'name a `docker save` archive or an OCI image layout (directory or tar)',
      cause: e,
    });
  }
  let dir = path;
  if (st.isFile()) {
    dir = join(scratch, 'image');
    await untarPlain(path, dir, what);
  } else if (!st.isDirectory()) {
    throw new UserError(`${what}: ${path} is neither a file nor a directory`, {
      hint: 'name a `docker save` archive or an OCI image layout',
    });
  }
  const has = async (p: string) =>
    lstat(join(dir, p)).then(
      () => true,
      () => false,
    );
  if (await has('index.json')) return readOciLayout(dir, what, path);
  if (await has('manifest.json')) return readDockerSave(dir, what, path);
  throw new UserError(`${what}: ${path} is not a docker save archive or an OCI image layout (no manifest.json or index.json)`, {
    hint: 'make one with `docker save IMAGE -o FILE`, `podman save --format oci-archive`, or `skopeo copy ... oci:DIR`',
  });
}

async function readJson<T>(file: string, what: string, origin: string): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (e) {
    throw new UserError(`${what}: ${origin}: cannot read ${file.split('/').slice(-2).join('/')}: ${(e as Error).message}`, {
      hint: 'the archive looks damaged; save the image again',
      cause: e,
    });
  }
}

async function readDockerSave(dir: string, what: string, origin: string): Promise<ImageLayers> {
  const manifest = await readJson<{ Layers?: string[]; RepoTags?: string[] | null }[]>(join(dir, 'manifest.json'), what, origin);
  const first = manifest[0];
  if (!first?.Layers) throw new UserError(`${what}: ${origin}: manifest.json lists no image`, { hint: 'save exactly one image' });
  if (manifest.length > 1) throw new UserError(`${what}: ${origin} holds ${manifest.length} images`, { hint: 'save exactly one image' });
  return { format: 'docker-save', layers: first.Layers.map((l) => safeJoin(dir, l, what)), tags: first.RepoTags ?? [] };
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  platform?: { architecture?: string; os?: string };
  annotations?: Record<string, string>;
}

async function readOciLayout(dir: string, what: string, origin: string): Promise<ImageLayers> {
  const blob = (d: Descriptor) => {
    const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(d.digest);
    if (!m)
      throw new UserError(`${what}: ${origin}: bad digest '${d.digest}'`, { hint: 'the archive looks damaged; save the image again' });
    return join(dir, 'blobs', m[1] as string, m[2] as string);
  };
  const index = await readJson<{ manifests?: Descriptor[] }>(join(dir, 'index.json'), what, origin);
  let list = index.manifests ?? [];
  let desc = list[0];
  // Follow nested indexes down to the linux/amd64 manifest.
  for (let depth = 0; desc && OCI_INDEX.has(desc.mediaType ?? '') && depth < 4; depth++) {
    list = (await readJson<{ manifests?: Descriptor[] }>(blob(desc), what, origin)).manifests ?? [];
    desc = list.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === 'amd64') ?? list[0];
  }
  if (!desc) throw new UserError(`${what}: ${origin}: index.json lists no image`, { hint: 'save exactly one image' });
  if (list.length > 1 && !list.some((m) => m.platform)) {
    throw new UserError(`${what}: ${origin} holds ${list.length} images`, { hint: 'save exactly one image' });
  }
  const manifest = await readJson<{ layers?: Descriptor[] }>(blob(desc), what, origin);
  const tag = desc.annotations?.['org.opencontainers.image.ref.name'];
  return { format: 'oci-layout', layers: (manifest.layers ?? []).map(blob), tags: tag ? [tag] : [] };
}

/** dir/rel, refusing names that climb out of dir. */
function safeJoin(dir: string, rel: string, what: string): string {
  try {
    return join(dir, ...splitTreePath(rel, true));
  } catch (e) {
    throw new UserError(`${what}: the archive names '${rel}', outside itself`, {
      hint: 'use an archive written by docker, podman or skopeo',
      cause: e,
    });
  }
}

/** Unpack the regular files and directories of an image tar (blobs, manifests) into dest. */
async function untarPlain(file: string, dest: string, what: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  const ex = extract();
  const input = createReadStream(file);
  input.on('error', (e) => ex.destroy(e));
  input.pipe(ex);
  for await (const entry of ex) {
    const h = entry.header;
    if (h.type === 'file' || h.type === 'directory') {
      const target = safeJoin(dest, h.name, what);
      if (h.type === 'directory') await mkdir(target, { recursive: true });
      else {
        await mkdir(dirname(target), { recursive: true });
        const fh = await open(target, 'wx', 0o600);
        try {
          for await (const c of entry) await fh.write(c as Buffer);
        } finally {
          await fh.close();
        }
        continue;
      }
    }
    // Symlinks (docker save's shared layers may be links to another layer dir) are not followed.
    entry.resume();
  }
}

/** A layer blob as a tar stream, whatever its compression (by magic number). */
async function layerStream(file: string): Promise<Readable> {
  const fh = await open(file, 'r');
  const head = Buffer.alloc(4);
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  const raw = createReadStream(file);
  const kind = head[0] === 0x1f && head[1] === 0x8b ? 'gzip' : head.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : undefined;
  if (!kind) return raw;
  const d = decompressStream(kind);
  raw.on('error', (e) => d.destroy(e));
  return raw.pipe(d);
}

/** Apply one layer over the tree with the OCI whiteout rules. */
export async function applyLayer(tree: Tree, input: Readable, layer: string): Promise<void> {
  const own = new Set<string>();
  const isOwnOrBelowOwn = (p: string) => own.has(p);
  await tree.mergeTar(input, {
    layer,
    intercept: (path, type) => {
      const slash = path.lastIndexOf('/');
      const dir = slash < 0 ? '' : path.slice(0, slash);
      const base = path.slice(slash + 1);
      if (base === '.wh..wh..opq') {
        const prefix = dir ? `${dir}/` : '';
        for (const e of tree.entries()) {
          if (!e.path.startsWith(prefix) || e.path === dir || isOwnOrBelowOwn(e.path)) continue;
          if (e.path.slice(prefix.length).includes('/')) continue; // children go with their parent
          tree.remove(e.path);
        }
        return false;
      }
      if (base.startsWith('.wh.')) {
        const victim = dir ? `${dir}/${base.slice(4)}` : base.slice(4);
        if (!own.has(victim)) tree.remove(victim);
        return false;
      }
      // Anything over a lower directory that is not a directory hides the whole lower subtree.
      const old = tree.get(path);
      if (old?.type === 'dir' && type !== 'directory' && !own.has(path)) tree.remove(path);
      own.add(path);
      return true;
    },
  });
}

/** Flatten every layer of an image archive into the tree. */
export async function flattenImage(tree: Tree, image: ImageLayers): Promise<void> {
  let i = 0;
  for (const l of image.layers) await applyLayer(tree, await layerStream(l), `layer-${++i}`);
}
