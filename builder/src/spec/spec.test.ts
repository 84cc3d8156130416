import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpecError, UserError } from '../errors.js';
import { loadSpec, validateSpec } from './load.js';
import { DEFAULT_EPOCH, DEFAULT_NODE_VERSION } from './normalize.js';
import { renderJsonSchema, SCHEMA_PATH } from './write-json-schema.js';
import { toSpecPath } from './validate.js';

const cwd = '/tmp';
function issues(raw: unknown, overrides?: Record<string, unknown>) {
  try {
    validateSpec(raw, { cwd, overrides, env: {} });
  } catch (e) {
    if (e instanceof SpecError) return e.issues;
    throw e;
  }
  return [];
}

test('defaults build the standard tinyipa ramdisk', () => {
  const { spec } = validateSpec({}, { cwd, env: {} });
  assert.equal(spec.flavor, 'tinyipa');
  assert.equal(spec.name, 'tinyipa');
  assert.ok(spec.flavor === 'tinyipa');
  assert.equal(spec.tinyipa.kernel.package, 'linux-image-cloud-amd64', 'tinyipa is for CI and VMs');
  assert.deepEqual(spec.tinyipa.kernel.modules, ['virtio', 'net', 'net-extra', 'storage', 'fs', 'usb', 'ipmi', 'raid']);
  assert.equal(spec.compression, 'zstd', 'the kernel unpacks zstd about three times faster than xz');
  assert.deepEqual(spec.tinyipa.node, { version: DEFAULT_NODE_VERSION, strip: true, icu: 'small', exports: 'c' });
  assert.deepEqual(spec.iso, { enabled: true, label: 'VMEDIA_BOOT_ISO', append: '', secureBoot: 'auto' });
  assert.deepEqual(spec.ssh, { authorizedKeys: [] });
  assert.equal(spec.iso.enabled, true);
  assert.equal(spec.console, false);
  assert.equal(spec.sourceDateEpoch, DEFAULT_EPOCH);
});

test('SOURCE_DATE_EPOCH is honoured, the spec wins over it', () => {
  assert.equal(validateSpec({}, { cwd, env: { SOURCE_DATE_EPOCH: '1234' } }).spec.sourceDateEpoch, 1234);
  assert.equal(validateSpec({ sourceDateEpoch: 99 }, { cwd, env: { SOURCE_DATE_EPOCH: '1234' } }).spec.sourceDateEpoch, 99);
  // Set but not whole seconds: an error naming it, not a build with the default date. Empty is unset.
  for (const bad of ['2026-01-01', '1.5', '-1', '99999999999999'])
    assert.throws(
      () => validateSpec({}, { cwd, env: { SOURCE_DATE_EPOCH: bad } }),
      (e: unknown) => e instanceof UserError && e.message.includes(`SOURCE_DATE_EPOCH '${bad}'`),
    );
  assert.equal(validateSpec({}, { cwd, env: { SOURCE_DATE_EPOCH: '' } }).spec.sourceDateEpoch, 1767225600);
});

test('unknown keys are rejected with a suggestion', () => {
  const [i] = issues({ flavr: 'tinyipa' });
  assert.equal(i?.path, 'flavr');
  assert.match(i!.message, /unknown key/);
  assert.match(i!.fix!, /did you mean 'flavor'/);
});

test('an unknown flavor names the known ones', () => {
  const [i] = issues({ flavor: 'tinyipaa' });
  assert.equal(i?.path, 'flavor');
  assert.match(i!.message, /tinyipa, dib, coreos/);
  assert.match(i!.fix!, /did you mean 'tinyipa'/);
});

test('wrong types name the path and the expected type', () => {
  const list = issues({ tinyipa: { kernel: { package: 3, modules: ['net', 'nett'] } }, console: 'yes' });
  const byPath = Object.fromEntries(list.map((i) => [i.path, i]));
  assert.match(byPath['tinyipa.kernel.package']!.message, /expected a string, got integer/);
  assert.match(byPath['tinyipa.kernel.modules[1]']!.fix!, /did you mean 'net'/);
  assert.match(byPath['console']!.message, /expected a boolean, got string/);
});

