/**
 * Shared pieces of the agent acceptance tests (agent on host, loop disk,
 * real Ironic): test images, the per-test bookkeeping of nodes and agents,
 * and the "one boot" helper that runs an agent through a wait state.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IronicEnv, IronicNode } from '../support/ironic.js';
import { startAgent, agentEntry, type AgentOptions, type AgentProcess } from '../support/agent-process.js';
import type { LoopDisk } from '../support/loopdisk.js';

export interface TestImage {
  name: string;
  url: string;
  sha256: string;
  bytes: Buffer;
}

/** Why the agent tests cannot run yet, or undefined. */
export function agentMissingReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, mount namespace)';
  if (!existsSync(agentEntry())) return `${agentEntry()} does not exist yet`;
  if (!existsSync('/usr/bin/ironic')) return 'Ironic is not installed: run ./ramforge doctor --for test --fix';
  return undefined;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * A whole-disk raw image: an MBR (msdos) label with one partition and random
 * payload. MBR, not GPT, because the agent fixes up a GPT's backup header
 * after writing, which would make a byte-for-byte comparison impossible.
 */
export function makeRawImage(env: IronicEnv, name: string, sizeMiB = 24): TestImage {
  const file = join(env.httpRoot, name);
  writeFileSync(file, Buffer.alloc(0));
  execFileSync('truncate', ['-s', `${sizeMiB}M`, file]);
  execFileSync('parted', ['-s', file, 'mklabel', 'msdos', 'mkpart', 'primary', '1MiB', '100%']);
  const bytes = readFileSync(file);
  randomBytes(sizeMiB * 1024 * 1024 - 2 * 1024 * 1024).copy(bytes, 1024 * 1024);
  writeFileSync(file, bytes);
  return { name, url: `${env.httpUrl}/${name}`, sha256: sha256(bytes), bytes };
}

/** qcow2 of a fresh raw image; `bytes` is the RAW content the disk must hold afterwards. */
export function makeQcow2Image(env: IronicEnv, name: string, sizeMiB = 24): TestImage {
  const raw = makeRawImage(env, `${name}.src.raw`, sizeMiB);
  const file = join(env.httpRoot, name);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', join(env.httpRoot, raw.name), file]);
  return { name, url: `${env.httpUrl}/${name}`, sha256: sha256(readFileSync(file)), bytes: raw.bytes };
}

/** Everything a test started, torn down in afterEach; logs printed when the test failed. */
export class TestScope {
  readonly agents: AgentProcess[] = [];
  readonly nodes: string[] = [];
  /** Temp dirs the test made (plugin dirs, boot state dirs), removed in cleanup(). */
  readonly tempDirs: string[] = [];
  constructor(
    readonly env: IronicEnv,
    readonly disk: LoopDisk,
  ) {}

  async startAgent(o: Omit<AgentOptions, 'disks'>): Promise<AgentProcess> {
    const a = await startAgent({ disks: [this.disk.device], ...o });
    this.agents.push(a);
    return a;
  }

  logs(): string {
    const parts = [this.env.logTail(80)];
    this.agents.forEach((a, i) => parts.push(`--- agent #${i} log (tail) ${a.logFile}\n${a.logTail(80)}`));
    return parts.join('\n');
  }

