/**
 * The agent's API over HTTPS as the host sees it through a hostfwd on
 * 127.0.0.1: a GET that trusts only the CA given (as the conductor trusts the
 * PEM it stored from agent_verify_ca), the certificate the agent served, and
 * the check that the same port gives nothing over plain HTTP.
 */
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface HttpsReply {
  status: number;
  body: string;
  /** The PEM of the certificate the server presented. */
  peerPem: string;
}

/** GET `path` from the agent on 127.0.0.1:port, trusting `ca` only (undefined: the system's CAs); the host name is checked against 127.0.0.1. */
export function httpsGet(port: number, path: string, ca: string | undefined): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', ca, timeout: 30_000 }, (res) => {
      const peer = (res.socket as TLSSocket).getPeerX509Certificate?.();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerPem: peer?.toString() ?? '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** GET /v1/status over HTTPS (trusting `ca`) until it answers. */
export async function untilHttps(port: number, ca: string, timeoutMs: number): Promise<HttpsReply> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await httpsGet(port, '/v1/status', ca);
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  throw new Error(`no HTTPS answer on port ${port} within ${timeoutMs} ms: ${String(last)}`);
}

/** Why plain HTTP to the port got no answer (a connection error or a timeout); throws if it did answer. */
export async function plainHttpFailure(port: number): Promise<string> {
  let status: number;
  try {
    status = (await fetch(`http://127.0.0.1:${port}/v1/status`, { signal: AbortSignal.timeout(30_000) })).status;
  } catch (e) {
    return String((e as Error & { cause?: unknown }).cause ?? e);
  }
  throw new Error(`plain HTTP on port ${port} answered ${status}`);
}
