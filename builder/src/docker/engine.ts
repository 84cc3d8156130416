/**
 * The Docker engine, through its API (dockerode), never the `docker` CLI.
 * Where it is: DOCKER_HOST (unix://, tcp://, ssh:// as the CLI reads it),
 * else the default socket. A missing engine is a host problem the user
 * fixes (exit 2), said with the three ways out.
 */
import Docker from 'dockerode';
import { UserError } from '../errors.js';
import type { HostProbe } from '../host/tools.js';

export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** Where the engine is expected, as the user would write it. */
export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || `unix://${DEFAULT_SOCKET}`;
}

/** A client for the engine at DOCKER_HOST (or the default socket); connects lazily. */
export function engineClient(env: NodeJS.ProcessEnv = process.env): Docker {
  const host = env.DOCKER_HOST;
  if (!host) return new Docker({ socketPath: DEFAULT_SOCKET });
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) || DEFAULT_SOCKET });
  // tcp://, ssh://, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH: docker-modem reads them as the CLI does.
  return new Docker();
}

export const NO_ENGINE_HINT =
  "start a Docker engine and point DOCKER_HOST at it (e.g. Debian's docker.io: `systemctl start docker`, or a private " +
  '`dockerd --host unix:///run/ramforge-docker.sock --bridge=none --iptables=false` with DOCKER_HOST=unix:///run/ramforge-docker.sock), ' +
  'or build without an engine: set coreos.container to a `docker save` archive or an OCI image layout';

/** Why the engine does not answer, or undefined when it does. */
export async function engineProblem(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  try {
    await engineClient(env).ping();
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const what = env.DOCKER_HOST ? `DOCKER_HOST=${env.DOCKER_HOST}` : `DOCKER_HOST is unset and ${DEFAULT_SOCKET}`;
    if (code === 'ENOENT') return `no Docker engine: ${what} does not exist`;
    if (code === 'ECONNREFUSED') return `no Docker engine answers at ${what} (connection refused)`;
    if (code === 'EACCES') return `${what}: permission denied (run as root or as a member of the docker group)`;
    return `no Docker engine answers at ${what}: ${(e as Error).message}`;
  }
}

/** The pre-build check of a build that needs the engine. */
export function engineProbe(env: NodeJS.ProcessEnv = process.env): HostProbe {
  return { what: `a Docker engine answers at ${engineAddress(env)}`, check: () => engineProblem(env), hint: NO_ENGINE_HINT };
}

/** Connect and check, for library callers that skip the host check. */
export async function connectEngine(env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const problem = await engineProblem(env);
  if (problem) throw new UserError(problem, { hint: NO_ENGINE_HINT });
  return engineClient(env);
}
