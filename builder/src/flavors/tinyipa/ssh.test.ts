import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Tree } from '../../tree/tree.js';
import { inittab } from './index.js';
import { applyRescueSupport, SSHD_INITTAB, wantsSsh } from './ssh.js';

const base = mkdtempSync(join(tmpdir(), 'rf-ssh-'));
after(() => rmSync(base, { recursive: true, force: true }));

test('an SSH server when root has keys or rescue is on (the default); none with neither', () => {
  assert.equal(wantsSsh({ ssh: { authorizedKeys: [] }, rescue: true }), true);
  assert.equal(wantsSsh({ ssh: { authorizedKeys: ['ssh-ed25519 AAAA k'] }, rescue: false }), true);
  assert.equal(wantsSsh({ ssh: { authorizedKeys: [] }, rescue: false }), false);
  assert.match(inittab(false, true), new RegExp(`^${SSHD_INITTAB.replace(/[/.]/g, '\\$&')}$`, 'm'));
  assert.doesNotMatch(inittab(false, false), /sshd|dropbear/);
});

test('rescue: false removes the hand-over and leaves no etc/ipa-rescue-config, so the agent refuses finalize_rescue', () => {
  for (const rescue of [true, false]) {
    const tree = new Tree({ storeDir: join(base, String(rescue)) });
    tree.addFile('usr/sbin/ramforge-rescue', Buffer.from('#!/bin/sh\n'), { mode: 0o755 });
    applyRescueSupport(tree, rescue, 0);
    assert.equal(tree.has('etc/ipa-rescue-config'), rescue);
    assert.equal(tree.has('usr/sbin/ramforge-rescue'), rescue);
  }
});
