import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InterruptedError } from '../errors.js';
import { installInterruptHandlers, interruptedOr } from './interrupt.js';

test('the first signal aborts with an InterruptedError (128 + its number), the second exits at once', () => {
  const lines: string[] = [];
  const exits: number[] = [];
  const before = ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s));
  const i = installInterruptHandlers(
    'the workspace is left',
    (l) => lines.push(l),
    (c) => exits.push(c),
  );
  try {
    assert.equal(i.signal.aborted, false);
    process.emit('SIGTERM');
    assert.equal(i.signal.aborted, true);
    const reason: unknown = i.signal.reason;
    assert.ok(reason instanceof InterruptedError);
    assert.equal(reason.exitCode, 143);
    assert.equal(reason.signalName, 'SIGTERM');
    assert.match(lines.join(''), /SIGTERM: stopping and cleaning up \(send it again to stop at once\)/);
    assert.deepEqual(exits, []);
    process.emit('SIGINT');
    assert.deepEqual(exits, [130]);
    assert.match(lines.at(-1) ?? '', /SIGINT again: stopping now; the workspace is left/);
  } finally {
    i.dispose();
  }
  assert.deepEqual(
    ['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => process.listenerCount(s)),
    before,
    'dispose removes the handlers',
  );
});

test("a command's failure after an interrupt is reported as the interrupt, with what became of the work", () => {
  const c = new AbortController();
  const failure = new Error('xorriso was killed');
  assert.equal(interruptedOr(failure, c.signal, 'nothing written'), failure);
  c.abort(new InterruptedError('SIGINT', 2));
  const e = interruptedOr(failure, c.signal, 'nothing written');
  assert.ok(e instanceof InterruptedError);
  assert.equal(e.message, 'interrupted by SIGINT: nothing written');
  assert.equal(e.exitCode, 130);
  const other = new AbortController();
  other.abort(new Error('a caller of the library aborted for its own reason'));
  assert.equal(interruptedOr(failure, other.signal, 'x'), failure);
});
