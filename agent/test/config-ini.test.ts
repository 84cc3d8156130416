/** IPA's oslo.config INI files: the parser, option mapping, file order, precedence, bad files. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseOsloIni } from '../src/config-ini.js';
import { CONFIG_SOURCES, loadConfig } from '../src/config-load.js';
import { createMemoryLog } from './support/logs.js';

const base = mkdtempSync(join(tmpdir(), 'rf-config-ini-'));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A temp root with the given files (path relative to the root → content); returns the root. */
function tree(files: Record<string, string>): string {
  const root = join(base, `root${n++}`);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), content);
  }
  mkdirSync(root, { recursive: true });
  return root;
}

async function load(root: string, o: { cmdline?: string; json?: unknown; argv?: string[] } = {}) {
  const log = createMemoryLog();
  const cmdlinePath = join(root, 'cmdline');
  writeFileSync(cmdlinePath, o.cmdline ?? '');
  const configFile = join(root, 'ramforge.json');
  if (o.json !== undefined) writeFileSync(configFile, JSON.stringify(o.json));
  const config = await loadConfig({ cmdlinePath, configFile, root, log, argv: o.argv });
  return { config, log };
}

test('parseOsloIni: sections, = and :, comments, continuation lines, quotes, last assignment wins', () => {
  const r = parseOsloIni(
    [
      '# a comment',
      '; another',
      '[DEFAULT]',
      'api_url = http://a:6385 ',
      'lookup_timeout: 30',
      'inspection_collectors = default,',
      '    logs,',
      '\tpci-devices',
      '',
      'cafile = "/etc/x.crt"',
      'global_request_id = a # not a comment in oslo',
      'insecure=yes',
      'insecure = no',
      '[other]',
      'x = 1',
    ].join('\n'),
  );
  assert.ok(r.ok);
  assert.deepEqual(
    r.assignments.map((a) => [a.section, a.key, a.value, a.line]),
    [
      ['DEFAULT', 'api_url', 'http://a:6385', 4],
      ['DEFAULT', 'lookup_timeout', '30', 5],
      ['DEFAULT', 'inspection_collectors', 'default,\nlogs,\npci-devices', 6],
      ['DEFAULT', 'cafile', '/etc/x.crt', 10],
      ['DEFAULT', 'global_request_id', 'a # not a comment in oslo', 11],
      ['DEFAULT', 'insecure', 'yes', 12],
      ['DEFAULT', 'insecure', 'no', 13],
      ['other', 'x', '1', 15],
    ],
  );
});

test('parseOsloIni: syntax errors name the line', () => {
  assert.deepEqual(parseOsloIni('[DEFAULT]\napi_url\n'), { ok: false, line: 2, reason: 'not "key = value", a [section] or a comment' });
  assert.deepEqual(parseOsloIni('api_url = x\n').ok, false);
  assert.equal((parseOsloIni('[DEFAULT\n') as { line: number }).line, 1);
  assert.equal((parseOsloIni('[DEFAULT]\n  x\n') as { line: number }).line, 2);
  assert.equal((parseOsloIni('[DEFAULT]\n= 1\n') as { reason: string }).reason, 'empty option name');
});

test("IPA's option names in [DEFAULT] map onto the agent's options, with oslo's booleans and lists", async () => {
  const root = tree({
    'etc/ironic-python-agent.conf': [
      '[DEFAULT]',
      'api_url = https://ironic.example:6385/, https://ironic2.example:6385',
      'insecure = YES',
      'listen_port = 9998',
      'advertise_host = 192.0.2.10',
      'inspection_callback_url = https://ironic.example:5050/v1/continue',
      'lookup_timeout = 120',
      'inspection_collectors = default,',
      '  logs',
      'collect_lldp = 1',
      'enable_vlan_interfaces = eth0.100, all',
      'log_file = /var/log/ipa.log',
    ].join('\n'),
  });
  const { config, log } = await load(root);
  assert.deepEqual(config.apiUrl, ['https://ironic.example:6385', 'https://ironic2.example:6385']);
  assert.equal(config.insecure, true);
  assert.equal(config.listenPort, 9998);
  assert.equal(config.advertiseHost, '192.0.2.10');
  assert.deepEqual(config.inspectionCallbackUrl, ['https://ironic.example:5050/v1/continue']);
  assert.equal(config.lookupTimeout, 120);
  assert.deepEqual(config.inspectionCollectors, ['default', 'logs']);
  assert.equal(config.collectLldp, true);
  assert.deepEqual(config.enableVlanInterfaces, ['eth0.100', 'all']);
  // An option the agent does not have is ignored with a debug line, as oslo ignores it.
  assert.ok(
    log.lines.some((l) => /^DEBUG .*ironic-python-agent\.conf:12: unknown option log_file ignored/.test(l)),
    log.lines.join('\n'),
  );
});

