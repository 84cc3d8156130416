/**
 * A small fake Ironic API for tests: GET /, GET /v1/lookup and POST
 * /v1/heartbeat/{uuid} on 127.0.0.1 (random port). It records every request
 * and answers from per-route queues, falling back to Ironic-like defaults.
 * Test-only; nothing in the agent imports it.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createDefaultConfig, type AgentConfig } from '../../src/config.js';

export type FakeRoute = 'root' | 'lookup' | 'heartbeat' | 'other';

export interface FakeReply {
  status: number;
  /** Objects are JSON-encoded; strings are sent as they are. */
  body?: unknown;
  /** Hold the answer this long (to test timeouts and stop()). */
  delayMs?: number;
}

export interface RecordedRequest {
  route: FakeRoute;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  /** Date.now() when the request arrived. */
  at: number;
}

export const FAKE_NODE_UUID = '1be26c0b-03f2-4d2e-ae87-c02d7f33c123';
export const FAKE_TOKEN = 'x'.repeat(12) + 'fake-token-of-43-characters-abc';

export interface FakeIronic {
  url: string;
  requests: RecordedRequest[];
  /** default_version.version of GET /. */
  version: string;
  /** Queue replies for a route; once drained, the default answers. */
  reply(route: FakeRoute, ...replies: FakeReply[]): void;
  requestsTo(route: FakeRoute): RecordedRequest[];
  /** Forget recorded requests and queued replies. */
  reset(): void;
  close(): Promise<void>;
}

/** Ironic's error wrapping: {"error_message": "<JSON string>"}. */
export function ironicErrorBody(faultstring: string): { error_message: string } {
  return { error_message: JSON.stringify({ faultstring, faultcode: 'Client', debuginfo: null }) };
}

function classify(method: string, path: string): FakeRoute {
  if (method === 'GET' && (path === '/' || path === '')) return 'root';
  if (method === 'GET' && path === '/v1/lookup') return 'lookup';
  if (method === 'POST' && path.startsWith('/v1/heartbeat/')) return 'heartbeat';
  return 'other';
}

function defaultReply(route: FakeRoute, version: string): FakeReply {
  switch (route) {
    case 'root':
      return {
        status: 200,
        body: { name: 'OpenStack Ironic API', default_version: { id: 'v1', version, min_version: '1.1', status: 'CURRENT' } },
      };
    case 'lookup':
      return {
        status: 200,
        body: {
          node: { uuid: FAKE_NODE_UUID, properties: {}, instance_info: {}, driver_internal_info: {} },
          config: { heartbeat_timeout: 300, agent_token: FAKE_TOKEN, agent_token_required: true },
        },
      };
    case 'heartbeat':
      return { status: 202 };
    default:
      return { status: 404, body: ironicErrorBody('Not found') };
  }
}

/** `tls`: serve HTTPS with this PEM key and certificate (the URL is then https://127.0.0.1:PORT). */
export async function startFakeIronic(
  o: { version?: string; tls?: { key: string | Buffer; cert: string | Buffer } } = {},
): Promise<FakeIronic> {
  const queues: Record<FakeRoute, FakeReply[]> = { root: [], lookup: [], heartbeat: [], other: [] };
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const fake = { version: o.version ?? '1.80' } as FakeIronic;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const route = classify(req.method ?? '', u.pathname);
      const text = Buffer.concat(chunks).toString();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        /* keep the text */
      }
      requests.push({
        route,
        method: req.method ?? '',
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body,
        at: Date.now(),
      });
      const r = queues[route].shift() ?? defaultReply(route, fake.version);
      const send = (): void => {
        if (res.destroyed) return;
        const payload = r.body === undefined ? '' : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
        res.writeHead(r.status, { 'Content-Type': 'application/json' });
        res.end(payload);
      };
      if (!r.delayMs) return send();
      const timer = setTimeout(() => {
        timers.delete(timer);
        send();
      }, r.delayMs);
      timers.add(timer);
    });
  };
  const server = o.tls ? https.createServer({ key: o.tls.key, cert: o.tls.cert }, handler) : http.createServer(handler);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(fake, {
    url: `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    reply: (route: FakeRoute, ...replies: FakeReply[]) => {
      queues[route].push(...replies);
    },
    requestsTo: (route: FakeRoute) => requests.filter((r) => r.route === route),
    reset: () => {
      requests.length = 0;
      for (const q of Object.values(queues)) q.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}

/** A 127.0.0.1 URL where nothing listens (a port just freed). */
export async function findClosedUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** A complete AgentConfig with IPA's defaults (config.ts), for tests. */
export function makeTestConfig(overrides: Partial<AgentConfig> = {}): AgentConfig {
  return { ...createDefaultConfig(), ...overrides };
}
