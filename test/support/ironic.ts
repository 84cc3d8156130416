/**
 * A REAL OpenStack Ironic (Zed 21.4, all-in-one: API + conductor, no broker,
 * SQLite, noauth) and optionally Ironic Inspector 11.1, started from the
 * Debian packages for the agent's acceptance tests. The configuration is the
 * one measured in /work/shared/reference/real-ironic.md; everything listens on
 * 127.0.0.1 only. Logs go to files under the run directory and their tails are
 * available for failure messages (logTail()).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, closeSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, renderIronicConf, renderInspectorConf, startFileServer, type FileServer } from './ironic-conf.js';

/** Why a test that boots a VM against the real Ironic cannot run here (root, the Ironic package), or false. */
export function vmIronicSkip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!existsSync('/usr/bin/ironic')) return 'Ironic is not installed: run ./ramforge doctor --for test --fix';
  return false;
}

export interface IronicOptions {
  /** Also run ironic-inspector and let nodes use inspect_interface=inspector. */
  inspector?: boolean;
  /** Ports on 127.0.0.1; free ports by default so parallel test processes never collide. */
  apiPort?: number;
  inspectorPort?: number;
  httpPort?: number;
  /** [agent]require_tls: false as in Zed's default. */
  requireTls?: boolean;
  /** Extra ironic.conf text, passed as a second --config-file (later values win). */
  extraConf?: string;
}

export interface IronicNode {
  uuid: string;
  name: string | null;
  provision_state: string;
  target_provision_state: string | null;
  last_error: string | null;
  properties: Record<string, unknown>;
  instance_info: Record<string, unknown>;
  driver_info: Record<string, unknown>;
  driver_internal_info: Record<string, unknown>;
  [k: string]: unknown;
}

export interface ApiReply {
  status: number;
  body: any;
}

export interface EnrollOptions {
  mac: string;
  name?: string;
  properties?: Record<string, unknown>;
  driverInfo?: Record<string, unknown>;
  /** Other node fields, e.g. {inspect_interface: 'inspector'}. */
  fields?: Record<string, unknown>;
  /** The port's pxe_enabled (default true). */
  pxeEnabled?: boolean;
}

/** Where a running Ironic answers: what ironic-launcher.ts hands to the test processes of a run. */
export interface IronicEndpoints {
  apiUrl: string;
  inspectorUrl: string | undefined;
  /** Base URL of the image server (http_root), e.g. http://127.0.0.1:PORT. */
  httpUrl: string;
  /** Directory served at httpUrl. */
  httpRoot: string;
  /** Holds the configuration, the databases and the logs (ironic.log, inspector.log). */
  rundir: string;
}

export interface IronicEnv extends IronicEndpoints {
  api(method: string, path: string, body?: unknown): Promise<ApiReply>;
  inspectorApi(method: string, path: string, body?: unknown): Promise<ApiReply>;
  enrollNode(o: EnrollOptions): Promise<string>;
  getNode(uuid: string): Promise<IronicNode>;
  deleteNode(uuid: string): Promise<void>;
  setProvisionState(uuid: string, target: string, extra?: Record<string, unknown>): Promise<void>;
  /** Polls until the node is in one of `states`; throws with last_error on a *failed state not wanted, or on timeout. */
  waitForProvisionState(uuid: string, states: string[], timeoutMs: number): Promise<IronicNode>;
  startInspection(uuid: string): Promise<void>;
  inspectorStatus(uuid: string): Promise<ApiReply>;
  /** Tails of ironic.log and inspector.log, for failure messages. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
  /** Stops and starts the Ironic process (same database, same ports). */
  restart(): Promise<void>;
}

const PY_ENV = {
  // python3 on PATH may be another interpreter: the /usr/bin scripts pin /usr/bin/python3,
  // and PYTHON* variables from the caller must not leak into it.
  PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
};
const VERSION_HEADER = { 'X-OpenStack-Ironic-API-Version': 'latest' };
const FAILED_STATES = ['clean failed', 'deploy failed', 'inspect failed', 'error', 'rescue failed', 'adopt failed'];

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function runPython(argv: string[], logFile: string): void {
  const fd = openSync(logFile, 'a');
  try {
    const r = spawnSync(argv[0]!, argv.slice(1), { env: PY_ENV, stdio: ['ignore', fd, fd], timeout: 120_000 });
    if (r.status !== 0) {
      throw new Error(`${argv.join(' ')} failed (exit ${r.status ?? r.signal}); log ${logFile}:\n${tail(logFile, 40)}`);
    }
  } finally {
    closeSync(fd);
  }
}