test('union fields explain against the matching shape', () => {
  const [i] = issues({ iso: { lable: 'X' } });
  assert.equal(i?.path, 'iso.lable');
  assert.match(i!.fix!, /did you mean 'label'/);
});

test('flags override the spec and are validated the same way', () => {
  const { spec } = validateSpec(
    { compression: 'xz', tinyipa: { packages: ['lldpd'] } },
    { cwd, env: {}, overrides: { compression: 'gzip', tinyipa: { kernel: { package: 'linux-image-amd64' } } } },
  );
  assert.equal(spec.compression, 'gzip');
  assert.ok(spec.flavor === 'tinyipa');
  assert.equal(spec.tinyipa.kernel.package, 'linux-image-amd64');
  assert.deepEqual(spec.tinyipa.packages, ['lldpd'], 'objects merge');
  assert.equal(issues({}, { compression: 'lz4' })[0]?.path, 'compression');
});

test('files need exactly one of src and content, and src must exist', () => {
  const list = issues({ files: [{ dest: '/etc/a' }, { dest: '/etc/b', src: 'nope-does-not-exist' }, { dest: 'relative', content: 'x' }] });
  const paths = list.map((i) => i.path);
  assert.ok(paths.includes('files[2].dest'), paths.join());
  // schema errors come first; the rule errors appear once the schema passes
  const rules = issues({ files: [{ dest: '/etc/a' }, { dest: '/etc/b', src: 'nope-does-not-exist' }] });
  assert.deepEqual(
    rules.map((i) => i.path),
    ['files[0]', 'files[1].src'],
  );
});

test("a bad value from a flag is reported as the command line's, not the spec file's", () => {
  const fail = (raw: unknown, overrides: Record<string, unknown>): SpecError => {
    try {
      validateSpec(raw, { cwd, file: join(cwd, 's.yaml'), overrides, env: {} });
    } catch (e) {
      if (e instanceof SpecError) return e;
      throw e;
    }
    throw new Error('no SpecError');
  };
  assert.match(fail({ name: 'x' }, { compression: 'zst' }).message, /^command line: compression: /);
  // --flavor dib --kernel K: the tinyipa section came from the flag.
  assert.equal(
    fail({}, { flavor: 'dib', tinyipa: { kernel: { package: 'linux-image-amd64' } } }).message,
    "command line: --kernel: applies only to flavor tinyipa, but this build's flavor is 'dib' (drop --kernel, or build with --flavor tinyipa)",
  );
  assert.match(
    fail({}, { dib: { elements: ['e'], elementsPath: ['/x'] } }).message,
    /^command line: --element, --elements-path: apply only to flavor dib/,
  );
  // The spec wrote the section too: its own mistake is named, not only the flag.
  assert.match(
    fail({ tinyipa: { packages: ['htop'] } }, { flavor: 'dib', tinyipa: { kernel: { package: 'linux-image-amd64' } } }).message,
    /^command line: tinyipa: is the tinyipa flavor's section/,
  );
  // The spec file's own mistake still names the file.
  assert.match(fail({ compression: 'zst' }, {}).message, new RegExp(`^${join(cwd, 's.yaml')}: compression: `));
  // A missing file given by a flag: relative to the current directory, not the spec.
  const missing = fail({}, { ssh: { authorizedKeys: ['/nope/id.pub'] } }).issues[0]!;
  assert.equal(missing.fromFlags, true);
  assert.doesNotMatch(missing.fix ?? '', /spec file/);
});

test('iso.signing: a missing key or certificate stops the build before it starts, naming the field', () => {
  const list = issues({ iso: { signing: { key: 'nope-site.key', cert: 'nope-site.crt' } } });
  assert.deepEqual(
    list.map((i) => i.path),
    ['iso.signing.key', 'iso.signing.cert'],
  );
  assert.match(list[0]!.message, /nope-site\.key does not exist/);
});

