/** IPA's _enable_multipath: what runs, in which order, and when nothing runs. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createRecorder } from '../../test/helpers.js';
import { createMemoryLog } from '../../test/support/logs.js';
import { ExecError, type ProgramRunner } from '../util/exec.js';
import { enableMultipath } from './multipath.js';

describe('enableMultipath', () => {
  const root = mkdtempSync(join(tmpdir(), 'ramforge-mpath-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const has = (names: string[]) => async (n: string) => names.includes(n);

  it('without multipathd runs nothing, not even modprobe', async () => {
    const run = createRecorder();
    assert.equal(await enableMultipath({ run, log: createMemoryLog(), root, hasCommand: has([]) }), false);
    assert.deepEqual(run.calls, []);
  });

  it('Debian: loads the modules, starts multipathd, enumerates with multipath -ll', async () => {
    const run = createRecorder();
    assert.equal(await enableMultipath({ run, log: createMemoryLog(), root, hasCommand: has(['multipathd', 'multipath']) }), true);
    assert.deepEqual(run.calls, [['modprobe', 'dm_multipath'], ['modprobe', 'multipath'], ['multipathd'], ['multipath', '-ll']]);
  });

  it('RHEL without a configuration: mpathconf instead of modprobe; a failing multipathd (already running) is no error', async () => {
    mkdirSync(join(root, 'usr/sbin'), { recursive: true });
    writeFileSync(join(root, 'usr/sbin/mpathconf'), '');
    const calls: string[][] = [];
    const run: ProgramRunner = async (argv) => {
      calls.push(argv);
      if (argv[0] === 'multipathd') throw new ExecError(argv, 1, '', 'process is already running\n');
      return { stdout: '', stderr: '', code: 0 };
    };
    assert.equal(await enableMultipath({ run, log: createMemoryLog(), root, hasCommand: has(['multipathd']) }), true);
    assert.deepEqual(calls[0], [
      '/usr/sbin/mpathconf',
      '--enable',
      '--find_multipaths',
      'yes',
      '--with_module',
      'y',
      '--with_multipathd',
      'y',
    ]);
    assert.deepEqual(calls.slice(1), [['multipathd'], ['multipath', '-ll']]);
    rmSync(join(root, 'usr'), { recursive: true });
  });

  it('multipath -ll failing: false, with a warning that says so', async () => {
    const log = createMemoryLog();
    const run: ProgramRunner = async (argv) => {
      if (argv[0] === 'multipath') throw new ExecError(argv, 1, '', 'DM multipath kernel driver not loaded\n');
      return { stdout: '', stderr: '', code: 0 };
    };
    assert.equal(await enableMultipath({ run, log, root, hasCommand: has(['multipathd']) }), false);
    assert.ok(
      log.lines.some((l) => l.includes('multipath devices are not set up')),
      log.lines.join('\n'),
    );
  });
});
