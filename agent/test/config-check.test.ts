/** `--check-config FILE`: unknown keys with a did-you-mean, wrong types with the path and the expected type, exit codes. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkConfigFile, checkConfigMain } from '../src/config-check.js';
import { loadConfig } from '../src/config-load.js';
import { ConfigError } from '../src/errors.js';

const MAIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'agent/src/main.ts');
const dir = mkdtempSync(join(tmpdir(), 'rf-config-check-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: unknown): string {
  const p = join(dir, `c${n++}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

test('a valid file, camelCase and IPA snake_case keys, lenient forms the loader accepts: no problem, exit 0', async () => {
  const f = file({
    apiUrl: ['http://10.0.0.1:6385'],
    inspection_callback_url: 'http://i:5050/v1/continue,mdns',
    listenPort: 9998,
    debug: 'yes',
    insecure: false,
    lookup_timeout: '120',
    ironicApiVersion: '1.68',
    advertise_protocol: 'https',
    hardwareManagerPackages: ['@site/hwm'],
    disk_erasure_concurrency: 2,
  });
  assert.deepEqual(await checkConfigFile(f), []);
  const lines: string[] = [];
  assert.equal(await checkConfigMain(['--check-config', f], (l) => lines.push(l)), 0);
  assert.deepEqual(lines, [`${f}: ok`]);
  // What passes the check loads.
  const c = await loadConfig({ configFile: f, cmdlinePath: join(dir, 'no-cmdline') });
  assert.equal(c.lookupTimeout, 120);
  assert.deepEqual(c.inspectionCallbackUrl, ['http://i:5050/v1/continue', 'mdns']);
});

test('unknown keys name the key and suggest the known one, in the spelling used', async () => {
  const f = file({ listenPrt: 1, api_ur: ['http://a:6385'], frobnicate: true });
  assert.deepEqual(await checkConfigFile(f), [
    `${f}: listenPrt: unknown option (did you mean "listenPort"?)`,
    `${f}: api_ur: unknown option (did you mean "api_url"?)`,
    `${f}: frobnicate: unknown option: not an agent option (see README.md, "The agent")`,
  ]);
});

test('wrong types give the path and the expected type, one line per problem', async () => {
  const f = file({
    listenPort: 'abc',
    apiUrl: ['http://a:6385', 5, 'ftp://x'],
    debug: 3,
    advertiseProtocol: 'gopher',
    hardwareManagerPackages: { a: 1 },
    ironic_api_version: 'latest',
    diskWaitAttempts: 1.5,
    listenHost: '',
  });
  assert.deepEqual(await checkConfigFile(f), [
    `${f}: listenPort: expected a TCP port number 0-65535, got "abc"`,
    `${f}: apiUrl[1]: expected an http(s):// URL or "mdns", got 5`,
    `${f}: debug: expected a boolean (true/false; as a string also 1/0, yes/no, on/off), got 3`,
    `${f}: advertiseProtocol: expected "http" or "https", got "gopher"`,
    `${f}: hardwareManagerPackages: expected a list of strings (a JSON array, or one comma-separated string), got {"a":1}`,
    `${f}: ironic_api_version: expected an Ironic API microversion like "1.68", got "latest"`,
    `${f}: diskWaitAttempts: expected a non-negative whole number, got 1.5`,
    `${f}: listenHost: expected a non-empty string, got ""`,
  ]);
  // The loader refuses the same file, naming the first problem.
  await assert.rejects(
    loadConfig({ configFile: f, cmdlinePath: join(dir, 'no-cmdline') }),
    (e: unknown) => e instanceof ConfigError && /listenPort: unknown|listenPort: expected a TCP port/.test(e.details),
  );
});

test('an option given twice, not an object, not JSON, unreadable', async () => {
  const twice = file({ api_url: ['http://a:6385'], apiUrl: ['http://b:6385'] });
  assert.deepEqual(await checkConfigFile(twice), [`${twice}: apiUrl: the same option as "api_url": give it once`]);
  const arr = file([1]);
  assert.deepEqual(await checkConfigFile(arr), [
    `${arr}: expected a JSON object of agent options, e.g. {"apiUrl": ["http://ironic:6385"]}`,
  ]);
  const bad = file('{"apiUrl": ');
  assert.match((await checkConfigFile(bad))[0]!, /: not valid JSON \(/);
  assert.match((await checkConfigFile(join(dir, 'missing.json')))[0]!, /missing\.json: cannot read the file: ENOENT/);
  const lines: string[] = [];
  assert.equal(await checkConfigMain(['--check-config'], (l) => lines.push(l)), 2);
  assert.match(lines[0]!, /^usage: /);
});

test('through the agent entry: exit 2 with one line per problem on stderr, exit 0 when valid', { timeout: 60_000 }, async () => {
  const run = (...args: string[]) =>
    new Promise<{ code: number; stderr: string; stdout: string }>((res) => {
      execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], (e, stdout, stderr) =>
        res({ code: e ? Number(e.code) : 0, stdout, stderr }),
      );
    });
  const bad = file({ listenPrt: 1, debug: 'maybe' });
  const r = await run('--check-config', bad);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.deepEqual(r.stderr.trim().split('\n'), [
    `${bad}: listenPrt: unknown option (did you mean "listenPort"?)`,
    `${bad}: debug: expected a boolean (true/false; as a string also 1/0, yes/no, on/off), got "maybe"`,
  ]);
  const good = file({ apiUrl: ['http://a:6385'] });
  const ok = await run(`--check-config=${good}`);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr.trim(), `${good}: ok`);
});

test('--check-config on an IPA INI file (*.conf): syntax errors, bad values, unknown options and other sections, with lines', async () => {
  const conf = (text: string): string => {
    const p = join(dir, `c${n++}.conf`);
    writeFileSync(p, text);
    return p;
  };
  const good = conf('[DEFAULT]\n# Ironic writes this one\ncafile = /etc/ironic-python-agent/ironic.crt\ninsecure = no\n');
  assert.deepEqual(await checkConfigFile(good), []);
  const bad = conf('[DEFAULT]\nlisten_port = many\nlisten_prot = 1\n[ssl]\ncert_file = x\n');
  assert.deepEqual(await checkConfigFile(bad), [
    `${bad}:2: listen_port = "many" (ignored at boot): expected a TCP port number 0-65535`,
    `${bad}:3: unknown option listen_prot (ignored at boot)`,
    `${bad}:5: [ssl] cert_file (ignored at boot) (the agent reads [DEFAULT] only)`,
  ]);
  const broken = conf('[DEFAULT]\napi_url\n');
  assert.deepEqual(await checkConfigFile(broken), [`${broken}:2: not "key = value", a [section] or a comment`]);
  const lines: string[] = [];
  assert.equal(await checkConfigMain(['--check-config', good], (l) => lines.push(l)), 0);
});
