/**
 * The agent (agent/src/main.ts) as a child process on the HOST, for the
 * real-Ironic acceptance tests: a temp kernel command line (--cmdline) and
 * config file, the log captured to a file, readiness = GET /v1/status.
 *
 * SAFETY. The agent erases and writes disks and powers machines off, and
 * this host's root disk is a real block device. So the agent never runs
 * unconfined: it starts inside a private mount namespace (agent-sandbox.ts)
 * that shows it only the allowed loop devices, makes every other block device
 * read-only and turns poweroff/reboot into a log line (powerLog()).
 * The allowed devices are also passed as env RAMFORGE_AGENT_DISKS (comma
 * list), for an agent-side filter; the sandbox does not rely on it.
 * If the sandbox cannot be built the agent is not started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { mkdtempSync, openSync, closeSync, writeFileSync, readFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ironic-conf.js';
import { SANDBOX_SH } from './agent-sandbox.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface AgentOptions {
  /** ipa-api-url (omit for inspection-only or standalone runs). */
  apiUrl?: string;
  /** ipa-inspection-callback-url. */
  inspectionCallbackUrl?: string;
  /** The only block devices the agent may see: /dev/loopN (required, may be empty). */
  disks: string[];
  /** Listen/advertise port on 127.0.0.1 (free port by default). Keep it for a restart: the callback URL must not change in one boot. */
  port?: number;
  /** MAC for BOOTIF=01-aa-bb-... */
  bootifMac?: string;
  /** More kernel parameters (k=v). */
  cmdline?: Record<string, string>;
  /** Written as the JSON config file (--config). */
  config?: Record<string, unknown>;
  /** Directory of custom hardware managers (--hardware-managers-dir). */
  hardwareManagersDir?: string;
  /** Per-"boot" state directory (token file etc.); reuse it to simulate a restart within the same boot. */
  stateDir?: string;
  standalone?: boolean;
  debug?: boolean;
  /** Extra env for the agent. */
  env?: Record<string, string>;
  /** More agent flags, appended last (e.g. --config-file INI). */
  args?: string[];
  /** Run this argv instead of agent/src/main.ts (harness self-tests); the cmdline/config flags are appended. */
  program?: string[];
}

export interface AgentProcess {
  /** http://127.0.0.1:PORT, or https:// once the agent turned auto TLS on. */
  url: string;
  port: number;
  pid: number;
  logFile: string;
  stateDir: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  logTail(lines?: number): string;
  /** Power commands the agent ran (faked by the sandbox), e.g. ["poweroff -f"]. */
  powerLog(): string[];
  stop(): Promise<void>;
  /** Delete the temp dir (log, cmdline, default state dir) after stop(); kept when RAMFORGE_KEEP_TEST_DIRS=1. */
  remove(): void;
}

const LOOP_RE = /^\/dev\/loop\d+$/;

/** The interface the agent will report as its PXE NIC: a real (device-backed) interface with an IPv4 address. */
export function hostPxeInterface(): { name: string; mac: string } {
  for (const name of readdirSync('/sys/class/net').sort()) {
    if (!existsSync(`/sys/class/net/${name}/device`)) continue;
    const mac = readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim();
    if (mac && mac !== '00:00:00:00:00:00') return { name, mac };
  }
  throw new Error('no device-backed network interface on this host: the agent needs one to look itself up by MAC');
}

export function agentCmdline(o: AgentOptions, port: number): string {
  const p: Record<string, string> = {
    'ipa-listen-host': '127.0.0.1',
    'ipa-listen-port': String(port),
    'ipa-advertise-host': '127.0.0.1',
    'ipa-advertise-port': String(port),
    'ipa-disk-wait-attempts': '1',
    'ipa-lookup-timeout': '300',
  };
  if (o.apiUrl) p['ipa-api-url'] = o.apiUrl;
  if (o.inspectionCallbackUrl) p['ipa-inspection-callback-url'] = o.inspectionCallbackUrl;
  if (o.bootifMac) p.BOOTIF = `01-${o.bootifMac.toLowerCase().replaceAll(':', '-')}`;
  if (o.debug) p['ipa-debug'] = '1';
  Object.assign(p, o.cmdline ?? {});
  return (
    Object.entries(p)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ') + '\n'
  );
}

/**
 * The agent entry: agent/src/main.ts run with tsx, or the file named by env
 * RAMFORGE_TEST_AGENT (e.g. the esbuild bundle, run with plain node).
 */
export function agentEntry(): string {
  return resolve(process.env.RAMFORGE_TEST_AGENT || join(REPO_ROOT, 'agent/src/main.ts'));
}

function agentProgram(): string[] {
  const entry = agentEntry();
  return entry.endsWith('.ts') ? [process.execPath, '--import', 'tsx', entry] : [process.execPath, entry];
}

/**
 * Which protocol answers GET /v1/status with 200: the agent switches to
 * HTTPS by itself (auto TLS, self-signed) when Ironic's API is >= 1.68.
 */
