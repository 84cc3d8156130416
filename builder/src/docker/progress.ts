/**
 * The engine's progress streams (build, import): one JSON object per line.
 * BuildProgress turns a build's events into task-list lines, remembers the
 * current step's output (what a failing step said) and the image ID.
 */
import type { Readable } from 'node:stream';

export interface EngineEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string };
}

/** The JSON lines of an engine response stream. */
export async function* engineEvents(stream: NodeJS.ReadableStream | Readable): AsyncGenerator<EngineEvent> {
  let buf = '';
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    buf += chunk.toString();
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line) as EngineEvent;
      nl = buf.indexOf('\n');
    }
  }
  if (buf.trim()) yield JSON.parse(buf) as EngineEvent;
}

/** How many lines of a step's output a failure shows. */
const TAIL_LINES = 25;

export class BuildProgress {
  /** "Step 3/7 : RUN apt-get ..." of the step running now. */
  step: string | undefined;
  imageId: string | undefined;
  error: string | undefined;
  readonly #tail: string[] = [];
  #partial = '';

  /** Feed one event; returns the lines to show under the task. */
  add(ev: EngineEvent): string[] {
    if (ev.aux?.ID) this.imageId = ev.aux.ID;
    if (ev.error !== undefined || ev.errorDetail) {
      this.error = (ev.errorDetail?.message ?? ev.error ?? 'unknown error').trim();
      return [];
    }
    const text = ev.stream ?? '';
    const out: string[] = [];
    this.#partial += text;
    const lines = this.#partial.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.replace(/\r/g, '').trimEnd();
      if (!line) continue;
      if (/^Step \d+\/\d+ : /.test(line)) {
        this.step = line;
        this.#tail.length = 0;
      } else {
        const built = /^Successfully built ([0-9a-f]{12,64})$/.exec(line);
        if (built && !this.imageId) this.imageId = built[1];
        this.#tail.push(line);
        if (this.#tail.length > TAIL_LINES) this.#tail.shift();
      }
      out.push(line);
    }
    return out;
  }

  /** The current step's output, minus the engine's own " ---> " bookkeeping lines. */
  stepOutput(): string[] {
    return this.#tail.filter((l) => !/^ ---> /.test(l) && !/^Removing intermediate container /.test(l));
  }
}
