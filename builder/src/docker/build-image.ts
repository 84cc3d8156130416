/**
 * Build an image from a Dockerfile through the engine API: the context is
 * streamed as a tar (tar-stream), the step lines go to the task list, a
 * failing step fails the build with its own output. Intermediate
 * containers are removed on success and failure (rm + forcerm); the
 * result is not tagged, so the only thing left in the engine is its build
 * cache (the image and its layers), which makes the next build warm.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { pack } from 'tar-stream';
import { BuildError } from '../errors.js';
import { BuildProgress, engineEvents } from './progress.js';

export interface ContextFile {
  /** Path in the context ("Dockerfile", "agent.mjs"). */
  name: string;
  content: Buffer | { source: string };
  mode?: number;
}

export interface BuildImageOptions {
  context: ContextFile[];
  /** Build arguments (proxies, the apt sources, the base image). */
  buildArgs: Record<string, string>;
  /** Context mtimes (the engine's COPY cache looks at content, but keep the tar itself stable). */
  epoch: number;
  log: (line: string) => void;
  signal?: AbortSignal;
  /** Ignore the engine's build cache. */
  noCache?: boolean;
}

/** The build's context as a tar stream, entries in the order given. */
export function contextTar(files: ContextFile[], epoch: number): Readable {
  const p = pack();
  (async () => {
    for (const f of files) {
      const header = { name: f.name, mode: f.mode ?? 0o644, mtime: new Date(epoch * 1000), uid: 0, gid: 0, uname: '', gname: '' };
      if (Buffer.isBuffer(f.content)) {
        await new Promise<void>((res, rej) =>
          p.entry({ ...header, size: (f.content as Buffer).length }, f.content as Buffer, (e) => (e ? rej(e) : res())),
        );
      } else {
        const { size } = await stat(f.content.source);
        const entry = p.entry({ ...header, size }, undefined);
        await new Promise<void>((res, rej) => {
          const src = createReadStream((f.content as { source: string }).source);
          src.on('error', rej);
          entry.on('error', rej);
          entry.on('finish', () => res());
          src.pipe(entry as unknown as NodeJS.WritableStream);
        });
      }
    }
    p.finalize();
  })().catch((e: unknown) => p.destroy(e as Error));
  return Readable.from(p, { objectMode: false });
}

/** Build; returns the image ID. */
export async function buildImage(docker: Docker, opts: BuildImageOptions): Promise<string> {
  const stream = await docker.buildImage(
    contextTar(opts.context, opts.epoch) as unknown as NodeJS.ReadableStream,
    {
      buildargs: opts.buildArgs,
      // The private engine runs with --bridge=none: RUN steps get the host's network (apt).
      networkmode: 'host',
      rm: true,
      forcerm: true,
      pull: false,
      nocache: opts.noCache ?? false,
      ...(opts.signal ? { abortSignal: opts.signal } : {}),
    } as Docker.ImageBuildOptions,
  );
  const progress = new BuildProgress();
  for await (const ev of engineEvents(stream)) for (const line of progress.add(ev)) opts.log(line);
  if (progress.error !== undefined || !progress.imageId) {
    const step = progress.step ?? 'the Dockerfile';
    const output = progress.stepOutput();
    throw new BuildError(
      `Docker build failed at ${step}: ${progress.error ?? 'the engine reported no image'}${output.length ? `\n${output.join('\n')}` : ''}`,
      { hint: 'fix the Dockerfile step (its output is above) and build again; earlier steps stay cached in the engine' },
    );
  }
  return progress.imageId;
}
