/**
 * LLDP through a REAL lldpd: two network namespaces joined by a veth pair,
 * one lldpd on each side; the agent side asks its lldpd with lldpcli and
 * re-encodes the neighbour as IPA's [type, hex] TLV pairs. Needs root and
 * the Debian package lldpd; nothing leaves the namespaces.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { collectLldp } from '../../agent/src/hardware/inventory/lldp.js';
import { createHostAccess } from '../../agent/src/hardware/inventory/host-access.js';
import { execute } from '../../agent/src/util/exec.js';

const skip = process.getuid?.() !== 0 || !existsSync('/usr/sbin/lldpd') ? 'needs root and the lldpd package' : false;
const tag = `rf${process.pid}`;
const [nsSwitch, nsHost] = [`${tag}s`, `${tag}h`];
const dir = mkdtempSync(path.join(tmpdir(), 'ramforge-lldp-'));
// lldpcli connects after dropping to the _lldpd user: the socket's directory must be searchable.
chmodSync(dir, 0o755);
const daemons: ChildProcess[] = [];

const sh = (...argv: string[]) => {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

after(() => {
  for (const d of daemons) d.kill('SIGTERM');
  for (const ns of [nsSwitch, nsHost]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
});

test('lldpcli neighbours become LLDP TLVs', { skip, timeout: 60_000 }, async () => {
  sh('ip', 'netns', 'add', nsSwitch);
  sh('ip', 'netns', 'add', nsHost);
  sh('ip', 'link', 'add', `${tag}a`, 'type', 'veth', 'peer', 'name', `${tag}b`);
  sh('ip', 'link', 'set', `${tag}a`, 'netns', nsSwitch);
  sh('ip', 'link', 'set', `${tag}b`, 'netns', nsHost);
  sh('ip', '-n', nsSwitch, 'link', 'set', `${tag}a`, 'up');
  sh('ip', '-n', nsHost, 'link', 'set', `${tag}b`, 'up');
  sh('ip', '-n', nsSwitch, 'addr', 'add', '192.0.2.101/24', 'dev', `${tag}a`);
  const sockS = path.join(dir, 's.sock');
  const sockH = path.join(dir, 'h.sock');
  daemons.push(spawn('ip', ['netns', 'exec', nsSwitch, 'lldpd', '-d', '-u', sockS, '-I', `${tag}a`], { stdio: 'ignore' }));
  daemons.push(spawn('ip', ['netns', 'exec', nsHost, 'lldpd', '-d', '-u', sockH, '-I', `${tag}b`], { stdio: 'ignore' }));
  const cli = (ns: string, sock: string, ...args: string[]) =>
    spawnSync('ip', ['netns', 'exec', ns, 'lldpcli', '-u', sock, ...args], { encoding: 'utf8' });
  for (let i = 0; i < 50 && cli(nsSwitch, sockS, 'show', 'chassis').status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  cli(nsSwitch, sockS, 'configure', 'system', 'hostname', 'switch-1');
  cli(nsSwitch, sockS, 'configure', 'ports', `${tag}a`, 'lldp', 'portdescription', 'uplink to server07');
  cli(nsSwitch, sockS, 'configure', 'lldp', 'tx-interval', '1');

  // The agent's view: its lldpcli runs in the host namespace against that namespace's lldpd.
  const host = createHostAccess({
    run: (argv, o) => execute(['ip', 'netns', 'exec', nsHost, argv[0]!, '-u', sockH, ...argv.slice(1)], o),
  });
  let tlvs: Array<[number, string]> | undefined;
  for (let i = 0; i < 100; i++) {
    tlvs = (await collectLldp(host))?.get(`${tag}b`);
    if (tlvs?.some(([t, v]) => t === 5 && v === Buffer.from('switch-1').toString('hex')) && tlvs.some(([t]) => t === 4)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(
    tlvs,
    `no neighbour seen by lldpd within 20 s: ${JSON.stringify(cli(nsHost, sockH, '-f', 'json', 'show', 'neighbors', 'details'))}`,
  );
  const mac = sh('ip', '-n', nsSwitch, '-j', 'link', 'show', `${tag}a`).match(/"address":"([0-9a-f:]+)"/)![1]!;
  const byType = (t: number) => tlvs!.filter(([x]) => x === t).map(([, v]) => v);
  assert.deepEqual(byType(1), [`04${mac.replace(/:/g, '')}`]); // chassis id: MAC subtype
  assert.equal(byType(2).length, 1);
  assert.equal(byType(4)[0], Buffer.from('uplink to server07').toString('hex'));
  assert.equal(byType(5)[0], Buffer.from('switch-1').toString('hex'));
  assert.ok(
    byType(8).some((v) => v.startsWith('0501c0000265')),
    `mgmt address 192.0.2.101 in ${JSON.stringify(byType(8))}`,
  );
  assert.equal(byType(3).length, 1);
});
