/**
 * A plain-HTTP GET whose body is read from the socket straight into the
 * caller's memory: the image download's fast path (image/download.ts).
 *
 * node:http reads the socket in 64 KiB buffers it allocates, and its parser
 * copies each body piece into another new Buffer, which the image writer
 * then copies into its block: three copies of every byte and 16k fresh
 * 64 KiB allocations per GiB (page faults: most of the receive path's
 * system time). Here `net.Socket`'s `onread` reads into the free part of
 * the writer's block, so each byte is copied once, by the kernel, in reads
 * of up to a block (docs/agent-memory.md has the figures).
 *
 * Only the simple case takes it: an http: URL that no proxy applies to and
 * an answer that is 2xx with a Content-Length and no Transfer-Encoding. For
 * anything else rawGet() closes the connection and gives the status only:
 * the caller reports an error status, and asks again through httpRequest()
 * (util/http.ts) for a redirect or a chunked body; proxies and TLS go there
 * from the start.
 */
import type { Socket } from 'node:net';
import { AGENT_NAME } from '../version.js';
import { type HttpOptions, isNoProxy, NoAnswerError } from './http.js';

/** Where the body goes: the free memory to read into next, and how much of it was filled. */
export interface BodyTarget {
  /**
   * Free memory to read into (non-empty). After advance() it is where the
   * next bytes go, even while advance()'s promise is pending (they are only
   * read into it once that settles).
   */
  region(): Uint8Array;
  /** `n` bytes were put at the start of region(); a promise means: read nothing more until it settles. */
  advance(n: number): Promise<void> | undefined;
}

/** The largest response head accepted. */
const MAX_HEAD = 64 << 10;

/** Whether rawGet() may be tried for `url` with these options (a proxy or TLS needs httpRequest). */
export function rawGetApplies(url: string, o: HttpOptions): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return u.protocol === 'http:' && (o.method ?? 'GET') === 'GET' && !o.body && (!o.proxies?.http || isNoProxy(u, o.noProxy));
}

export interface RawResponse {
  statusCode: number;
  /** Lower-case names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** Content-Length (NaN when not readable). */
  length: number;
  /**
   * A 2xx answer with a Content-Length and no Transfer-Encoding, whose body
   * readBody() reads. Otherwise the connection is closed already: the
   * status is all there is (ask again with httpRequest for a redirect or
   * another kind of body).
   */
  readable: boolean;
  /**
   * Read the body into `target` until `length` bytes arrived; `progress`
   * gets each piece's size. Rejects when the connection ends early (with the
   * bytes so far in the message), on a socket error, or when the target's
   * advance() rejects (that error, unchanged).
   */
  readBody(target: BodyTarget, progress: (n: number) => void): Promise<number>;
  /** Close the connection (idempotent), failing a pending readBody with `e`. */
  destroy(e?: Error): void;
}

function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${decodeURIComponent(user)}:${decodeURIComponent(password)}`).toString('base64')}`;
}

/** Status line and headers of a response head (without the final CRLF CRLF), or null when it is not HTTP/1.x. */
function parseHead(head: string): { statusCode: number; headers: Record<string, string> } | null {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) return null;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { statusCode: Number(m[1]), headers };
}

/**
 * GET `url` (see rawGetApplies) and resolve once the response head is in
 * (see RawResponse.readable). Rejects with a NoAnswerError when no answer
 * came, like httpRequest.
 */
