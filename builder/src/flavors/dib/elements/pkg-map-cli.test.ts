/** The image's pkg-map command (pkg-map-cli.ts): DIB's command line and map resolution, over map files in a temporary directory. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parsePkgMapArgs, pkgMapCommand, pyFloat, pyRepr, USAGE } from './pkg-map-cli.js';
import { tempDir, writeTree } from './test-trees.js';

const MAP = {
  default: { python: 'python', tgt: 'tgt', tools: 'build-essential', gone: 'gone-default', only_default: 'd' },
  family: { debian: { python: 'python3', gone: '' }, redhat: { python: 'python39', tgt: 'tgt-rh' } },
  distro: { debian: { tgt: 'tgt-debian' }, ubuntu: { tgt: 'tgt-ubuntu' }, centos: {} },
  release: {
    debian: { bookworm: { tgt: 'tgt-bookworm', pair: 'a b' }, trixie: { python: 'python3.13' } },
    centos: { '8': { tgt: 'scsi-target-utils' } },
  },
};

type T = { after: (fn: () => void) => void };

/** Run the command; maps: site (MAP), other ({default: {x: y}}); the file `own.json` outside the map directory. */
function run(t: T, argv: string[], env: Record<string, string> = { DISTRO_NAME: 'debian', DIB_RELEASE: 'bookworm' }) {
  const dir = writeTree(tempDir(t), {
    'maps/site': JSON.stringify(MAP),
    'maps/other': JSON.stringify({ default: { x: 'other-x' } }),
    'own.json': JSON.stringify({ default: { editor: 'vi' }, distro: { fedora: { editor: 'vim-enhanced' } } }),
  });
  const out: string[] = [];
  const err: string[] = [];
  const args = argv.map((a) => a.replace('@DIR@', dir));
  const code = pkgMapCommand(args, { env, mapDir: join(dir, 'maps'), out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err: err.map((l) => l.replaceAll(dir, '@DIR@')) };
}

test('precedence as DIB: default < family < distro < release[distro][release]; the target from --distro/--release or the environment', (t) => {
  const names = ['python', 'tgt', 'tools', 'only_default'];
  const map = (argv: string[], env?: Record<string, string>) => run(t, ['--element', 'site', ...argv, ...names], env).out;
  // The build's own target (DISTRO_NAME, DIB_RELEASE): release wins for tgt, family for python.
  assert.deepEqual(map([]), ['python3', 'tgt-bookworm', 'build-essential', 'd']);
  // Another release of the same distro: its own release section, else distro.
  assert.deepEqual(map(['--release', 'trixie']), ['python3.13', 'tgt-debian', 'build-essential', 'd']);
  assert.deepEqual(map(['--release', 'sid']), ['python3', 'tgt-debian', 'build-essential', 'd']);
  // Another distro of the family: the family's names, its own distro section; bookworm is debian's release, not ubuntu's.
  assert.deepEqual(map(['--distro', 'ubuntu']), ['python3', 'tgt-ubuntu', 'build-essential', 'd']);
  // Another family: centos 8-stream counts as 8 (DIB's os_major_release); an empty distro section changes nothing.
  assert.deepEqual(map(['--distro', 'centos', '--release', '8-stream']), ['python39', 'scsi-target-utils', 'build-essential', 'd']);
  assert.deepEqual(map(['--distro', 'centos', '--release', '9']), ['python39', 'tgt-rh', 'build-essential', 'd']);
  // A distro with no family: default only.
  assert.deepEqual(map(['--distro', 'arch', '--release', 'rolling']), ['python', 'tgt', 'build-essential', 'd']);
  // No DIB_RELEASE and no --release: no release section.
  assert.deepEqual(map([], { DISTRO_NAME: 'debian' }), ['python3', 'tgt-debian', 'build-essential', 'd']);
  // --distro and --release given, no environment at all.
  assert.deepEqual(map(['--distro=debian', '--release=bookworm'], {}), ['python3', 'tgt-bookworm', 'build-essential', 'd']);
});

test('--pkg-map FILE reads that map; --element another element uses its map; both or neither is an error', (t) => {
  assert.deepEqual(run(t, ['--pkg-map', '@DIR@/own.json', 'editor']), {
    code: 0,
    out: ['vi'],
    err: ['INFO:root:Mapping for <@DIR@/own.json> : editor'],
  });
  assert.deepEqual(run(t, ['--pkg-map', '@DIR@/own.json', '--distro', 'fedora', 'editor']).out, ['vim-enhanced']);
  assert.deepEqual(run(t, ['--element', 'other', '--distro', 'gentoo', '--release', 'x', 'x']).out, ['other-x']);
  assert.deepEqual(run(t, ['x']), { code: 1, out: [], err: ['ERROR:root:Please specify an --element argument.'] });
  assert.deepEqual(run(t, ['--element', 'site', '--pkg-map', '@DIR@/own.json', 'x']), {
    code: 1,
    out: [],
    err: ['ERROR:root:Specify either --element or --pkg-map'],
  });
  // An empty --element with --pkg-map is no --element (DIB tests truthiness).
  assert.deepEqual(run(t, ['--element=', '--pkg-map=@DIR@/own.json', 'editor']).out, ['vi']);
  // No distro: DISTRO_NAME unset and no --distro, or an empty one.
  const noDistro = ['ERROR:root:Please specify a --distro argument or set DISTRO_NAME.'];
  assert.deepEqual(run(t, ['--element', 'site', 'x'], {}), { code: 1, out: [], err: noDistro });
  assert.deepEqual(run(t, ['--element', 'site', '--distro=', 'x']).err, noDistro);
});

test('names: a mapping printed after --prefix, false-like values skip, unmapped is exit 1 after the names before it, or passes with --missing-ok', (t) => {
  assert.deepEqual(run(t, ['--element', 'site', '--prefix', 'P:', 'pair', 'gone', 'tools']).out, ['P:a b', 'P:build-essential']);
  assert.deepEqual(run(t, ['--element', 'site', 'tools', 'nope', 'python']), {
    code: 1,
    out: ['build-essential'],
    err: ['INFO:root:Mapping for site : tools nope python', 'ERROR:root:site has no valid mapping for package nope'],
  });
  assert.deepEqual(run(t, ['--element', 'site', '--missing-ok', 'nope', 'python']).out, ['nope', 'python3']);
  // --debug: DIB's DEBUG lines.
  assert.deepEqual(run(t, ['--element', 'site', '--debug', '--missing-ok', 'python', 'gone', 'nope']).err, [
    'INFO:root:Mapping for site : python gone nope',
    'DEBUG:root:map python -> python3',
    'DEBUG:root:map gone -> <skip>',
    'DEBUG:root:pass -> nope',
  ]);
  // No map: exit 2, or the names as they are with --missing-ok.
  assert.deepEqual(run(t, ['--element', 'nomap', 'a']), {
    code: 2,
    out: [],
    err: ['INFO:root:Mapping for nomap : a', 'ERROR:root:Required pkg-map for nomap element does not exist.'],
  });
  assert.deepEqual(run(t, ['--pkg-map', '@DIR@/none.json', 'a']).err[1], 'ERROR:root:Required pkg-map for  element does not exist.');
  assert.deepEqual(run(t, ['--pkg-map', '@DIR@/none.json', '--missing-ok', '--prefix', '+', 'a', 'b']), {
    code: 0,
    out: ['+a', '+b'],
    err: ['INFO:root:Mapping for <@DIR@/none.json> : a b', 'INFO:root:No package map for <@DIR@/none.json>, done'],
  });
});

test("the command line as DIB's argparse parse_known_args reads it", () => {
  const env = { DISTRO_NAME: 'debian', DIB_RELEASE: 'bookworm' };
  const parse = (argv: string[]) => parsePkgMapArgs(argv, env);
  const ok = (argv: string[]) => {
    const p = parse(argv);
    assert.ok('args' in p, `${argv.join(' ')}: ${JSON.stringify(p)}`);
    return p;
  };
  const fails = (argv: string[], msg: string) =>
    assert.deepEqual(parse(argv), { exit: 2, out: [], err: [...USAGE, `pkg-map: error: ${msg}`] });
  // Options anywhere, shortened, with =VALUE; the last one wins.
  const p = ok(['a', '--elem=x', 'b', '--miss', '--pre', 'P', '--dis', 'ubuntu', '--rel=noble', '--element', 'y', '--deb']);
  assert.deepEqual(p.args, { element: 'y', pkgMap: '', distro: 'ubuntu', release: 'noble', missingOk: true, prefix: 'P', debug: true });
  assert.deepEqual(p.names, ['a', 'b']);
  // Unknown options, a lone dash, negative numbers, `--` itself and all after it are names; so is --family (DIB has none).
  assert.deepEqual(ok(['--element', 'e', '--family', 'redhat', '-x', '-', '-1', '--', '--debug']).names, [
    '--family',
    'redhat',
    '-x',
    '-',
    '-1',
    '--',
    '--debug',
  ]);
  assert.equal(ok(['--element', 'e', '--', '--debug']).args.debug, false);
  // A value may be empty or a negative number, not something that looks like an option.
  assert.equal(ok(['--prefix', '-1']).args.prefix, '-1');
  assert.equal(ok(['--prefix=']).args.prefix, '');
  fails(['--element', '-x'], 'argument --element: expected one argument');
  fails(['--element', '--', 'x'], 'argument --element: expected one argument');
  fails(['x', '--prefix'], 'argument --prefix: expected one argument');
  // Flags take no value; an ambiguous abbreviation fails before anything else (even -h).
  fails(['--missing-ok=1'], "argument --missing-ok: ignored explicit argument '1'");
  fails(['--debug='], "argument --debug: ignored explicit argument ''");
  fails(['-hx'], "argument -h/--help: ignored explicit argument 'x'");
  fails(['-h', '--p', 'x'], 'ambiguous option: --p could match --pkg-map, --prefix');
  // Help: stdout, exit 0, as soon as it is read.
  for (const h of [['-h'], ['--he'], ['-hh'], ['--help', '--element']]) {
    const r = parse(h);
    assert.ok('exit' in r && r.exit === 0 && r.out[0] === USAGE[0], h.join(' '));
  }
});

test("a mapped value is printed as Python's str() prints it; a map of the wrong shape is exit 1", (t) => {
  const dir = writeTree(tempDir(t), {
    odd: '{"default": {"l": ["x", "y\'s"], "i": 10, "t": true, "z": 0, "e": [], "f": false, "n": null, "d": {"k": [1, null]}}}',
    list: '[1, 2]',
    nulldefault: '{"default": null}',
    badfamily: '{"default": {"a": "b"}, "family": ["debian"]}',
    badrelease: '{"release": {"debian": "bookworm"}}',
    notjson: '{"default": ',
  });
  const cmd = (file: string, names: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const env = { DISTRO_NAME: 'debian', DIB_RELEASE: 'bookworm' };
    const code = pkgMapCommand(['--pkg-map', join(dir, file), ...names], {
      env,
      mapDir: dir,
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    return { code, out, err };
  };
  assert.deepEqual(cmd('odd', ['l', 'i', 't', 'z', 'e', 'f', 'n', 'd']), {
    code: 0,
    out: [`['x', "y's"]`, '10', 'True', "{'k': [1, None]}"],
    err: [`INFO:root:Mapping for <${join(dir, 'odd')}> : l i t z e f n d`],
  });
  for (const f of ['list', 'nulldefault', 'badfamily', 'badrelease']) {
    const r = cmd(f, ['a']);
    assert.equal(r.code, 1, f);
    assert.match(r.err.at(-1) ?? '', /not a JSON object/, f);
  }
  // A "default" of null is only used by a name: without names, nothing fails (as in DIB).
  assert.equal(cmd('nulldefault', []).code, 0);
  const bad = cmd('notjson', ['a']);
  assert.equal(bad.code, 1);
  assert.equal(bad.err[1], `ERROR:root:Unable to parse ${join(dir, 'notjson')}`);
});

test("Python's repr of strings and floats", () => {
  assert.equal(pyRepr('a'), "'a'");
  assert.equal(pyRepr("it's"), `"it's"`);
  assert.equal(pyRepr(`it's "x"`), `'it\\'s "x"'`);
  assert.equal(pyRepr('a\tb\n\\\x01é\u200b'), "'a\\tb\\n\\\\\\x01é\\u200b'");
  assert.deepEqual([1, 1.5, 1e16, 1e15, 0.0001, 0.00001, 123.456, -0, 1.2345678901234568e20, Number.POSITIVE_INFINITY].map(pyFloat), [
    '1.0',
    '1.5',
    '1e+16',
    '1000000000000000.0',
    '0.0001',
    '1e-05',
    '123.456',
    '-0.0',
    '1.2345678901234568e+20',
    'inf',
  ]);
});
