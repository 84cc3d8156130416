/**
 * LLDP off the wire, as IPA captures it, with no lldpd: the agent (agent/src/main.ts,
 * --standalone, ipa-collect-lldp=1) runs as a process inside a private network
 * namespace whose only NIC is one end of a veth pair; a python3 raw socket in a
 * second namespace sends LLDP frames from the other end, like a switch port.
 * The agent's inventory (poll.get_hardware_info through its API, asked with curl
 * inside the namespace) must show the frame's TLVs as [type, hex] pairs.
 *
 * The agent-side end is named like a VLAN (`<tag>.1`): the inventory lists NICs
 * backed by a device, bonds and VLANs, and a veth is none of those.
 * Needs root, iproute2, python3, curl and tcpdump (the ramdisk's capture tool).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { agentEntry, REPO_ROOT } from '../support/agent-process.js';
import { SANDBOX_SH } from '../support/agent-sandbox.js';

const missing = ['/usr/bin/tcpdump', '/usr/bin/python3', '/usr/bin/curl'].filter((f) => !existsSync(f));
const skip =
  process.getuid?.() !== 0 ? 'needs root' : missing.length ? `needs ${missing.join(', ')} (./ramforge doctor --for test --fix)` : false;
const tag = `rfl${process.pid % 100000}`;
const [nsAgent, nsSwitch] = [`${tag}a`, `${tag}s`];
const [ifAgent, ifSwitch] = [`${tag}.1`, `${tag}s`];
const dir = mkdtempSync(path.join(tmpdir(), 'ramforge-lldp-'));
const children: ChildProcess[] = [];

const sh = (...argv: string[]): string => {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(0) : c.once('exit', r)))));
  for (const ns of [nsAgent, nsSwitch]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
});

/** A switch port: chassis MAC, port name, TTL, port description, system name, mgmt IPv4, 802.1 PVID 100, End; padded to 60 bytes. */
const SENDER = String.raw`
import socket, struct, sys, time
def tlv(t, v): return struct.pack('!H', (t << 9) | len(v)) + v
src = bytes.fromhex('020000aabbcc')
body = (tlv(1, b'\x04' + src) + tlv(2, b'\x05Ethernet1/7') + tlv(3, b'\x00\x78') + tlv(4, b'uplink to server07')
        + tlv(5, b'switch-1') + tlv(8, bytes.fromhex('0501c0000265020000000600')) + tlv(127, bytes.fromhex('0080c2010064')) + tlv(0, b''))
frame = bytes.fromhex('0180c200000e') + src + b'\x88\xcc' + body
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
while True:
    s.send(frame)
    time.sleep(0.5)
`;

test('ipa-collect-lldp=1: the agent captures the LLDP frame a switch port sends and reports its TLVs in the inventory', {
  skip,
  timeout: 120_000,
}, async () => {
  sh('ip', 'netns', 'add', nsAgent);
  sh('ip', 'netns', 'add', nsSwitch);
  sh('ip', 'link', 'add', ifSwitch, 'netns', nsSwitch, 'type', 'veth', 'peer', 'name', ifAgent, 'netns', nsAgent);
  // A fixed MAC: the kernel gives a veth a random one, and one in 64 starts with fa:, which the
  // inventory drops as IPA does (virtual functions), so the NIC went missing now and then.
  sh('ip', '-n', nsAgent, 'link', 'set', ifAgent, 'address', '02:00:00:00:00:07');
  for (const [ns, i] of [
    [nsAgent, 'lo'],
    [nsAgent, ifAgent],
    [nsSwitch, ifSwitch],
  ] as const)
    sh('ip', '-n', ns, 'link', 'set', i, 'up');
  children.push(spawn('ip', ['netns', 'exec', nsSwitch, 'python3', '-c', SENDER, ifSwitch], { stdio: 'ignore' }));

  const port = 9999;
  const cmdline = path.join(dir, 'cmdline');
  writeFileSync(cmdline, `ipa-listen-host=127.0.0.1 ipa-listen-port=${port} ipa-collect-lldp=1 ipa-lldp-timeout=10\n`);
  const config = path.join(dir, 'agent.json');
  writeFileSync(config, '{}');
  const log = path.join(dir, 'agent.log');
  const fd = openSync(log, 'a');
  // The same disk/power sandbox as every host-side agent (agent-process.ts), here with no disk at all.
  const agent = spawn(
    'ip',
    [
      ...['netns', 'exec', nsAgent, 'unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', SANDBOX_SH, 'sandbox'],
      ...['', path.join(dir, 'power.log'), dir, process.execPath, '--import', 'tsx', agentEntry()],
      ...['--standalone', '--config', config, '--cmdline', cmdline],
    ],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', fd, fd],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', TMPDIR: tmpdir() },
    },
  );
  closeSync(fd);
  children.push(agent);
  const curl = (...args: string[]) =>
    spawnSync(
      'ip',
      ['netns', 'exec', nsAgent, 'curl', '-sS', '--max-time', '60', ...args, `http://127.0.0.1:${port}/v1/commands/?wait=true`],
      {
        encoding: 'utf8',
      },
    );
  try {
    for (let i = 0; spawnSync('ip', ['netns', 'exec', nsAgent, 'curl', '-sf', `http://127.0.0.1:${port}/v1/status`]).status !== 0; i++) {
      assert.ok(i < 240 && agent.exitCode === null, 'the agent did not answer /v1/status within 60 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const t0 = Date.now();
    const r = curl('-H', 'Content-Type: application/json', '-d', JSON.stringify({ name: 'poll.get_hardware_info', params: {} }));
    const ms = Date.now() - t0;
    const body = JSON.parse(r.stdout) as { command_status: string; command_result: { interfaces: Array<{ name: string; lldp: unknown }> } };
    assert.equal(body.command_status, 'SUCCEEDED', r.stdout);
    const nic = body.command_result.interfaces.find((i) => i.name === ifAgent);
    assert.ok(nic, `no ${ifAgent} in ${JSON.stringify(body.command_result.interfaces)}`);
    const hex = (s: string) => Buffer.from(s).toString('hex');
    assert.deepEqual(nic.lldp, [
      [1, '04020000aabbcc'],
      [2, `05${hex('Ethernet1/7')}`],
      [3, '0078'],
      [4, hex('uplink to server07')],
      [5, hex('switch-1')],
      [8, '0501c0000265020000000600'],
      [127, '0080c2010064'],
      [0, ''],
    ]);
    // One frame is enough (IPA's rule): the capture ends with the first frame, not at the 10 s timeout.
    console.log(`get_hardware_info with LLDP capture answered in ${ms} ms`);
  } catch (e) {
    console.error(readFileSync(log, 'utf8').split('\n').slice(-40).join('\n'));
    throw e;
  }
});
