/**
 * The image checksum, computed block by block beside the write. BlockWriter
 * hands every filled block to a BlockHasher and reuses the block's memory
 * only once both the disk write and the hash of it are done.
 *
 * WorkerHasher runs the hash in a worker thread that reads the blocks in
 * place (they live in SharedArrayBuffers, so nothing is copied): the main
 * thread then only receives and copies, while SHA-256 (about 0.6 CPU s per
 * GiB here) runs on another core. IPA gets the same overlap from hashlib,
 * which releases the GIL. InlineHasher hashes on the calling thread (small
 * images, where starting a worker costs more than it saves).
 */
import type { Worker } from 'node:worker_threads';
import { crypto } from '../util/node-builtins.js';

export interface BlockHasher {
  /** Hash `view` next; resolves once it is hashed (until then the bytes must not change). */
  update(view: Uint8Array): Promise<void>;
  /** Hex digest of everything hashed; no update after it. */
  digest(): Promise<string>;
  /** Release the worker, if any (idempotent; safe after an error). */
  close(): Promise<void>;
}

export class InlineHasher implements BlockHasher {
  private readonly h;
  constructor(algo: string) {
    this.h = crypto().createHash(algo);
  }
  add(view: Uint8Array): void {
    this.h.update(view);
  }
  async update(view: Uint8Array): Promise<void> {
    this.h.update(view);
  }
  async digest(): Promise<string> {
    return this.h.digest('hex');
  }
  async close(): Promise<void> {}
}

/** The worker's code (CommonJS, run with eval: the bundle has no file for it). */
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const h = require('node:crypto').createHash(workerData.algo);
parentPort.on('message', (m) => {
  if (m.end) return parentPort.postMessage({ digest: h.digest('hex') });
  h.update(new Uint8Array(m.buffer, m.offset, m.length));
  parentPort.postMessage({ done: true });
});
`;

let live = 0;
/** Checksum worker threads currently running (tests check none outlives its download). */
export function liveHashWorkers(): number {
  return live;
}

type Pending = { resolve: (v: string | undefined) => void; reject: (e: Error) => void };

/**
 * Hashes views of SharedArrayBuffers in a worker thread, in the order given.
 * A failure in the worker (an algorithm its OpenSSL refuses, the thread
 * dying) rejects every pending and later call with that error.
 */
export class WorkerHasher implements BlockHasher {
  private readonly worker: Worker;
  private readonly queue: Pending[] = [];
  private failed: Error | null = null;
  private closed = false;

  constructor(algo: string) {
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    this.worker = new Worker(WORKER_CODE, {
      eval: true,
      workerData: { algo },
      // It allocates next to nothing; keep its heap (and RSS) small.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    live++;
    this.worker.on('message', (m: { done?: boolean; digest?: string }) => this.queue.shift()?.resolve(m.digest));
    this.worker.on('error', (e) => this.fail(new Error(`the checksum worker failed: ${e.message}`, { cause: e })));
    this.worker.on('exit', (code) => {
      live--;
      if (!this.closed) this.fail(new Error(`the checksum worker exited (code ${code}) before the image was hashed`));
    });
  }

  /** Thread id of the worker (tests check it is gone after close). */
  get threadId(): number {
    return this.worker.threadId;
  }

  private fail(e: Error): void {
    this.failed ??= e;
    for (const p of this.queue.splice(0)) p.reject(this.failed);
  }

  private send(msg: object): Promise<string | undefined> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error('the checksum worker is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.worker.postMessage(msg);
    });
  }

  async update(view: Uint8Array): Promise<void> {
    if (!(view.buffer instanceof SharedArrayBuffer)) throw new TypeError('WorkerHasher hashes views of SharedArrayBuffers only');
    await this.send({ buffer: view.buffer, offset: view.byteOffset, length: view.byteLength });
  }

  async digest(): Promise<string> {
    return (await this.send({ end: true })) as string;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fail(new Error('the checksum worker was closed'));
    await this.worker.terminate();
  }
}

/** Images at least this big are hashed in a worker thread (default of DownloadOptions.hashWorkerMinBytes). */
export const HASH_WORKER_MIN_BYTES = 64 << 20;

/** A WorkerHasher, or an InlineHasher when no worker can start (the error goes to `onFallback`). */
export function startHasher(algo: string, inWorker: boolean, onFallback?: (e: unknown) => void): BlockHasher {
  if (inWorker) {
    try {
      return new WorkerHasher(algo);
    } catch (e) {
      onFallback?.(e);
    }
  }
  return new InlineHasher(algo);
}
