/**
 * Put the API on a socket: plain HTTP, or HTTPS with a certificate that only
 * exists after the lookup (auto TLS); the same request listener serves both.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentConfig } from '../config.js';
import { AgentError } from '../errors.js';
import type { AgentApi } from './app.js';
import { http, https } from '../util/node-builtins.js';
import { tlsPolicyOptions } from '../util/tls-policy.js';

export interface ServerTls {
  certPem: string;
  keyPem: string;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:9999 (IPv6 in brackets). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly server: Server;
  /** Stop accepting, finish in-flight requests (closing idle keep-alive sockets). */
  close(): Promise<void>;
}

function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      server.off('listening', onListening);
      reject(e);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port });
  });
}

/** Listen on config.listenHost:listenPort ('::' falls back to 0.0.0.0 when IPv6 is off, as IPA does). */
export async function startServer(app: AgentApi, config: AgentConfig, tls?: ServerTls): Promise<RunningServer> {
  const handler = app.handle;
  const server: Server = tls
    ? (https().createServer({ cert: tls.certPem, key: tls.keyPem, ...tlsPolicyOptions() }, handler) as unknown as Server)
    : http.createServer(handler);
  // The conductor's command_timeout is 60 s; keep a little more so wait=true answers are not cut.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  let host = config.listenHost;
  try {
    await listenOn(server, host, config.listenPort);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
      host = '0.0.0.0';
      await listenOn(server, host, config.listenPort);
    } else {
      throw new AgentError(
        'Cannot start the agent API',
        `listening on ${host}:${config.listenPort} failed: ${(e as Error).message}. ` +
          'Free the port or set ipa-listen-port/ipa-listen-host.',
        500,
        { cause: e },
      );
    }
  }
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `${tls ? 'https' : 'http'}://${urlHost}:${port}`,
    host,
    port,
    server,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // A GET ?wait=true on a long command would hold close() forever: cut it after a grace period.
      const force = setTimeout(() => server.closeAllConnections(), 5_000);
      await closed;
      clearTimeout(force);
    },
  };
}
