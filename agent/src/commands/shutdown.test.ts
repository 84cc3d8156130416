import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecError, type ExecOptions, type ProgramRunner } from '../util/exec.js';
import { createMemoryLog } from '../../test/support/logs.js';
import { shutdownHost } from './shutdown.js';

/** Records argv (and stdin) of every call; `answer` decides each call's outcome. */
function recorder(answer: (argv: string[]) => { stdout?: string; stderr?: string } | Error = () => ({})) {
  const calls: string[] = [];
  const run: ProgramRunner = async (argv: string[], opts?: ExecOptions) => {
    calls.push(opts?.input === undefined ? argv.join(' ') : `${argv.join(' ')} <<< ${String(opts.input)}`);
    const a = answer(argv);
    if (a instanceof Error) throw a;
    return { stdout: a.stdout ?? '', stderr: a.stderr ?? '', code: 0 };
  };
  return { run, calls };
}

test('sync, then poweroff -f / reboot -f; nothing else when the program does it', async () => {
  for (const action of ['poweroff', 'reboot'] as const) {
    const r = recorder();
    assert.equal(await shutdownHost(r.run, createMemoryLog(), action, 0), null);
    assert.deepEqual(r.calls, ['sync', `${action} -f`]);
  }
});

test('no poweroff/reboot program (the coreos chroot): the sysrq trigger does it, and the log says why', async () => {
  for (const [action, key] of [
    ['poweroff', 'o'],
    ['reboot', 'b'],
  ] as const) {
    const r = recorder((argv) =>
      argv[0] === action
        ? new ExecError(argv, null, '', `spawn ${action} ENOENT`, Object.assign(new Error('ENOENT'), { code: 'ENOENT' }))
        : {},
    );
    const log = createMemoryLog();
    await shutdownHost(r.run, log, action, 0);
    assert.deepEqual(r.calls, ['sync', `${action} -f`, `tee /proc/sysrq-trigger <<< ${key}`]);
    assert.ok(log.lines.some((l) => l.includes(`${action} is not available here (spawn ${action} ENOENT): using /proc/sysrq-trigger`)));
  }
});

test("systemd's poweroff in a chroot declines ('ignoring request'): the sysrq trigger does it", async () => {
  const r = recorder((argv) => (argv[0] === 'poweroff' ? { stderr: 'Running in chroot, ignoring request.\n' } : {}));
  await shutdownHost(r.run, createMemoryLog(), 'poweroff', 0);
  assert.deepEqual(r.calls, ['sync', 'poweroff -f', 'tee /proc/sysrq-trigger <<< o']);
});

test('a poweroff that runs and fails falls back to the sysrq trigger, as IPA does; a failing sync is only a warning', async () => {
  const r = recorder((argv) =>
    argv[0] === 'poweroff'
      ? new ExecError(argv, 1, '', 'poweroff: Operation not permitted')
      : argv[0] === 'sync'
        ? new ExecError(argv, 1, '', 'sync: I/O error')
        : {},
  );
  const log = createMemoryLog();
  assert.equal(await shutdownHost(r.run, log, 'poweroff', 0), null);
  assert.deepEqual(r.calls, ['sync', 'poweroff -f', 'tee /proc/sysrq-trigger <<< o']);
  assert.match(log.lines.join('\n'), /WARNING sync before poweroff failed .*: going on/);
  assert.match(log.lines.join('\n'), /WARNING poweroff -f failed \(.*Operation not permitted.*\): using \/proc\/sysrq-trigger/);
});

test('when the sysrq trigger fails too, that is the command error', async () => {
  const r = recorder((argv) => (argv[0] === 'reboot' || argv[0] === 'tee' ? new ExecError(argv, 1, '', `${argv[0]}: denied`) : {}));
  await assert.rejects(shutdownHost(r.run, createMemoryLog(), 'reboot', 0), /tee: denied/);
  assert.deepEqual(r.calls, ['sync', 'reboot -f', 'tee /proc/sysrq-trigger <<< b']);
});
