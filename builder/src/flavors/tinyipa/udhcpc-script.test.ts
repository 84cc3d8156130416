/**
 * tinyipa's udhcpc event script, run by sh with a fake `ip` that keeps the
 * interface's IPv4 addresses and default routes in files (add, del, flush as
 * ip and the kernel do them): the effect checked is the address list, the
 * route table and the resolv.conf the script leaves.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./rootfs/usr/share/udhcpc/default.script', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rf-udhcpc-script-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A fake ip: `ip [-4] addr add|del A/M ... dev IF` and `ip [-4] addr flush dev IF` on <dir>/addrs;
 * `ip -4 route add default via GW dev IF metric M` and `ip -4 route del default dev IF` on <dir>/routes, one
 * "default via GW dev IF metric M" line each: as the kernel, a second default route at a metric is refused
 * (File exists) and a del removes one route; the rest succeeds.
 */
const FAKE_IP = `#!/bin/sh
db=${JSON.stringify(join(dir, 'addrs'))}
routes=${JSON.stringify(join(dir, 'routes'))}
touch "$db" "$routes"
[ "$1" = -4 ] && shift
if [ "$1" = route ]; then
  [ "$3" = default ] || exit 0
  case "$2" in
    add)
      grep -q " metric $9$" "$routes" && { echo 'RTNETLINK answers: File exists' >&2; exit 2; }
      echo "default via $5 dev $7 metric $9" >> "$routes" ;;
    del)
      grep -q "^default via [^ ]* dev $5 " "$routes" || { echo 'RTNETLINK answers: No such process' >&2; exit 2; }
      awk -v dev="$5" 'done || $5 != dev { print; next } { done = 1 }' "$routes" > "$routes.new"; mv "$routes.new" "$routes" ;;
  esac
  exit 0
fi
[ "$1" = addr ] || exit 0
case "$2" in
  add) grep -qx "$3" "$db" && { echo 'RTNETLINK answers: File exists' >&2; exit 2; }; echo "$3" >> "$db" ;;
  del) grep -qx "$3" "$db" || { echo 'RTNETLINK answers: Cannot assign requested address' >&2; exit 2; }; grep -vx "$3" "$db" > "$db.new"; mv "$db.new" "$db" ;;
  flush) : > "$db" ;;
esac
exit 0
`;
mkdirSync(join(dir, 'bin'));
writeFileSync(join(dir, 'bin/ip'), FAKE_IP);
chmodSync(join(dir, 'bin/ip'), 0o755);
mkdirSync(join(dir, 'etc'));
const RESOLV = join(dir, 'etc/resolv.conf');
const STATIC_DEFAULTS = join(dir, 'static-default-routes');
const RESCUED = join(dir, 'etc/.rescued');

function event(name: string, env: Record<string, string> = {}): void {
  const r = spawnSync('sh', [SCRIPT, name], {
    env: {
      PATH: `${join(dir, 'bin')}:${process.env.PATH}`,
      UDHCPC_LEASE_DIR: dir,
      RAMFORGE_RESOLV: RESOLV,
      RAMFORGE_STATIC_DEFAULTS: STATIC_DEFAULTS,
      RAMFORGE_RESCUED: RESCUED,
      interface: 'rf-nosuch0',
      ...env,
    },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
}
const addrs = (): string[] => readFileSync(join(dir, 'addrs'), 'utf8').split('\n').filter(Boolean);
const routes = (): string[] => readFileSync(join(dir, 'routes'), 'utf8').split('\n').filter(Boolean);
/** A clean slate: no address, no route, no lease, no resolv.conf, no marker. */
function reset(): void {
  for (const f of ['addrs', 'routes', 'udhcpc.rf-nosuch0.lease', 'udhcpc.rf-nosuch1.lease', 'static-default-routes'])
    rmSync(join(dir, f), { force: true });
  rmSync(join(dir, 'etc'), { recursive: true, force: true });
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'addrs'), '');
  writeFileSync(join(dir, 'routes'), '');
}

test("udhcpc's script adds, changes and drops only its lease's address: a static address on the link stays", () => {
  reset();
  // The agent's static address from network_data.json, on a link that has an ipv4_dhcp network too.
  writeFileSync(join(dir, 'addrs'), '192.0.2.10/24\n');
  event('deconfig');
  assert.deepEqual(addrs(), ['192.0.2.10/24']);
  event('renew', { ip: '10.0.3.15', mask: '24' });
  assert.deepEqual(addrs(), ['192.0.2.10/24', '10.0.3.15/24']);
  // The same lease renewed: nothing changes.
  event('renew', { ip: '10.0.3.15', mask: '24' });
  assert.deepEqual(addrs(), ['192.0.2.10/24', '10.0.3.15/24']);
  // Another address: the old lease's goes.
  event('renew', { ip: '10.0.3.16', mask: '24' });
  assert.deepEqual(addrs(), ['192.0.2.10/24', '10.0.3.16/24']);
  // The lease ends.
  event('deconfig');
  assert.deepEqual(addrs(), ['192.0.2.10/24']);
});