test('the .d files are read sorted after ironic-python-agent.conf; later files win; only *.conf', async () => {
  const root = tree({
    'etc/ironic-python-agent.conf': '[DEFAULT]\nlookup_timeout = 10\nlisten_port = 1000\ninsecure = true\n',
    'etc/ironic-python-agent.d/20-b.conf': '[DEFAULT]\nlookup_timeout = 20\n',
    'etc/ironic-python-agent.d/10-a.conf': '[DEFAULT]\nlookup_timeout = 15\nlisten_port = 1001\n',
    'etc/ironic-python-agent.d/30-c.conf.disabled': '[DEFAULT]\nlookup_timeout = 99\n',
    // oslo's glob('*.conf') does not match dotfiles (an editor's or a half-copied file).
    'etc/ironic-python-agent.d/.40-d.conf': '[DEFAULT]\nlookup_timeout = 98\n',
  });
  const { config } = await load(root);
  assert.equal(config.lookupTimeout, 20);
  assert.equal(config.listenPort, 1001);
  assert.equal(config.insecure, true);
});

test('precedence: JSON file < kernel command line < INI files < flags (IPA: kernel parameters are only defaults)', async () => {
  const root = tree({ 'etc/ironic-python-agent.d/x.conf': '[DEFAULT]\nlookup_timeout = 20\nlisten_port = 2000\nlookup_interval = 5\n' });
  const { config } = await load(root, {
    json: { lookupTimeout: 10, listenPort: 1000, lookupInterval: 3, diskWaitAttempts: 4, diskWaitDelay: 8 },
    cmdline: 'ipa-listen-port=3000 ipa-lookup-interval=7 ipa-disk-wait-delay=9',
    argv: ['--listen-port', '4000'],
  });
  assert.equal(config.diskWaitAttempts, 4); // JSON only
  assert.equal(config.diskWaitDelay, 9); // command line over JSON
  assert.equal(config.lookupTimeout, 20); // INI over JSON
  assert.equal(config.lookupInterval, 5); // INI over command line (IPA: APARAMS are defaults)
  assert.equal(config.listenPort, 4000); // flag over all
  assert.equal(CONFIG_SOURCES.length, 6);
});

test('INI files beat ipa-api-url/ipa-insecure on the kernel command line; ipa-debug still beats the files (set_override)', async () => {
  const root = tree({
    'etc/ironic-python-agent.conf': '[DEFAULT]\napi_url = https://ironic.example.com:6385\ninsecure = False\ndebug = false\n',
  });
  const { config } = await load(root, { cmdline: 'ipa-api-url=http://10.0.0.1:6385 ipa-insecure=1 ipa-debug=1' });
  assert.deepEqual(config.apiUrl, ['https://ironic.example.com:6385']);
  assert.equal(config.insecure, false);
  assert.equal(config.debug, true);
  // Without ipa-debug on the command line the file's debug applies.
  const on = tree({ 'etc/ironic-python-agent.conf': '[DEFAULT]\ndebug = true\n' });
  assert.equal((await load(on)).config.debug, true);
  assert.equal((await load(on, { cmdline: 'ipa-debug=0' })).config.debug, false);
});

test("IPA's image_server_auth_strategy/user/password in [DEFAULT] are read, not dropped as unknown", async () => {
  const root = tree({
    'etc/ironic-python-agent.conf':
      '[DEFAULT]\nimage_server_auth_strategy = http_basic\nimage_server_user = ipa\nimage_server_password = s3cret\n',
  });
  const { config, log } = await load(root);
  assert.equal(config.imageServerAuthStrategy, 'http_basic');
  assert.equal(config.imageServerUser, 'ipa');
  assert.equal(config.imageServerPassword, 's3cret');
  assert.ok(!log.lines.some((l) => /unknown option/.test(l)), log.lines.join('\n'));
  assert.ok(!log.lines.some((l) => l.includes('s3cret')), 'the password is never logged');
  assert.equal((await load(tree({}))).config.imageServerAuthStrategy, 'noauth');
});

test('a malformed file is logged with file and line and ignored; the others still apply', async () => {
  const root = tree({
    'etc/ironic-python-agent.conf': '[DEFAULT]\nlookup_timeout = 42\n',
    'etc/ironic-python-agent.d/bad.conf': '[DEFAULT]\nlisten_port = 1\nthis line is wrong\n',
  });
  const { config, log } = await load(root);
  assert.equal(config.lookupTimeout, 42);
  assert.equal(config.listenPort, 9999);
  assert.ok(
    log.lines.some((l) => l.startsWith('ERROR') && l.includes('bad.conf:3:') && l.includes('ignored')),
    log.lines.join('\n'),
  );
});