  async cleanup(): Promise<void> {
    for (const a of this.agents.splice(0)) {
      await a.stop().catch(() => undefined);
      a.remove();
    }
    if (!process.env.RAMFORGE_KEEP_TEST_DIRS) for (const d of this.tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
    for (const n of this.nodes.splice(0)) await this.env.deleteNode(n).catch((e) => console.error(`cleanup: ${(e as Error).message}`));
  }

  /** Enroll a node whose port is the agent's NIC and whose root device is the loop disk. */
  async enroll(
    mac: string,
    extra: { fields?: Record<string, unknown>; properties?: Record<string, unknown>; pxeEnabled?: boolean } = {},
  ): Promise<string> {
    // A null in `extra.properties` drops the default (e.g. to let inspection set cpu_arch).
    const properties = Object.fromEntries(
      Object.entries({ root_device: { name: this.disk.device }, cpu_arch: 'x86_64', ...(extra.properties ?? {}) }).filter(
        ([, v]) => v !== null,
      ),
    );
    const uuid = await this.env.enrollNode({
      mac,
      properties,
      fields: extra.fields,
      pxeEnabled: extra.pxeEnabled,
    });
    this.nodes.push(uuid);
    return uuid;
  }

  /**
   * One "boot" of the ramdisk: wait for the node to reach `waitState` (the
   * conductor "booted" it with fake power), start a fresh agent, wait for one
   * of `endStates`, stop the agent (the conductor powers the node off).
   */
  async bootAgentThrough(
    uuid: string,
    o: { waitState: string; endStates: string[]; timeoutMs: number; agent: Omit<AgentOptions, 'disks'> },
  ): Promise<IronicNode> {
    await this.env.waitForProvisionState(uuid, [o.waitState, ...o.endStates], 60_000);
    const agent = await this.startAgent(o.agent);
    try {
      return await this.env.waitForProvisionState(uuid, o.endStates, o.timeoutMs);
    } finally {
      await agent.stop();
    }
  }

  /** manage (if needed) then provide: automated cleaning through a fresh agent. */
  async cleanToAvailable(uuid: string, agent: Omit<AgentOptions, 'disks'>, timeoutMs = 300_000): Promise<IronicNode> {
    const n = await this.env.getNode(uuid);
    if (n.provision_state === 'enroll') {
      await this.env.setProvisionState(uuid, 'manage');
      await this.env.waitForProvisionState(uuid, ['manageable'], 60_000);
    }
    await this.env.setProvisionState(uuid, 'provide');
    return this.bootAgentThrough(uuid, { waitState: 'clean wait', endStates: ['available'], timeoutMs, agent });
  }
}

/** Run `body`; on failure attach the Ironic and agent log tails to the error output. */
export async function withLogs(scope: TestScope, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    console.error(scope.logs());
    throw e;
  }
}

/**
 * A custom hardware manager as an operator would drop it in the plugin
 * directory: clean steps `write_marker` (records node, ports and args) and
 * `slow_marker` (records 'started', sleeps args.seconds, records 'done').
 */
export function writeMarkerManager(scope: TestScope): { dir: string; marker: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ramforge-hwm-'));
  scope.tempDirs.push(dir);
  const marker = join(dir, 'marker.json');
  writeFileSync(
    join(dir, 'ramforge-test-manager.mjs'),
    `
import { writeFileSync } from 'node:fs';
const mark = (o) => writeFileSync(${JSON.stringify(marker)}, JSON.stringify(o));
export default class RamforgeTestHardwareManager {
  name = 'ramforge_test_hardware_manager';
  version = '1.0';
  evaluate_hardware_support() { return 3; }
  get_clean_steps() {
    return [
      { step: 'write_marker', priority: 0, interface: 'deploy', reboot_requested: false, abortable: true,
        argsinfo: { text: { description: 'text to write', required: true } } },
      { step: 'slow_marker', priority: 0, interface: 'deploy', reboot_requested: false, abortable: true,
        argsinfo: { seconds: { description: 'how long to run', required: false } } },
    ];
  }
  async write_marker(node, ports, args) {
    mark({ phase: 'done', node: node.uuid, ports: ports.length, text: args?.text ?? null });
    return { written: true };
  }
  async slow_marker(node, ports, args) {
    mark({ phase: 'started', node: node.uuid });
    await new Promise((r) => setTimeout(r, 1000 * Number(args?.seconds ?? 20)));
    mark({ phase: 'done', node: node.uuid });
    return { slept: true };
  }
}
`,
  );
  return { dir, marker };
}

/** Poll until `check` returns a value (not undefined) or time runs out. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