export function rawGet(url: string, o: HttpOptions = {}): Promise<RawResponse> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const headers: Record<string, string> = { 'user-agent': AGENT_NAME, ...(o.headers ?? {}) };
  if (target.username && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization'))
    headers.authorization = basicAuth(target.username, target.password);
  const lines = [`GET ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`];
  for (const [k, v] of Object.entries(headers))
    if (k.toLowerCase() !== 'host' && k.toLowerCase() !== 'connection') lines.push(`${k}: ${v}`);
  lines.push('connection: close', '', '');
  // As node:http: no header (or path) may hold a line break, which would start a header of its own.
  if (lines.some((l) => /[\r\n\0]/.test(l))) return Promise.reject(new Error(`GET ${url}: a header or the path holds a line break or NUL`));
  const request = lines.join('\r\n');

  return new Promise<RawResponse>((resolve, reject) => {
    const { connect } = process.getBuiltinModule('node:net');
    // Twice the head limit: the read after a head of up to MAX_HEAD still has room.
    const scratch = Buffer.allocUnsafe(2 * MAX_HEAD);
    let head = 0;
    let connected = false;
    let answered = false;
    // The body's state once the head is in.
    let length = 0;
    let received = 0;
    let sink: BodyTarget | null = null;
    let onProgress: (n: number) => void = () => {};
    let bodyDone: { resolve: (n: number) => void; reject: (e: Error) => void } | null = null;
    let failure: Error | null = null;
    /** Body bytes that arrived in `scratch` (with the head, or before readBody): copied into the sink first. */
    let early: Buffer | null = null;

    const timer = o.timeoutMs
      ? setTimeout(() => fail(new Error(`no answer from ${target.host} within ${(o.timeoutMs ?? 0) / 1000} s`)), o.timeoutMs)
      : null;
    const onAbort = (): void =>
      fail(o.signal!.reason instanceof Error ? o.signal!.reason : new DOMException('The operation was aborted', 'AbortError'));
    if (o.signal?.aborted) {
      reject(o.signal.reason instanceof Error ? o.signal.reason : new DOMException('The operation was aborted', 'AbortError'));
      return;
    }
    o.signal?.addEventListener('abort', onAbort, { once: true });

    const cleanup = (): void => {
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (e: Error): void => {
      if (failure) return;
      failure = e;
      cleanup();
      socket.destroy();
      if (!answered) reject(e.name === 'AbortError' ? e : new NoAnswerError(e.message, connected, { cause: e }));
      else bodyDone?.reject(e);
    };

    /** True while a copy from `scratch` waits for the sink: reads go to `scratch`, not to a region that is not current yet. */
    let feeding = false;
    /** Copy `data` into the sink, waiting where it asks to: undefined when done at once, else a promise. */
    const feed = (data: Buffer): Promise<void> | undefined => {
      let off = 0;
      const step = (): Promise<void> | undefined => {
        while (off < data.length && !failure) {
          const region = sink!.region();
          const n = Math.min(region.length, data.length - off);
          region.set(data.subarray(off, off + n));
          off += n;
          const wait = sink!.advance(n);
          if (wait) return wait.then(step);
        }
        return undefined;
      };
      const wait = step();
      if (!wait) return undefined;
      feeding = true;
      return wait.finally(() => {
        feeding = false;
      });
    };
    /**
     * `n` body bytes are in the sink (`wait`: what its advance() returned).
     * True when reading may go on at once; false when it paused (or ended).
     */
    const took = (n: number, wait: Promise<void> | undefined): boolean => {
      received += n;
      onProgress(n);
      const complete = received >= length;
      if (complete) {
        cleanup();
        socket.destroy();
      }
      if (!wait) {
        if (complete) bodyDone?.resolve(received);
        return !complete;
      }
      wait.then(() => {
        if (failure) return;
        if (complete) bodyDone?.resolve(received);
        else socket.resume();
      }, fail);
      return false;
    };

    const onHead = (n: number): boolean => {
      head += n;
      const end = scratch.subarray(0, head).indexOf('\r\n\r\n');
      if (end < 0) {
        if (head > MAX_HEAD) fail(new Error(`GET ${url}: the response head is larger than ${MAX_HEAD} bytes`));
        return true;
      }
      const parsed = parseHead(scratch.toString('latin1', 0, end));
      if (!parsed) {
        fail(new Error(`GET ${url}: the answer is not HTTP/1.x`));
        return false;
      }
      const len = parsed.headers['content-length'];
      const simple =
        parsed.statusCode >= 200 &&
        parsed.statusCode < 300 &&
        parsed.headers['transfer-encoding'] === undefined &&
        len !== undefined &&
        /^\d+$/.test(len);
      answered = true;
      if (timer) clearTimeout(timer);
      if (!simple) {
        cleanup();
        failure = new Error(`GET ${url}: HTTP ${parsed.statusCode} is not read here`);
        socket.destroy();
        resolve({ ...parsed, length: Number.NaN, readable: false, readBody: () => Promise.reject(failure), destroy: () => {} });
        return false;
      }
      length = Number(len);
      const rest = scratch.subarray(end + 4, head);
      early = rest.length > 0 ? Buffer.from(rest.subarray(0, Math.min(rest.length, length))) : null;
      resolve({
        statusCode: parsed.statusCode,
        headers: parsed.headers,
        length,
        readable: true,
        readBody(t, progress) {
          if (sink) return Promise.reject(new Error('readBody called twice'));
          sink = t;
          onProgress = progress;
          return new Promise<number>((res, rej) => {
            bodyDone = { resolve: res, reject: rej };
            if (failure) return rej(failure);
            const first = early;
            early = null;
            if (first ? took(first.length, feed(first)) : took(0, undefined)) socket.resume();
          });
        },
        destroy: (e) => fail(e ?? new Error('closed')),
      });
      // Nothing more is read until readBody().
      return false;
    };

    const socket: Socket = connect({
      host,
      port: Number(target.port || 80),
      onread: {
        // The head goes to `scratch`; the body straight into the sink's memory
        // (what comes before readBody, or while a copy waits, to `scratch`).
        buffer: () => (!answered ? scratch.subarray(head) : sink && !feeding ? sink.region() : scratch),
        callback(n: number, buf: Uint8Array): boolean {
          if (failure) return false;
          if (!answered) return onHead(n);
          if (!sink) return false;
          const k = Math.min(n, length - received);
          // Read into `scratch`: copy it over.
          if (buf.buffer === scratch.buffer) return took(k, feed(Buffer.from(buf.buffer, buf.byteOffset, k)));
          return took(k, sink.advance(k));
        },
      },
    });
    socket.once('connect', () => {
      connected = true;
      socket.write(request);
    });
    socket.on('error', fail);
    const ended = (): void => {
      if (!failure && !(answered && received >= length))
        fail(
          new Error(
            answered
              ? `connection closed after ${received} of ${length} bytes from ${url}`
              : `${target.host} closed the connection without an answer`,
          ),
        );
    };
    socket.on('end', ended);
    socket.on('close', ended);
  });
}