test("udhcpc's script: a static default route from network_data.json (the agent's list) stays; the lease's router only where the link has none", () => {
  reset();
  // The agent's configuration from network_data.json: a static address and default route on rf-nosuch0, listed for the script.
  writeFileSync(join(dir, 'addrs'), '192.0.2.10/24\n');
  writeFileSync(join(dir, 'routes'), 'default via 192.0.2.1 dev rf-nosuch0 metric 0\n');
  writeFileSync(STATIC_DEFAULTS, 'rf-nosuch0 192.0.2.1\n');
  const STATIC = ['default via 192.0.2.1 dev rf-nosuch0 metric 0'];
  event('renew', { ip: '10.0.3.15', mask: '24', router: '10.0.3.2' });
  assert.deepEqual(routes(), STATIC, "the lease's router does not replace the static default route");
  assert.deepEqual(addrs(), ['192.0.2.10/24', '10.0.3.15/24'], "the lease's address is added");
  event('renew', { ip: '10.0.3.15', mask: '24', router: '10.0.3.2 10.0.3.3' });
  assert.deepEqual(routes(), STATIC, 'nor do several routers');
  // Another link, not in the list: its lease's routers are added as before; the kernel keeps the static default
  // at metric 0 (a second one there is refused), a further router comes after it.
  event('renew', { interface: 'rf-nosuch1', ip: '10.0.4.15', mask: '24', router: '10.0.4.2' });
  assert.deepEqual(routes(), STATIC);
  event('renew', { interface: 'rf-nosuch1', ip: '10.0.4.15', mask: '24', router: '10.0.4.2 10.0.4.3' });
  assert.deepEqual(routes(), [...STATIC, 'default via 10.0.4.3 dev rf-nosuch1 metric 1']);

  // The list names links exactly: a VLAN rf-nosuch0.100 listed does not cover rf-nosuch0, whose lease then
  // replaces the default route on it (what it did for every link before the list).
  reset();
  writeFileSync(join(dir, 'routes'), 'default via 192.0.2.1 dev rf-nosuch0 metric 0\n');
  writeFileSync(STATIC_DEFAULTS, 'rf-nosuch0.100 192.0.2.1\n');
  event('renew', { ip: '10.0.3.15', mask: '24', router: '10.0.3.2' });
  assert.deepEqual(routes(), ['default via 10.0.3.2 dev rf-nosuch0 metric 0']);
  // No list at all (no static default route, or no network_data.json): the same.
  reset();
  writeFileSync(join(dir, 'routes'), 'default via 10.0.3.9 dev rf-nosuch0 metric 0\n');
  event('renew', { ip: '10.0.3.15', mask: '24', router: '10.0.3.2' });
  assert.deepEqual(routes(), ['default via 10.0.3.2 dev rf-nosuch0 metric 0']);
});

test("udhcpc's script: the agent's resolv.conf from network_data.json stays beside a lease; after a rescue a lease's DNS servers replace it", () => {
  reset();
  const AGENT = '# written by the ramforge agent from network_data.json\nnameserver 192.0.2.53\n';
  writeFileSync(RESOLV, AGENT);
  event('renew', { ip: '10.0.3.15', mask: '24', dns: '10.0.3.3' });
  assert.equal(readFileSync(RESOLV, 'utf8'), AGENT, 'before the rescue the document wins');
  assert.equal(readFileSync(`${RESOLV}.rf-nosuch0`, 'utf8'), 'nameserver 10.0.3.3\n');
  // rescue.finalize_rescue wrote the marker; the hand-over restarts DHCP on the tenant network.
  writeFileSync(RESCUED, '');
  event('renew', { ip: '10.0.9.15', mask: '24' });
  assert.equal(readFileSync(RESOLV, 'utf8'), AGENT, 'a lease without DNS servers has nothing to replace it with');
  event('renew', { ip: '10.0.9.15', mask: '24', dns: '10.0.9.3 10.0.9.4', domain: 'tenant.example' });
  assert.equal(readFileSync(RESOLV, 'utf8'), 'search tenant.example\nnameserver 10.0.9.3\nnameserver 10.0.9.4\n');

  // A resolv.conf the agent did not write: a lease's DNS servers replace it, before a rescue as after (as without
  // network_data.json); a lease without any leaves it alone.
  reset();
  writeFileSync(RESOLV, 'nameserver 198.51.100.1\n');
  event('renew', { ip: '10.0.3.15', mask: '24' });
  assert.equal(readFileSync(RESOLV, 'utf8'), 'nameserver 198.51.100.1\n');
  event('renew', { ip: '10.0.3.15', mask: '24', dns: '10.0.3.3' });
  assert.equal(readFileSync(RESOLV, 'utf8'), 'nameserver 10.0.3.3\n');
  assert.ok(!existsSync(RESCUED));
});
