/**
 * Test-only HTTP server on 127.0.0.1 serving in-memory images, with scripted
 * faults (status codes, a socket cut half-way). Used by the image tests and
 * bench/agent-image.ts; never imported by agent code.
 */
import http from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export type Fault = { status: number } | { cutAfter: number } | { stallMs: number };

export interface ServedFile {
  data?: Buffer;
  path?: string;
  faults?: Fault[];
}

export interface TestImageServer {
  url: (path: string) => string;
  files: Map<string, ServedFile>;
  /** Requests seen, as "METHOD path". */
  log: string[];
  close: () => Promise<void>;
}

export async function startImageServer(files: Record<string, ServedFile> = {}): Promise<TestImageServer> {
  const map = new Map(Object.entries(files));
  const log: string[] = [];
  const server = http.createServer((req, res) => {
    log.push(`${req.method} ${req.url}`);
    const f = map.get(req.url ?? '');
    if (!f) {
      res.writeHead(404).end('not found');
      return;
    }
    const fault = f.faults?.shift();
    if (fault && 'status' in fault) {
      res.writeHead(fault.status).end(`fault ${fault.status}`);
      return;
    }
    const size = f.data ? f.data.length : statSync(f.path!).size;
    res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
    if (fault && 'cutAfter' in fault) {
      res.write(f.data!.subarray(0, fault.cutAfter), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    if (fault && 'stallMs' in fault) {
      res.write(f.data!.subarray(0, 1024));
      setTimeout(() => res.end(f.data!.subarray(1024)), fault.stallMs);
      return;
    }
    if (f.data) res.end(f.data);
    else createReadStream(f.path!, { highWaterMark: 1 << 20 }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    files: map,
    log,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