test("without a caller's log, held INI-file lines reach stderr even when the load then fails", async () => {
  const root = tree({
    'etc/ironic-python-agent.d/bad.conf': '[DEFAULT]\ncafile /etc/x.crt\n',
    cmdline: '',
  });
  const written: string[] = [];
  const orig = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  }) as typeof process.stderr.write;
  try {
    await assert.rejects(
      loadConfig({ root, cmdlinePath: join(root, 'cmdline'), configFile: join(root, 'none.json'), env: { RAMFORGE_AGENT_DEBUG: 'maybe' } }),
      (e: Error & { details?: string }) => /RAMFORGE_AGENT_DEBUG/.test(`${e.message} ${e.details}`),
    );
  } finally {
    process.stderr.write = orig;
  }
  assert.ok(
    written.some((l) => l.includes('ERROR') && l.includes('bad.conf:2:')),
    written.join(''),
  );
});

test('a bad value is skipped with a warning naming file and line; the rest of the file applies', async () => {
  const root = tree({ 'etc/ironic-python-agent.conf': '[DEFAULT]\nlisten_port = many\ninsecure = maybe\nlookup_timeout = 5\n' });
  const { config, log } = await load(root);
  assert.equal(config.listenPort, 9999);
  assert.equal(config.insecure, false);
  assert.equal(config.lookupTimeout, 5);
  assert.ok(log.lines.some((l) => /^WARNING .*ironic-python-agent\.conf:2: listen_port = "many" ignored: expected a TCP port/.test(l)));
  assert.ok(log.lines.some((l) => /^WARNING .*ironic-python-agent\.conf:3: insecure/.test(l)));
});

test('absolute path options from INI files are taken under the root; --root-path picks the root', async () => {
  const root = tree({ 'etc/ironic-python-agent.d/ironic-tls.conf': '[DEFAULT]\ncafile = /etc/ironic-python-agent/ironic.crt\n' });
  const { config } = await load(root);
  assert.equal(config.cafile, join(root, 'etc/ironic-python-agent/ironic.crt'));
  const other = tree({ 'etc/ironic-python-agent.conf': '[DEFAULT]\nlookup_timeout = 77\n' });
  const viaFlag = await load(root, { argv: ['--root-path', other] });
  assert.equal(viaFlag.config.lookupTimeout, 77);
  assert.equal(viaFlag.config.cafile, undefined);
});

test('--config-file and --config-dir (oslo.config CLI) replace the default files, in the order given; a missing --config-file stops', async () => {
  const root = tree({
    'etc/ironic-python-agent.conf': '[DEFAULT]\nlookup_timeout = 1\n',
    'other/a.conf': '[DEFAULT]\nlookup_timeout = 2\nlisten_port = 2\n',
    'other/d/10.conf': '[DEFAULT]\nlisten_port = 3\n',
  });
  const { config } = await load(root, { argv: ['--config-file', join(root, 'other/a.conf'), '--config-dir', join(root, 'other/d')] });
  assert.equal(config.lookupTimeout, 2);
  assert.equal(config.listenPort, 3);
  await assert.rejects(load(root, { argv: ['--config-file', join(root, 'absent.conf')] }), (e: Error & { details?: string }) =>
    /absent\.conf/.test(`${e.message} ${e.details}`),
  );
});

test('--config-file replaces only the default file, --config-dir only the default directory (oslo _parse_config_files)', async () => {
  const root = tree({
    'etc/ironic-python-agent.conf': '[DEFAULT]\nlookup_timeout = 1\ninsecure = true\n',
    'etc/ironic-python-agent.d/10.conf': '[DEFAULT]\nlisten_port = 10\ndisk_wait_attempts = 7\n',
    'other/a.conf': '[DEFAULT]\nlookup_timeout = 2\n',
    'other/d/10.conf': '[DEFAULT]\nlisten_port = 3\n',
    'other/d/.hidden.conf': '[DEFAULT]\nlisten_port = 4\n',
  });
  const dirOnly = (await load(root, { argv: ['--config-dir', join(root, 'other/d')] })).config;
  assert.equal(dirOnly.lookupTimeout, 1); // the default file is still read
  assert.equal(dirOnly.insecure, true);
  assert.equal(dirOnly.listenPort, 3); // the given directory, without its dotfile
  assert.equal(dirOnly.diskWaitAttempts, 10); // the default directory is not read
  const fileOnly = (await load(root, { argv: ['--config-file', join(root, 'other/a.conf')] })).config;
  assert.equal(fileOnly.lookupTimeout, 2);
  assert.equal(fileOnly.insecure, false); // the default file is not read
  assert.equal(fileOnly.listenPort, 10); // the default directory still is
  await assert.rejects(load(root, { argv: ['--config-dir', join(root, 'absent.d')] }), (e: Error & { details?: string }) =>
    /absent\.d/.test(`${e.message} ${e.details}`),
  );
});