test('every flavor the spec knows is accepted by the rules (none is still refused as not implemented)', () => {
  for (const flavor of ['tinyipa', 'dib', 'coreos']) {
    const list = issues({ flavor });
    assert.ok(!list.some((i) => i.path === 'flavor'), `${flavor}: ${list.map((i) => i.message).join('; ')}`);
  }
});

test('keys that moved into the flavor section are refused with their new place', () => {
  const list = issues({
    kernel: { package: 'linux-image-amd64', cmdline: 'quiet' },
    packages: ['lldpd'],
    node: { version: '22.1.0' },
    debian: { suite: 'bookworm' },
  });
  const byPath = Object.fromEntries(list.map((i) => [i.path, i.message]));
  assert.deepEqual(byPath, {
    'kernel.cmdline': 'moved to cmdline',
    kernel: 'moved to tinyipa.kernel',
    packages: 'moved to tinyipa.packages',
    node: 'moved to tinyipa.node',
    debian: 'moved to tinyipa.debian',
  });
  // A kernel: holding only cmdline names only cmdline.
  assert.deepEqual(
    issues({ kernel: { cmdline: 'quiet' } }).map((i) => i.path),
    ['kernel.cmdline'],
  );
});

test('a section of another flavor is refused', () => {
  const [i] = issues({ flavor: 'tinyipa', dib: {} });
  assert.equal(i?.path, 'dib');
  assert.match(i!.fix!, /remove it, or set flavor: dib/);
});

