import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ElementScriptError, formatScriptFailure, LineTail } from './script-error.js';

test('a failed script: element, phase, script, exit code, then the last 20 lines', () => {
  const tail = new LineTail();
  for (let i = 1; i <= 30; i++) tail.push(`line ${i}`);
  const e = new ElementScriptError({
    element: 'my-users',
    phase: 'install.d',
    script: '50-my-users',
    kind: 'script',
    exitCode: 3,
    tail: tail.get(),
  });
  const lines = e.message.split('\n');
  assert.equal(lines[0], 'element my-users: install.d/50-my-users exited with code 3; last 20 lines of its output:');
  assert.equal(lines.length, 21);
  assert.equal(lines[1], '  | line 11');
  assert.equal(lines[20], '  | line 30');
  assert.equal(e.exitCode, 1);
  assert.match(e.hint ?? '', /fix install\.d\/50-my-users of element my-users/);
});

test('an environment file, a signal, no output', () => {
  assert.equal(
    formatScriptFailure({ element: 'x', phase: 'root.d', script: '10-x.bash', kind: 'environment', exitCode: 1, tail: [] }),
    'element x: environment.d/10-x.bash (sourced before root.d) exited with code 1 (no output)',
  );
  assert.equal(
    formatScriptFailure({
      element: 'x',
      phase: 'finalise.d',
      script: '10-x',
      kind: 'script',
      exitCode: null,
      signal: 'SIGKILL',
      tail: ['bye'],
    }),
    'element x: finalise.d/10-x was killed by SIGKILL; last 1 line of its output:\n  | bye',
  );
});

test('LineTail keeps the last lines and starts over on reset', () => {
  const t = new LineTail(2);
  for (const l of ['a', 'b', 'c']) t.push(l);
  assert.deepEqual(t.get(), ['b', 'c']);
  t.reset();
  assert.deepEqual(t.get(), []);
});
