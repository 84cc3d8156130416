import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { agentNodeFlags } from './agent-start.js';

test('agentNodeFlags: the flags of the node line in the shipped start script', () => {
  const flags = agentNodeFlags();
  assert.ok(
    flags.every((f) => f.startsWith('--')),
    flags.join(' '),
  );
});

test('agentNodeFlags: comments are skipped; no node line is an error', () => {
  const script =
    '# /usr/bin/node --old /usr/lib/ramforge-agent/start.mjs\n/usr/bin/node --a=1 --b /usr/lib/ramforge-agent/start.mjs --config x\n';
  assert.deepEqual(agentNodeFlags(script), ['--a=1', '--b']);
  assert.deepEqual(agentNodeFlags('/usr/bin/node /usr/lib/ramforge-agent/start.mjs\n'), []);
  assert.throws(() => agentNodeFlags('exec sleep 1\n'), /no '\/usr\/bin\/node \[--flags\]/);
});

// A V8 flag that changes V8's flag hash (e.g. --max-semi-space-size) makes Node reject the code cache built
// into it for its own modules, which are then compiled at every start: about 1.3 CPU seconds of a TCG boot.
test("the start script's flags keep Node's built-in code cache (no module compiled from source)", () => {
  const r = spawnSync(process.execPath, [...agentNodeFlags(), '-e', "require('node:http')"], {
    env: { ...process.env, NODE_DEBUG_NATIVE: 'CODE_CACHE' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(out, /is accepted/, 'this Node prints no code cache decisions (NODE_DEBUG_NATIVE=CODE_CACHE)');
  assert.doesNotMatch(out, /is rejected/);
});

test('the check above sees a rejection when a flag changes V8’s flag hash', () => {
  const r = spawnSync(process.execPath, ['--max-semi-space-size=1', '-e', "require('node:http')"], {
    env: { ...process.env, NODE_DEBUG_NATIVE: 'CODE_CACHE' },
    encoding: 'utf8',
  });
  assert.match(r.stdout + r.stderr, /is rejected/);
});