test('ssh.authorizedKeys: key lines and files are read and checked at build time', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spec-ssh-'));
  try {
    const key = `ssh-ed25519 ${ed25519Blob()} me@host`;
    writeFileSync(join(dir, 'ops.pub'), `# ops\n\n${key}\n`);
    writeFileSync(join(dir, 'bad.pub'), `${key}\nhello world\n`);
    const { spec } = validateSpec({ ssh: { authorizedKeys: [key, 'ops.pub'] } }, { cwd: dir, env: {} });
    assert.deepEqual(spec.ssh.authorizedKeys, [key, key]);
    const list = issues2(dir, {
      ssh: { authorizedKeys: ['ssh-ed25519 AAAAC3NzaC1yc2E=', 'bad.pub', 'nope.pub', '-----BEGIN OPENSSH PRIVATE KEY-----'] },
    });
    assert.deepEqual(
      list.map((i) => i.path),
      ['ssh.authorizedKeys[0]', 'ssh.authorizedKeys[1]', 'ssh.authorizedKeys[2]', 'ssh.authorizedKeys[3]'],
    );
    assert.match(list[0]!.message, /not a ssh-ed25519 key/);
    assert.match(list[1]!.message, /bad\.pub line 2: not a public key/);
    assert.match(list[2]!.message, /neither a public key nor a file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function ed25519Blob(): string {
  const type = Buffer.from('ssh-ed25519');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(type.length);
  const klen = Buffer.alloc(4);
  klen.writeUInt32BE(32);
  return Buffer.concat([head, type, klen, Buffer.alloc(32, 7)]).toString('base64');
}

function issues2(dir: string, raw: unknown) {
  try {
    validateSpec(raw, { cwd: dir, env: {} });
  } catch (e) {
    if (e instanceof SpecError) return e.issues;
    throw e;
  }
  return [];
}

test('YAML errors carry line and column; the file is named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'bad.yaml');
  writeFileSync(f, 'name: a\nname: b\n');
  await assert.rejects(loadSpec({ file: f, cwd: dir }), (e: unknown) => e instanceof SpecError && /bad\.yaml: line 2/.test(e.message));
  // The position once, not again at the end of the parser's message.
  writeFileSync(f, 'name: a: b\n');
  await assert.rejects(loadSpec({ file: f, cwd: dir }), (e: unknown) => {
    assert.ok(e instanceof SpecError);
    assert.equal((e.message.match(/line 1, column/g) ?? []).length, 1, e.message);
    assert.doesNotMatch(e.message, /: \(fix/);
    return true;
  });
  // A mode written 0644 is the decimal 644 in YAML 1.2 (01204): refused by path, 0o644 and '0644' are fine.
  writeFileSync(
    f,
    "files:\n  - content: hi\n    dest: /etc/a\n    mode: 0644\n  - content: hi\n    dest: /etc/b\n    mode: 0o644\n  - content: hi\n    dest: /etc/c\n    mode: '0644'\n",
  );
  await assert.rejects(loadSpec({ file: f, cwd: dir }), (e: unknown) => {
    assert.ok(e instanceof SpecError);
    assert.deepEqual(
      e.issues.map((i) => i.path),
      ['files[0].mode'],
    );
    assert.match(
      e.message,
      /0644 is the decimal number 644 in YAML, not octal \(for an octal mode write 0o644 \(or quote it: '0644'\); for the decimal number write 644\)/,
    );
    return true;
  });
  // A %YAML 1.1 document reads 0644 as octal, as its writer meant: accepted.
  writeFileSync(f, '%YAML 1.1\n---\nfiles:\n  - content: hi\n    dest: /etc/a\n    mode: 0600\n');
  assert.equal((await loadSpec({ file: f, cwd: dir })).spec.files[0]?.mode, 0o600);
  writeFileSync(f, "files:\n  - content: hi\n    dest: /etc/b\n    mode: 0o644\n  - content: hi\n    dest: /etc/c\n    mode: '0644'\n");
  const modes = (await loadSpec({ file: f, cwd: dir })).spec.files.map((x) => x.mode);
  assert.deepEqual(modes, [0o644, 0o644]);
  writeFileSync(f, 'files:\n  - dest: /etc/motd\n    src: motd\n');
  writeFileSync(join(dir, 'motd'), 'hi');
  const { spec } = await loadSpec({ file: f, cwd: '/' });
  assert.equal(spec.files[0]?.src, join(dir, 'motd'), 'src is relative to the spec file');
});

test('the JSON Schema file is current (npm run schema regenerates it)', () => {
  assert.equal(readFileSync(SCHEMA_PATH, 'utf8'), renderJsonSchema());
});

test('spec paths render like the YAML', () => {
  assert.equal(toSpecPath('/outputs/1/format'), 'outputs[1].format');
  assert.equal(toSpecPath('/a'), 'a');
});

test('examples/tinyipa.yaml is the default build written out', async () => {
  const example = await loadSpec({ file: new URL('../../../examples/tinyipa.yaml', import.meta.url).pathname, cwd, env: {} });
  assert.deepEqual(example.spec, validateSpec({}, { cwd, env: {} }).spec);
});

test("agent.config is checked by the agent's own loader: a typo names the path and the fix", () => {
  const found = issues({ agent: { config: { listenPrt: 9999, apiUrl: ['http://ironic.example:6385', 5], debug: true } } });
  assert.deepEqual(found, [
    { path: 'agent.config.listenPrt', message: 'unknown option', fix: 'did you mean "listenPort"?' },
    { path: 'agent.config.apiUrl[1]', message: 'expected an http(s):// URL or "mdns", got 5' },
  ]);
  assert.deepEqual(
    issues({ agent: { config: { api_url: 'http://ironic.example:6385', debug: true } } }),
    [],
    "IPA's snake_case names are valid",
  );
});

test('checked before the build starts: CA files hold certificates only, no .. in image paths, ISO kernel arguments, the date range', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spec-ca-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=site-ca',
        '-days',
        '1',
        '-keyout',
        join(dir, 'ca.key'),
        '-out',
        join(dir, 'ca.pem'),
      ],
      { stdio: 'ignore' },
    );
    const pem = readFileSync(join(dir, 'ca.pem'), 'utf8');
    writeFileSync(join(dir, 'bundle.pem'), pem + pem);
    writeFileSync(join(dir, 'with-key.pem'), pem + readFileSync(join(dir, 'ca.key'), 'utf8'));
    writeFileSync(join(dir, 'der.crt'), Buffer.from([0x30, 0x82, 0x01, 0x0a]));
    writeFileSync(join(dir, 'broken.pem'), pem.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAA'));
    const ca = (f: string) => issues2(dir, { agent: { caCertificates: [f] } });
    assert.deepEqual(ca('bundle.pem'), []);
    assert.match(ca('with-key.pem')[0]?.message ?? '', /holds a private key/);
    assert.match(ca('der.crt')[0]?.message ?? '', /holds no PEM certificate/);
    assert.match(ca('der.crt')[0]?.fix ?? '', /openssl x509 -inform der/);
    assert.match(ca('broken.pem')[0]?.message ?? '', /certificate 1 of .* does not parse/);

    const dest = issues2(dir, { files: [{ content: 'x', dest: '/etc/../../x' }] });
    assert.deepEqual(
      dest.map((i) => i.path),
      ['files[0].dest'],
    );
    // Each half fits, the two joined (what the ISO's entries carry) do not.
    const long = issues2(dir, { cmdline: `a=${'x'.repeat(1000)}`, iso: { append: `b=${'y'.repeat(900)}` } });
    assert.deepEqual(
      long.map((i) => i.path),
      ['cmdline, iso.append'],
    );
    assert.match(long[0]!.message, /limit is 1900/);
    assert.deepEqual(
      issues2(dir, { tarballs: [{ src: 'bundle.pem', dest: '/opt/../etc' }] }).map((i) => i.path),
      ['tarballs[0].dest'],
    );
    const args = issues2(dir, { cmdline: 'console=ttyS0 foo="a b"', iso: { append: 'a\tb' } });
    assert.deepEqual(
      args.map((i) => i.path),
      ['cmdline', 'iso.append'],
    );
    assert.deepEqual(issues2(dir, { cmdline: 'foo="a b"', iso: false }), [], 'no ISO: its boot-entry rules do not apply');
    assert.match(issues2(dir, { sourceDateEpoch: 4294967296 })[0]?.path ?? '', /sourceDateEpoch/);
    assert.deepEqual(issues2(dir, { sourceDateEpoch: 4294967295 }), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ssh.authorizedKeys: real keys of every common type pass; a cut line, a bare type and a private key file fail once each', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spec-keys-'));
  try {
    const lines: string[] = [];
    for (const [t, bits] of [
      ['ed25519', ''],
      ['rsa', '2048'],
      ['ecdsa', '256'],
      ['ecdsa', '384'],
      ['ecdsa', '521'],
    ] as const) {
      const f = join(dir, `k-${t}${bits}`);
      execFileSync('ssh-keygen', ['-q', '-t', t, ...(bits ? ['-b', bits] : []), '-N', '', '-C', 'me@host', '-f', f]);
      lines.push(readFileSync(`${f}.pub`, 'utf8').trim());
    }
    assert.deepEqual(issues2(dir, { ssh: { authorizedKeys: lines } }), []);
    const [type, blob] = lines[0]!.split(' ') as [string, string];
    const cut = issues2(dir, { ssh: { authorizedKeys: [`${type} ${blob.slice(0, 50)}`, 'ssh-rsa AAAAB3NzaC1yc2E', 'k-ed25519'] } });
    assert.deepEqual(
      cut.map((i) => i.path),
      ['ssh.authorizedKeys[0]', 'ssh.authorizedKeys[1]', 'ssh.authorizedKeys[2]'],
    );
    assert.match(cut[0]!.message, /truncated or damaged/);
    assert.match(cut[1]!.message, /truncated or damaged/);
    assert.match(cut[2]!.message, /is a private key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