function startService(argv: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(argv[0]!, argv.slice(1), { env: PY_ENV, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

async function stopService(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return `(${file} missing)`;
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

async function request(base: string, method: string, path: string, body?: unknown): Promise<ApiReply> {
  const res = await fetch(base + path, {
    method,
    headers: { ...VERSION_HEADER, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what}: the process exited with ${child.exitCode}; log ${log}:\n${tail(log, 60)}`);
    try {
      if (await check()) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs} ms; log ${log}:\n${tail(log, 60)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Start Ironic (and Inspector): conf, dbsync, services, readiness checks. */
export async function startIronic(o: IronicOptions = {}): Promise<IronicEnv> {
  for (const bin of ['/usr/bin/ironic', '/usr/bin/ironic-dbsync', ...(o.inspector ? ['/usr/bin/ironic-inspector'] : [])]) {
    if (!existsSync(bin))
      throw new Error(
        `${bin} is missing: run ./ramforge doctor --for test --fix (Debian packages ironic-api ironic-conductor python3-ironic ironic-inspector)`,
      );
  }
  const rundir = mkdtempSync(join(tmpdir(), 'ramforge-ironic-'));
  let files: FileServer | undefined;
  let inspector: ChildProcess | undefined;
  let ironic: ChildProcess | undefined;
  const stopAll = async () => {
    await Promise.all([stopService(ironic), stopService(inspector)]);
    await files?.close();
    // Logs were printed by the failing test already; RAMFORGE_KEEP_TEST_DIRS=1 keeps them for a post-mortem.
    if (!process.env.RAMFORGE_KEEP_TEST_DIRS) rmSync(rundir, { recursive: true, force: true });
  };
  try {
    return await startIn(
      rundir,
      o,
      (f, i, a) => {
        files = f;
        inspector = i;
        ironic = a;
      },
      stopAll,
    );
  } catch (e) {
    await stopAll();
    throw e;
  }
}

async function startIn(
  rundir: string,
  o: IronicOptions,
  started: (files: FileServer, inspector: ChildProcess | undefined, ironic: ChildProcess | undefined) => void,
  stopAll: () => Promise<void>,
): Promise<IronicEnv> {
  const httpRoot = join(rundir, 'httpboot');
  for (const d of ['var/lock', 'var/tftpboot', 'httpboot']) mkdirSync(join(rundir, d), { recursive: true });
  const apiPort = o.apiPort ?? (await freePort());
  const inspectorPort = o.inspector ? (o.inspectorPort ?? (await freePort())) : undefined;
  const files: FileServer = await startFileServer(httpRoot, o.httpPort ?? 0);
  started(files, undefined, undefined);
  const ports = { apiPort, inspectorPort, httpPort: files.port };
  const ironicConf = join(rundir, 'ironic.conf');
  const extraConf = join(rundir, 'extra.conf');
  writeFileSync(ironicConf, renderIronicConf(rundir, ports, o.requireTls ?? false));
  writeFileSync(extraConf, o.extraConf ?? '');
  const ironicLog = join(rundir, 'ironic.log');
  const inspectorLog = join(rundir, 'inspector.log');
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const inspectorUrl = inspectorPort ? `http://127.0.0.1:${inspectorPort}` : undefined;

  runPython(['/usr/bin/ironic-dbsync', '--config-file', ironicConf, 'create_schema'], join(rundir, 'dbsync.log'));
  let inspector: ChildProcess | undefined;
  if (inspectorPort) {
    const conf = join(rundir, 'inspector.conf');
    writeFileSync(conf, renderInspectorConf(rundir, ports));
    runPython(['/usr/bin/ironic-inspector-dbsync', '--config-file', conf, 'upgrade'], join(rundir, 'dbsync.log'));
    inspector = startService(['/usr/bin/ironic-inspector', '--config-file', conf], inspectorLog);
    started(files, inspector, undefined);
  }

  let ironic: ChildProcess;
  const startApi = async () => {
    ironic = startService(['/usr/bin/ironic', '--config-file', ironicConf, '--config-file', extraConf], ironicLog);
    started(files, inspector, ironic);
    await waitFor('Ironic API', async () => (await request(apiUrl, 'GET', '/v1')).status === 200, 60_000, ironic, ironicLog);
    // The conductor registers its drivers a moment after the API answers.
    await waitFor(
      'Ironic conductor (fake-hardware driver)',
      async () => {
        const r = await request(apiUrl, 'GET', '/v1/drivers');
        return r.status === 200 && JSON.stringify(r.body).includes('"fake-hardware"');
      },
      60_000,
      ironic,
      ironicLog,
    );
  };
  await startApi();
  if (inspector && inspectorUrl) {
    await waitFor(
      'Ironic Inspector',
      async () => (await request(inspectorUrl, 'GET', '/v1')).status === 200,
      60_000,
      inspector,
      inspectorLog,
    );
  }

  const endpoints: IronicEndpoints = { apiUrl, inspectorUrl, httpUrl: `http://127.0.0.1:${files.port}`, httpRoot, rundir };
  return clientFor(endpoints, {
    stop: stopAll,
    async restart() {
      await stopService(ironic);
      await startApi();
    },
  });
}

/** The API helpers over a running Ironic; `control` stops or restarts it (when this process owns it). */
function clientFor(urls: IronicEndpoints, control: Pick<IronicEnv, 'stop' | 'restart'>): IronicEnv {
  const { apiUrl, inspectorUrl, rundir } = urls;
  const ironicLog = join(rundir, 'ironic.log');
  const inspectorLog = join(rundir, 'inspector.log');
  const env: IronicEnv = {
    ...urls,
    ...control,
    api: (m, p, b) => request(apiUrl, m, p, b),
    inspectorApi: (m, p, b) => {
      if (!inspectorUrl) throw new Error('Inspector not started: call startIronic({ inspector: true })');
      return request(inspectorUrl, m, p, b);
    },
    async enrollNode(e) {
      const node = await env.api('POST', '/v1/nodes', {
        driver: 'fake-hardware',
        deploy_interface: 'direct',
        ...(e.name ? { name: e.name } : {}),
        properties: e.properties ?? {},
        driver_info: e.driverInfo ?? {},
        ...(e.fields ?? {}),
      });
      if (node.status !== 201) throw new Error(`enrolling a node failed: HTTP ${node.status} ${JSON.stringify(node.body)}`);
      const uuid = node.body.uuid as string;
      const port = await env.api('POST', '/v1/ports', { address: e.mac, node_uuid: uuid, pxe_enabled: e.pxeEnabled ?? true });
      if (port.status !== 201)
        throw new Error(
          `creating port ${e.mac} failed: HTTP ${port.status} ${JSON.stringify(port.body)} (a MAC is unique per Ironic: delete the previous node)`,
        );
      return uuid;
    },
    async getNode(uuid) {
      const r = await env.api('GET', `/v1/nodes/${uuid}`);
      if (r.status !== 200) throw new Error(`GET node ${uuid}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      return r.body as IronicNode;
    },
    async deleteNode(uuid) {
      const n = await env.getNode(uuid).catch(() => undefined);
      if (!n) return;
      // Only enroll/manageable/available nodes can be deleted as they are; maintenance allows the rest.
      if (!['enroll', 'manageable', 'available'].includes(n.provision_state)) {
        await env.api('PATCH', `/v1/nodes/${uuid}`, [{ op: 'replace', path: '/maintenance', value: true }]);
      }
      const r = await env.api('DELETE', `/v1/nodes/${uuid}`);
      if (r.status !== 204)
        throw new Error(`deleting node ${uuid}: HTTP ${r.status} ${JSON.stringify(r.body)} (state ${n.provision_state})`);
    },
    async setProvisionState(uuid, target, extra = {}) {
      const r = await env.api('PUT', `/v1/nodes/${uuid}/states/provision`, { target, ...extra });
      if (r.status !== 202) throw new Error(`provision state '${target}' on ${uuid}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    },
    async waitForProvisionState(uuid, states, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let n = await env.getNode(uuid);
      for (;;) {
        if (states.includes(n.provision_state)) return n;
        if (FAILED_STATES.includes(n.provision_state)) {
          throw new Error(`node ${uuid} went to '${n.provision_state}' (wanted ${states.join('|')}): last_error: ${n.last_error}`);
        }
        if (Date.now() > deadline) {
          throw new Error(
            `node ${uuid} still '${n.provision_state}' (target ${n.target_provision_state}) after ${timeoutMs} ms (wanted ${states.join('|')}); last_error: ${n.last_error}`,
          );
        }
        await new Promise((r) => setTimeout(r, 1000));
        n = await env.getNode(uuid);
      }
    },
    startInspection: (uuid) => env.setProvisionState(uuid, 'inspect'),
    inspectorStatus: (uuid) => env.inspectorApi('GET', `/v1/introspection/${uuid}`),
    logTail(lines = 60) {
      let s = `--- ironic.log (tail) ${ironicLog}\n${tail(ironicLog, lines)}`;
      if (inspectorUrl) s += `\n--- inspector.log (tail) ${inspectorLog}\n${tail(inspectorLog, lines)}`;
      return s;
    },
  };
  return env;
}

let shared: Promise<IronicEnv> | undefined;

/**
 * One Ironic (+ Inspector) for the whole test run: scripts/test.sh starts it
 * once (ironic-launcher.ts) and names its endpoints file in RAMFORGE_TEST_IRONIC;
 * every test file attaches to it. Without that variable (a file run on its
 * own) the first call starts one for this process. Call stopSharedIronic() in
 * an after() hook; it stops only an Ironic this process started. A test that
 * restarts Ironic takes a private one (startIronic()).
 */
export function sharedIronic(): Promise<IronicEnv> {
  const endpoints = process.env.RAMFORGE_TEST_IRONIC;
  shared ??= endpoints ? Promise.resolve(attachIronic(endpoints)) : startIronic({ inspector: true });
  return shared;
}

function attachIronic(endpointsFile: string): IronicEnv {
  const urls = JSON.parse(readFileSync(endpointsFile, 'utf8')) as IronicEndpoints;
  return clientFor(urls, {
    // The launcher owns it and stops it at the end of the run.
    async stop() {},
    async restart() {
      throw new Error('the shared Ironic of this run cannot be restarted from one test file: use startIronic() for a private one');
    },
  });
}

export async function stopSharedIronic(): Promise<void> {
  if (!shared) return;
  const p = shared;
  shared = undefined;
  await (await p.catch(() => undefined))?.stop();
}