async function probeStatus(port: number): Promise<'http' | 'https' | undefined> {
  for (const [proto, mod] of [
    ['http', http],
    ['https', https],
  ] as const) {
    const ok = await new Promise<boolean>((res) => {
      const req = mod.get({ host: '127.0.0.1', port, path: '/v1/status', timeout: 2000, rejectUnauthorized: false }, (r) => {
        r.resume();
        res(r.statusCode === 200);
      });
      req.on('error', () => res(false));
      req.on('timeout', () => {
        req.destroy();
        res(false);
      });
    });
    if (ok) return proto;
  }
  return undefined;
}

/**
 * IPA (and our inventory) never offers loop devices as disks, so a host-side
 * agent needs to be told which devices are its disks. The agreed mechanisms:
 * env RAMFORGE_AGENT_DISKS (always set) and the flag --disks, passed only
 * once the agent's flag parser knows it (it rejects unknown flags).
 */
function agentHasDisksFlag(): boolean {
  const f = join(REPO_ROOT, 'agent/src/config-load.ts');
  return existsSync(f) && readFileSync(f, 'utf8').includes("'--disks'");
}

/** Start the agent in its disk sandbox and wait until GET /v1/status answers. */
export async function startAgent(o: AgentOptions, timeoutMs = 60_000): Promise<AgentProcess> {
  for (const d of o.disks)
    if (!LOOP_RE.test(d)) throw new Error(`refusing to give ${d} to the agent: only /dev/loopN devices are allowed in host tests`);
  if (process.getuid?.() !== 0) throw new Error('the agent sandbox needs root (unshare -m, mount): run the integration tests as root');
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-agent-'));
  const stateDir = o.stateDir ?? join(dir, 'run');
  const port = o.port ?? (await freePort());
  const cmdlineFile = join(dir, 'cmdline');
  writeFileSync(cmdlineFile, agentCmdline(o, port));
  const configFile = join(dir, 'agent.json');
  // Only keys the agent knows: its config loader rejects unknown ones (a typo must not be silent).
  writeFileSync(configFile, JSON.stringify(o.config ?? {}, null, 2));
  const logFile = join(dir, 'agent.log');
  const agentArgv = [...(o.program ?? agentProgram()), '--config', configFile, '--cmdline', cmdlineFile];
  if (o.hardwareManagersDir) agentArgv.push('--hardware-managers-dir', o.hardwareManagersDir);
  if (o.standalone) agentArgv.push('--standalone');
  if (o.debug) agentArgv.push('--debug');
  if (agentHasDisksFlag()) agentArgv.push('--disks', o.disks.join(','));
  agentArgv.push(...(o.args ?? []));
  const powerLog = join(dir, 'power.log');
  const knames = o.disks.map((d) => d.slice('/dev/'.length)).join(' ');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    'unshare',
    ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', SANDBOX_SH, 'sandbox', knames, powerLog, dir, ...agentArgv],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', fd, fd],
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        LANG: 'C.UTF-8',
        RAMFORGE_AGENT_DISKS: o.disks.join(','),
        RAMFORGE_AGENT_STATE_DIR: stateDir,
        // The test run's temp dir, so its end-of-run check also sees what the agent leaves behind.
        TMPDIR: tmpdir(),
        ...(o.env ?? {}),
      },
    },
  );
  closeSync(fd);
  const exited = new Promise<number | string>((r) => child.once('exit', (code, sig) => r(code ?? sig ?? -1)));
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const kill = () => {
    if (!done) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  let url = `http://127.0.0.1:${port}`;
  const tailOf = (lines = 80) => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n') : '');

  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (done) throw new Error(`agent exited (${await exited}) before answering /v1/status; log ${logFile}:\n${tailOf()}`);
      const proto = await probeStatus(port);
      if (proto) {
        url = `${proto}://127.0.0.1:${port}`;
        break;
      }
      if (Date.now() > deadline)
        throw new Error(`agent did not answer ${url}/v1/status within ${timeoutMs} ms; log ${logFile}:\n${tailOf()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (e) {
    // The caller gets no handle to remove() it: clean up here (the error carries the log tail).
    process.removeListener('exit', kill);
    kill();
    await exited;
    if (!process.env.RAMFORGE_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    url,
    port,
    pid: child.pid!,
    logFile,
    stateDir,
    exited,
    logTail: tailOf,
    powerLog: () => (existsSync(powerLog) ? readFileSync(powerLog, 'utf8').split('\n').filter(Boolean) : []),
    async stop() {
      process.removeListener('exit', kill);
      if (done) return;
      child.kill('SIGTERM');
      const t = setTimeout(kill, 10_000);
      await exited;
      clearTimeout(t);
    },
    remove() {
      if (!done) throw new Error('agent still running: stop() it before remove()');
      if (!process.env.RAMFORGE_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
    },
  };
}
