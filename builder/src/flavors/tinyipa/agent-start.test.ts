import { test } from 'node:test';
import assert from 'node:assert/strict';
import { agentNodeFlags } from './agent-start.js';

test('agentNodeFlags: the flags of the node line in the shipped start script', () => {
  const flags = agentNodeFlags();
  assert.ok(flags.length > 0 && flags.every((f) => f.startsWith('--')), flags.join(' '));
});

test('agentNodeFlags: comments are skipped; no node line is an error', () => {
  const script =
    '# /usr/bin/node --old /usr/lib/ramforge-agent/start.mjs\n/usr/bin/node --a=1 --b /usr/lib/ramforge-agent/start.mjs --config x\n';
  assert.deepEqual(agentNodeFlags(script), ['--a=1', '--b']);
  assert.deepEqual(agentNodeFlags('/usr/bin/node /usr/lib/ramforge-agent/start.mjs\n'), []);
  assert.throws(() => agentNodeFlags('exec sleep 1\n'), /no '\/usr\/bin\/node \[--flags\]/);
});
