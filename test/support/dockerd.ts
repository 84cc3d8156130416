/**
 * A private Docker engine for one test run (or one benchmark): Debian's
 * dockerd with its own config file, data root, exec root, socket and pid
 * file, all under one directory; no bridge, no iptables, no IP forwarding
 * or masquerading, so the host's network and firewall stay as they were.
 * It never talks to, stops or reuses a system daemon: the socket it
 * returns is its own, and `stop()` ends only the processes it started
 * (dockerd and the containerd dockerd spawned, whose pid file is under our
 * exec root).
 *
 * overlay2 is tried first; when the data root's filesystem cannot hold
 * overlay2 (dockerd exits saying so), vfs (plain copies, slower) is used.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type StorageDriver = 'overlay2' | 'vfs';

export interface PrivateDockerd {
  /** `unix://<dir>/docker.sock`, for DOCKER_HOST. */
  host: string;
  socket: string;
  dir: string;
  driver: StorageDriver;
  pid: number;
  /** The daemon's log so far (for a failing test's message). */
  log(): string;
  /** Stop dockerd and its containerd, unmount what they left, remove the directory (unless it was given). */
  stop(): Promise<void>;
}

export interface StartDockerdOptions {
  /**
   * A directory to keep between runs (the engine's layer cache, e.g. the
   * benchmark's warm build). Default: a fresh temp dir, removed by stop().
   */
  dir?: string;
  /** Default: overlay2, falling back to vfs. */
  driver?: StorageDriver;
  /** How long to wait for the engine to answer (default 60 s: the first start on a slow disk). */
  readyTimeoutMs?: number;
}

/** The argv that starts the private engine under `dir` (pure: unit-tested). */
export function dockerdArgv(dir: string, driver: StorageDriver): string[] {
  return [
    'dockerd',
    '--config-file',
    join(dir, 'daemon.json'),
    '--host',
    `unix://${join(dir, 'docker.sock')}`,
    '--data-root',
    join(dir, 'data'),
    '--exec-root',
    join(dir, 'exec'),
    '--pidfile',
    join(dir, 'dockerd.pid'),
    '--storage-driver',
    driver,
    // No docker0 bridge and no firewall or sysctl changes on the host; builds use networkmode host.
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--ip-forward=false',
    '--ip-masq=false',
    '--log-level=warn',
  ];
}

/**
 * The daemon configuration: dockerd 20.10 otherwise writes its identity key
 * to /etc/docker/key.json, outside our directory (the key path has no flag,
 * only this hidden configuration key).
 */
export function daemonConfig(dir: string): string {
  return `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }, null, 2)}\n`;
}

export async function startDockerd(opts: StartDockerdOptions = {}): Promise<PrivateDockerd> {
  if (process.getuid?.() !== 0) throw new Error('a private dockerd needs root: run the integration tests as root');
  const own = opts.dir === undefined;
  // Short: containerd's sockets live under the exec root and a socket path is limited to 107 bytes.
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'dkr-'));
  mkdirSync(dir, { recursive: true });
  try {
    clearStalePidfiles(dir);
    writeFileSync(join(dir, 'daemon.json'), daemonConfig(dir));
    const drivers: StorageDriver[] = opts.driver ? [opts.driver] : ['overlay2', 'vfs'];
    let lastError: Error | undefined;
    for (const driver of drivers) {
      try {
        return await launch(dir, own, driver, opts.readyTimeoutMs ?? 60_000);
      } catch (e) {
        lastError = e as Error;
        if (!/overlay|driver not supported|backing file system/i.test(lastError.message)) break;
      }
    }
    throw lastError ?? new Error('dockerd did not start');
  } catch (e) {
    if (own && !process.env.RAMFORGE_KEEP_TEST_DIRS) removeDir(dir);
    throw e;
  }
}

async function launch(dir: string, own: boolean, driver: StorageDriver, readyTimeoutMs: number): Promise<PrivateDockerd> {
  const socket = join(dir, 'docker.sock');
  const logFile = join(dir, `dockerd-${driver}.log`);
  const fd = openSync(logFile, 'w');
  const argv = dockerdArgv(dir, driver);
  let child: ChildProcess;
  try {
    child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ['ignore', fd, fd],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    });
  } finally {
    closeSync(fd);
  }
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    });
    child.once('error', (e) => {
      exited = `could not start dockerd: ${e.message} (install Debian's docker.io)`;
      resolve();
    });
  });

  const stop = async (): Promise<void> => {
    if (exited === undefined && child.pid) {
      child.kill('SIGTERM');
      await Promise.race([exit, sleep(20_000)]);
      if (exited === undefined) {
        child.kill('SIGKILL');
        await exit;
      }
    }
    // dockerd stops the containerd it started; after a SIGKILL that one may still run.
    await killOwnContainerd(dir);
    unmountBelow(dir);
    if (own && !process.env.RAMFORGE_KEEP_TEST_DIRS) removeDir(dir);
    else rmSync(socket, { force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  while (!(await ping(socket))) {
    if (exited !== undefined || Date.now() > deadline) {
      const why = exited ?? `did not answer on ${socket} within ${readyTimeoutMs / 1000} s`;
      const tail = log().trim().split('\n').slice(-15).join('\n');
      await stop().catch(() => undefined);
      throw new Error(`private dockerd (${driver}) ${why}:\n${tail}`);
    }
    await sleep(100);
  }
  return { host: `unix://${socket}`, socket, dir, driver, pid: child.pid as number, log, stop };
}

/** GET /_ping on the socket: true when the engine answers OK. */
export function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(socket)) return resolve(false);
    const req = request({ socketPath: socket, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/**
 * After a crash (the test process killed, the machine rebooted) the pid
 * files of a kept directory point at processes that are gone, and
 * dockerd's containerd refuses to start while its pid file names a live
 * pid (which may by now be an unrelated process). Remove pid files whose
 * process is not running; refuse when it is a daemon still running on
 * this directory (never kill what this run did not start).
 */
export function clearStalePidfiles(dir: string): void {
  for (const file of [join(dir, 'dockerd.pid'), join(dir, 'exec', 'containerd', 'containerd.pid')]) {
    const pid = readPid(file);
    if (pid === undefined) continue;
    if (processUsesDir(pid, dir))
      throw new Error(`${file}: process ${pid} still runs on ${dir}; stop it (or use another directory) before starting a new engine`);
    rmSync(file, { force: true });
  }
}

function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

/** True when `pid` is alive and its command line names `dir` (dockerd/containerd of that directory). */
function processUsesDir(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .some((a) => a.includes(dir));
  } catch {
    return false;
  }
}

async function killOwnContainerd(dir: string): Promise<void> {
  const file = join(dir, 'exec', 'containerd', 'containerd.pid');
  const pid = readPid(file);
  if (!pid || !processUsesDir(pid, dir)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && processUsesDir(pid, dir); i++) await sleep(100);
  if (processUsesDir(pid, dir)) process.kill(pid, 'SIGKILL');
}

/** Mount points at or below `dir` (deepest first), from /proc/self/mountinfo. */
export function mountsBelow(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const path = mp.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (path === dir || path.startsWith(`${dir}/`)) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

function unmountBelow(dir: string): void {
  for (const mp of mountsBelow(dir)) {
    // Lazy: a mount dockerd failed to release (after a SIGKILL) goes away once nothing uses it.
    spawnSyncQuiet('umount', ['-l', mp]);
  }
}

function removeDir(dir: string): void {
  unmountBelow(dir);
  rmSync(dir, { recursive: true, force: true });
}

function spawnSyncQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
