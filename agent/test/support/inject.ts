/**
 * Requests to the agent API over a real socket: the API's request listener
 * on 127.0.0.1 (port 0), one server per API, made on first use. The server,
 * its connections and the idle keep-alive client sockets (Node's Agent does
 * that) are unref'd, so a test file ends without closing them. Host defaults
 * to localhost:80, as fastify's inject() sent it.
 */
import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentApi } from '../../src/api/app.js';

export interface InjectOptions {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS';
  url: string;
  payload?: string;
  headers?: Record<string, string>;
}

export interface InjectResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: string;
  json(): any;
}

/** By request listener: the API and its injectable() copy share one server. */
const servers = new WeakMap<AgentApi['handle'], Promise<number>>();
// Keep-alive, as the conductor's client: the agent drains a body it refused instead of resetting the connection.
const client = new Agent({ keepAlive: true });

/** The port `api` is served on (127.0.0.1), listening from now on. */
export function listeningPort(api: AgentApi): Promise<number> {
  let port = servers.get(api.handle);
  if (!port) {
    port = new Promise((resolve, reject) => {
      const server: Server = createServer(api.handle);
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
      server.unref();
      server.on('connection', (s) => s.unref());
    });
    servers.set(api.handle, port);
  }
  return port;
}

export async function inject(api: AgentApi, o: InjectOptions): Promise<InjectResponse> {
  const port = await listeningPort(api);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: o.method, path: o.url, agent: client, headers: { host: 'localhost:80', ...o.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ statusCode: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) });
        });
      },
    );
    req.on('error', reject);
    req.end(o.payload);
  });
}

/** `api` with an inject() method, for tests written against fastify's app.inject(). */
export function injectable(api: AgentApi): AgentApi & { inject(o: InjectOptions): Promise<InjectResponse> } {
  return { ...api, inject: (o) => inject(api, o) };
}
