import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { BuildProgress, engineEvents } from './progress.js';

test('engineEvents splits JSON lines across chunks', async () => {
  const s = Readable.from([
    Buffer.from('{"stream":"Step 1/2 : FROM x\\n"}\n{"str'),
    Buffer.from('eam":" ---> abc\\n"}\r\n\n{"aux":{"ID":"sha256:1"}}'),
  ]);
  const out = [];
  for await (const e of engineEvents(s)) out.push(e);
  assert.deepEqual(out, [{ stream: 'Step 1/2 : FROM x\n' }, { stream: ' ---> abc\n' }, { aux: { ID: 'sha256:1' } }]);
});

test('BuildProgress shows step lines, keeps the failing step output and the image ID', () => {
  const p = new BuildProgress();
  assert.deepEqual(p.add({ stream: 'Step 1/3 : FROM base\n ---> 1234\n' }), ['Step 1/3 : FROM base', ' ---> 1234']);
  p.add({ stream: 'Step 2/3 : RUN false\n' });
  p.add({ stream: ' ---> Running in abcd\nsome ' });
  p.add({ stream: 'output\n' });
  p.add({ errorDetail: { code: 1, message: "The command '/bin/sh -c false' returned a non-zero code: 1" }, error: 'x' });
  assert.equal(p.step, 'Step 2/3 : RUN false');
  assert.deepEqual(p.stepOutput(), ['some output']);
  assert.match(p.error ?? '', /returned a non-zero code: 1/);
  assert.equal(p.imageId, undefined);
  const ok = new BuildProgress();
  ok.add({ stream: 'Successfully built 0123456789ab\n' });
  assert.equal(ok.imageId, '0123456789ab');
  ok.add({ aux: { ID: 'sha256:ff' } });
  assert.equal(ok.imageId, 'sha256:ff');
});
