/**
 * The image's real format against what the agent writes and what Ironic's
 * lookup permits (permitted_image_formats narrows, never widens).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageFormatPolicy, validateImageFormat } from './image-format.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rf-fmt-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A qcow2 v3 header with no backing file and no external data file. */
function qcow2(): Buffer {
  const b = Buffer.alloc(4096);
  b.write('QFI\xfb', 0, 'latin1');
  b.writeUInt32BE(3, 4);
  return b;
}
/** A protective MBR: a raw disk image with a GPT. */
function gptDisk(): Buffer {
  const b = Buffer.alloc(4096);
  b[450] = 0xee;
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}
async function file(name: string, data: Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
}
const invalid = (re: RegExp) => (e: unknown) => (e as Error).name === 'InvalidImage' && re.test((e as { details?: string }).details ?? '');

test("imageFormatPolicy: the lookup's permitted_image_formats as a list or a comma string; absent or empty, no narrowing", () => {
  assert.deepEqual(imageFormatPolicy({ permitted_image_formats: ['raw', 'QCOW2 '] }), { permitted: ['raw', 'qcow2'] });
  assert.deepEqual(imageFormatPolicy({ permitted_image_formats: 'raw,gpt' }), { permitted: ['raw', 'gpt'] });
  assert.deepEqual(imageFormatPolicy({}), {});
  assert.deepEqual(imageFormatPolicy({ permitted_image_formats: [] }), {});
});

test('validateImageFormat: without a list, raw, gpt and qcow2 are written; vmdk is refused', async () => {
  assert.equal(await validateImageFormat(await file('a.qcow2', qcow2()), 'qcow2'), 'qcow2');
  assert.equal(await validateImageFormat(await file('a.raw', Buffer.alloc(4096, 1)), 'raw'), 'raw');
  assert.equal(await validateImageFormat(await file('a.gpt', gptDisk()), 'raw'), 'raw');
  const vmdk = Buffer.alloc(4096);
  vmdk.write('KDMV', 0, 'latin1');
  await assert.rejects(validateImageFormat(await file('a.vmdk', vmdk), 'vmdk'), invalid(/vmdk is not permitted/));
});

test("validateImageFormat: Ironic's permitted_image_formats narrows what is written, never widens it", async () => {
  const q = await file('b.qcow2', qcow2());
  await assert.rejects(
    validateImageFormat(q, 'qcow2', { permitted: ['raw'] }),
    invalid(/qcow2 is not in Ironic's permitted_image_formats \(raw\)/),
  );
  assert.equal(await validateImageFormat(q, 'qcow2', { permitted: ['raw', 'qcow2'] }), 'qcow2');
  // A GPT disk image is a raw image: allowed where raw is.
  assert.equal(await validateImageFormat(await file('b.gpt', gptDisk()), 'raw', { permitted: ['raw'] }), 'raw');
  // Listing vmdk does not make the agent write it.
  const vmdk = Buffer.alloc(4096);
  vmdk.write('KDMV', 0, 'latin1');
  await assert.rejects(
    validateImageFormat(await file('b.vmdk', vmdk), 'vmdk', { permitted: ['raw', 'vmdk'] }),
    invalid(/vmdk is not permitted .*\(Ironic's permitted_image_formats lists vmdk, but this agent writes only/),
  );
});
