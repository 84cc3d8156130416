/**
 * tinyipa's udhcpc event script, run by sh with a fake `ip` that keeps the
 * interface's IPv4 addresses in a file (add, del, flush as ip does them):
 * the effect checked is the address list the script leaves.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('./rootfs/usr/share/udhcpc/default.script', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rf-udhcpc-script-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fake ip: `ip [-4] addr add|del A/M ... dev IF` and `ip [-4] addr flush dev IF` on <dir>/addrs; the rest succeeds. */
const FAKE_IP = `#!/bin/sh
db=${JSON.stringify(join(dir, 'addrs'))}
touch "$db"
[ "$1" = -4 ] && shift
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

function event(name: string, env: Record<string, string> = {}): void {
  const r = spawnSync('sh', [SCRIPT, name], {
    env: { PATH: `${join(dir, 'bin')}:${process.env.PATH}`, UDHCPC_LEASE_DIR: dir, interface: 'rf-nosuch0', ...env },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
}
const addrs = (): string[] => readFileSync(join(dir, 'addrs'), 'utf8').split('\n').filter(Boolean);

test("udhcpc's script adds, changes and drops only its lease's address: a static address on the link stays", () => {
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
