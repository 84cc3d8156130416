import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCollectArgs } from './collect-introspection.js';

/** Every temporary directory of this file lives here and goes away after it. */
const scratch = mkdtempSync(join(tmpdir(), 'rf-agent-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Run `main.ts collect-introspection-data ARGS` in a child process; its exit code and output. */
async function runCollect(args: string[]): Promise<{ code: unknown; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'main.ts'), 'collect-introspection-data', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  return { code, out, err };
}

test('collect-introspection-data flags: IPA spellings and ours', () => {
  assert.deepEqual(parseCollectArgs(['--introspection_daemon', '--introspection_daemon_post_interval', '60', '--debug']), {
    daemon: true,
    postInterval: 60,
    rest: ['--debug'],
  });
  assert.deepEqual(parseCollectArgs(['--introspection-daemon-post-interval=5']), { daemon: false, postInterval: 5, rest: [] });
  assert.throws(() => parseCollectArgs(['--introspection-daemon-post-interval', 'x']), /positive number/);
});

test('collect-introspection-data loads every hardware manager, posts their inventory once and prints the node uuid', {
  timeout: 60_000,
}, async () => {
  const bodies: any[] = [];
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      bodies.push(JSON.parse(data));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ uuid: 'node-1' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dir = mkdtempSync(join(scratch, 'collect-'));
  writeFileSync(
    join(dir, 'cmdline'),
    `ipa-inspection-callback-url=http://127.0.0.1:${port}/v1/continue ipa-inspection-collectors=default ipa-disk-wait-attempts=1\n`,
  );
  // A site manager that outranks the generic one for the inventory (what a vendor's manager does).
  mkdirSync(join(dir, 'managers'));
  writeFileSync(
    join(dir, 'managers', 'site.mjs'),
    `let forgot = 0;
export default {
  name: 'site_manager',
  version: '2.5',
  evaluate_hardware_support: () => 3,
  // Called before each round's listing (the generic manager drops its LLDP capture there).
  forgetLldp: () => forgot++,
  list_hardware_info: () => ({ interfaces: [{ name: 'eth0', mac_address: '52:54:00:12:34:56' }], site_marker: 'from the site manager', forgot }),
};
`,
  );
  // A fixture root: the generic manager's start (md assembly, the root-disk wait) must not touch this host.
  const root = join(import.meta.dirname, '../test/fixtures/qemu-q35');
  const { code, out, err } = await runCollect([
    '--cmdline',
    join(dir, 'cmdline'),
    '--root-path',
    root,
    '--hardware-managers-dir',
    join(dir, 'managers'),
  ]);
  server.close();
  assert.equal(code, 0, err);
  assert.equal(out.trim(), 'node-1');
  assert.equal(bodies.length, 1);
  assert.equal(bodies[0].inventory?.site_marker, 'from the site manager', 'the highest-ranked manager gave the inventory');
  assert.equal(bodies[0].inventory?.forgot, 1, 'the round asked the managers to capture LLDP afresh');
  assert.deepEqual(
    bodies[0].configuration?.managers?.map((m: { name: string; version: string }) => `${m.name} ${m.version}`),
    ['site_manager 2.5', 'generic_hardware_manager 1.2'],
  );
});

test('collect-introspection-data with nowhere to post fails at once, before starting the hardware managers', {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(scratch, 'collect-none-'));
  writeFileSync(join(dir, 'cmdline'), 'ipa-disk-wait-attempts=5 ipa-hardware-initialization-delay=60\n');
  const { code, err } = await runCollect(['--cmdline', join(dir, 'cmdline'), '--root-path', dir]);
  assert.equal(code, 1, err);
  assert.match(err, /no ipa-inspection-callback-url, and ipa-use-mdns is not set/);
  assert.doesNotMatch(err, /hardware manager/, 'no manager was started');
});
