/**
 * The FROM image of the agent's Dockerfile, made here: no registry is
 * reachable from build machines. A Debian rootfs tarball is imported
 * through the engine API and tagged by its content key, so an unchanged
 * base is imported once per engine. The rootfs's apt sources name the
 * mirror it was built from; they are blanked on the way in (the Dockerfile
 * gets the build host's sources as a build argument, used and removed in
 * the same step), so no mirror host ends up in the image.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { extract, pack } from 'tar-stream';
import { BuildError } from '../errors.js';
import { engineEvents } from './progress.js';

export const BASE_REPO = 'ramforge/debian-base';

const APT_SOURCES = /^(?:\.\/)?etc\/apt\/(?:sources\.list|sources\.list\.d\/[^/]+\.(?:list|sources))$/;
export const BLANK_SOURCES = "# ramforge: no apt sources in the image; builds pass the host's as the APT_SOURCES build argument\n";

/** The rootfs tar with every apt sources file replaced by a comment (other members unchanged, in order). */
export function stripAptSources(input: Readable): Readable {
  const ex = extract();
  const p = pack();
  input.on('error', (e) => ex.destroy(e));
  input.pipe(ex);
  (async () => {
    for await (const entry of ex) {
      const h = { ...entry.header };
      if (h.type === 'file' && APT_SOURCES.test(h.name)) {
        entry.resume();
        const body = Buffer.from(BLANK_SOURCES);
        await new Promise<void>((res, rej) => p.entry({ ...h, size: body.length }, body, (e) => (e ? rej(e) : res())));
        continue;
      }
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      await new Promise<void>((res, rej) => {
        const done = (e?: Error | null) => (e ? rej(e) : res());
        if (h.type === 'file' || !h.type) p.entry(h, body, done);
        else p.entry(h, done);
      });
    }
    p.finalize();
  })().catch((e: unknown) => p.destroy(e as Error));
  return Readable.from(p, { objectMode: false });
}

/** Import `tarball` (a rootfs tar) as BASE_REPO:<key> unless the engine has it; returns the reference. */
export async function importBaseImage(
  docker: Docker,
  opts: { tarball: string; key: string; log: (line: string) => void; repo?: string },
): Promise<string> {
  const repo = opts.repo ?? BASE_REPO;
  const ref = `${repo}:${opts.key}`;
  try {
    await docker.getImage(ref).inspect();
    opts.log(`base image ${ref}: already in the engine`);
    return ref;
  } catch {
    /* not there: import it */
  }
  opts.log(`importing the base image ${ref}`);
  const body = stripAptSources(createReadStream(opts.tarball));
  const stream = await docker.importImage(body as unknown as NodeJS.ReadableStream, {
    repo,
    tag: opts.key,
    message: 'ramforge Debian base',
  });
  for await (const ev of engineEvents(stream)) {
    if (ev.error || ev.errorDetail) throw new BuildError(`importing the base image ${ref}: ${ev.errorDetail?.message ?? ev.error}`);
  }
  return ref;
}
