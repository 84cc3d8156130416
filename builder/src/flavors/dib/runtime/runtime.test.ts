/** The bash side of the runner, without root: run-parts.bash (environment.d, exports, order, stop on failure) and the sudo pass-through. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RUNTIME_DIR } from '../elements/run-phase.js';
import { tempDir, writeTree } from '../elements/test-trees.js';

function runParts(dir: string, envFiles: string[], scripts: string[], umask = '022') {
  const r = spawnSync(
    '/bin/bash',
    [
      '-c',
      `umask ${umask}; exec 3>"$0"; exec /bin/bash "${RUNTIME_DIR}run-parts.bash" "$@"`,
      join(dir, 'fd3'),
      join(dir, 'phase'),
      join(dir, 'env'),
      String(envFiles.length),
      ...envFiles,
      ...scripts,
    ],
    // stdin not a socket: bash reads ~/.bashrc when stdin is one (its "run by sshd" guess), and node's pipes are sockets.
    { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return { ...r, fd3: spawnSync('cat', [join(dir, 'fd3')], { encoding: 'utf8' }).stdout };
}

test('environment.d is sourced once, in order; only exported variables reach the scripts; markers on fd 3', (t) => {
  const dir = writeTree(tempDir(t), {
    'env/10-a.bash': 'export A=from-a\nHIDDEN=not-exported\nCOUNT=1\n',
    'env/20-b.bash': 'export B="$A-and-b"\nexport COUNT=$((COUNT + 1))\n',
    'phase/10-first +x': '#!/bin/bash\necho "first $A $B ${HIDDEN:-unset} $COUNT"\n[ ! -e /proc/self/fd/3 ] && echo "no fd 3"\n',
    'phase/20-second +x': '#!/bin/bash\necho second >&2\n',
  });
  const r = runParts(dir, ['10-a.bash', '20-b.bash'], ['10-first', '20-second']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'first from-a from-a-and-b unset 2\nno fd 3\n');
  assert.equal(r.stderr, 'second\n');
  assert.equal(r.fd3, 'env 10-a.bash\nenv 20-b.bash\nenvdone\nstart 10-first\nend 10-first 0\nstart 20-second\nend 20-second 0\n');
});

test("environment.d is sourced inside a function, as DIB's dib-run-parts: a `declare -x` stays local to it, `export` reaches the scripts", (t) => {
  const dir = writeTree(tempDir(t), {
    'env/10-scope.bash': [
      'export EXPORTED=e',
      'declare -x DECLARED=d',
      'typeset -x TYPESET=t',
      'declare -gx GLOBAL=g',
      // `local` is an error at a shell's top level; inside DIB's function it is not.
      'local LOCAL=l',
      'export LOCAL',
      // A variable the caller exported, shadowed by a local one: the scripts keep the caller's value.
      'declare -x CALLER=from-env-file',
      // dib-run-parts' own local: set here, it dies with the function.
      'export dir=/elsewhere',
      // The function is called without arguments.
      'export ARGC=$#',
      'set -x',
      '',
    ].join('\n'),
    // The function is still running while the next file is sourced: its locals are seen there.
    'env/20-later.bash': 'export SEEN_LATER="$DECLARED"\n',
    'phase/10-show +x':
      '#!/bin/bash\necho "E=$EXPORTED D=${DECLARED-unset} T=${TYPESET-unset} G=$GLOBAL L=${LOCAL-unset} C=$CALLER dir=${dir-unset} ARGC=$ARGC LATER=$SEEN_LATER"\n',
  });
  const r = spawnSync(
    '/bin/bash',
    [
      '-c',
      `exec 3>"$0"; exec /bin/bash "${RUNTIME_DIR}run-parts.bash" "$@"`,
      join(dir, 'fd3'),
      join(dir, 'phase'),
      join(dir, 'env'),
      '2',
      '10-scope.bash',
      '20-later.bash',
      '10-show',
    ],
    { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', CALLER: 'from-caller' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'E=e D=unset T=unset G=g L=unset C=from-caller dir=unset ARGC=0 LATER=d\n');
  // The file's `set -x` ended with it (DIB restores the tracing after each file): the runner's own commands are not traced.
  assert.doesNotMatch(r.stderr, /\+ .*(start|10-show)/);
});

test('the first failing script stops the phase with its exit code; an environment file can abort it', (t) => {
  const dir = writeTree(tempDir(t), {
    'env/10-a.bash': 'export A=1\n',
    'env/20-stop.bash': '[ "${STOP:-}" = yes ] && exit 4 || true\n',
    'phase/10-fails +x': '#!/bin/bash\nexit 7\n',
    'phase/20-never +x': '#!/bin/bash\necho never\n',
  });
  const r = runParts(dir, ['10-a.bash'], ['10-fails', '20-never']);
  assert.equal(r.status, 7);
  assert.equal(r.stdout, '');
  assert.equal(r.fd3, 'env 10-a.bash\nenvdone\nstart 10-fails\nend 10-fails 7\n');
  writeTree(dir, { 'env/05-set.bash': 'export STOP=yes\n' });
  const e = runParts(dir, ['05-set.bash', '20-stop.bash'], ['10-fails']);
  assert.equal(e.status, 4);
  assert.equal(e.fd3, 'env 05-set.bash\nenv 20-stop.bash\n');
});

test('an unset variable in an environment file fails the phase (set -u, as dib-run-parts)', (t) => {
  const dir = writeTree(tempDir(t), { 'env/10-u.bash': 'export X=$NOT_SET_ANYWHERE\n', 'phase/': '' });
  const r = runParts(dir, ['10-u.bash'], []);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /NOT_SET_ANYWHERE: unbound variable/);
});

test("the scripts run with umask 022 whatever the caller's (a rootless build by a user with umask 0002): 0644 files, 0755 directories", (t) => {
  const dir = writeTree(tempDir(t), {
    'env/10-u.bash': 'umask > "$OUT/env-umask"\n',
    'phase/10-make +x': '#!/bin/bash\nset -e\necho x > "$OUT/file"\nmkdir "$OUT/dir"\numask > "$OUT/script-umask"\n',
  });
  const out = join(dir, 'out');
  mkdirSync(out);
  writeTree(dir, { 'env/05-out.bash': `export OUT=${out}\n` });
  const r = runParts(dir, ['05-out.bash', '10-u.bash'], ['10-make'], '0002');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(statSync(join(out, 'file')).mode & 0o7777, 0o644);
  assert.equal(statSync(join(out, 'dir')).mode & 0o7777, 0o755);
  assert.equal(readFileSync(join(out, 'env-umask'), 'utf8'), '0022\n');
  assert.equal(readFileSync(join(out, 'script-umask'), 'utf8'), '0022\n');
});

test('the sudo pass-through drops sudo options and runs the command with the environment', () => {
  const sudo = `${RUNTIME_DIR}bin/sudo`;
  const run = (args: string[]) =>
    spawnSync(sudo, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', X: 'kept' }, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(run(['-E', '-u', 'root', '--', 'sh', '-c', 'echo "$X"']).stdout, 'kept\n');
  assert.equal(run(['-n', 'sh', '-c', 'echo "$X"']).stdout, 'kept\n');
  assert.equal(
    spawnSync('/bin/sh', ['-c', `echo piped | ${sudo} tee`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).stdout,
    'piped\n',
  );
  const none = run(['-E']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no command given/);
});
