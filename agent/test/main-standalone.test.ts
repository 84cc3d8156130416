/**
 * The real process: `node --import tsx agent/src/main.ts --standalone` on
 * 127.0.0.1, probed with curl; SIGTERM exits 0; a bad parameter exits 2 with
 * a message. Standalone never talks to Ironic, so nothing leaves loopback.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Every temporary directory of this file lives here and goes away after it. */
const scratch = mkdtempSync(join(tmpdir(), 'rf-agent-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = join(ROOT, 'agent/src/main.ts');

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });
}

async function curl(url: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('curl', ['-sS', '--max-time', '5', ...args, url]);
  return stdout;
}

test('main --standalone serves /v1/status on 127.0.0.1, loads custom managers, exits 0 on SIGTERM', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(scratch, 'main-'));
  const port = await freePort();
  writeFileSync(join(dir, 'cmdline'), `ipa-listen-host=127.0.0.1 ipa-listen-port=${port} ipa-disk-wait-attempts=1\n`);
  writeFileSync(join(dir, 'agent.json'), '{}');
  const hwm = join(dir, 'hwm');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(hwm);
  writeFileSync(
    join(hwm, 'extra.mjs'),
    `export default { className: 'ExtraManager', name: 'extra', version: '9.9',
    evaluate_hardware_support: () => 2, get_clean_steps: () => [{ step: 'extra_step', priority: 1, interface: 'deploy', reboot_requested: false }],
    extra_step: async () => 'extra ran' };`,
  );
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      '--standalone',
      '--cmdline',
      join(dir, 'cmdline'),
      '--config',
      join(dir, 'agent.json'),
      '--hardware-managers-dir',
      hwm,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RAMFORGE_AGENT_STATE_DIR: join(dir, 'run') } },
  );
  let log = '';
  child.stdout.on('data', (d) => {
    log += d;
  });
  child.stderr.on('data', (d) => {
    log += d;
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    let status: string | undefined;
    while (Date.now() - started < 60_000) {
      try {
        status = await curl(`http://127.0.0.1:${port}/v1/status`);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const readyMs = Date.now() - started;
    assert.ok(status, `agent never answered; log:\n${log}`);
    const doc = JSON.parse(status!);
    assert.equal(doc.version, '10.0.0+ramforge');
    assert.equal(typeof doc.started_at, 'number');
    process.stderr.write(`main --standalone ready in ${readyMs} ms\n`);

    const steps = JSON.parse(
      await curl(
        `http://127.0.0.1:${port}/v1/commands/?wait=true`,
        '-X',
        'POST',
        '-H',
        'Content-Type: application/json',
        '-d',
        JSON.stringify({ name: 'clean.get_clean_steps', params: { node: {}, ports: [] } }),
      ),
    );
    assert.deepEqual(steps.command_result.hardware_manager_version, { extra: '9.9', generic_hardware_manager: '1.2' });
    const ran = JSON.parse(
      await curl(
        `http://127.0.0.1:${port}/v1/commands/?wait=true`,
        '-X',
        'POST',
        '-d',
        JSON.stringify({
          name: 'clean.execute_clean_step',
          params: { step: { step: 'extra_step' }, node: {}, ports: [], clean_version: steps.command_result.hardware_manager_version },
        }),
      ),
    );
    assert.deepEqual(ran.command_result, { clean_result: 'extra ran', clean_step: { step: 'extra_step' } });
    const bad = JSON.parse(await curl(`http://127.0.0.1:${port}/v1/commands/`, '-X', 'POST', '-d', '{oops'));
    assert.equal(bad.faultcode, 'Client');
    assert.ok(await curl(`http://127.0.0.1:${port}/v1/status`));
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, log);
  assert.match(log, /SIGTERM: shutting down/);
});

test('main with an invalid kernel parameter exits 2 with a message naming it', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(scratch, 'main-'));
  writeFileSync(join(dir, 'cmdline'), 'ipa-listen-port=notaport\n');
  const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', MAIN, '--standalone', '--cmdline', join(dir, 'cmdline')], {
    cwd: ROOT,
  }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /ipa-listen-port: invalid value "notaport"/);
});
