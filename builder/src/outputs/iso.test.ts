import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ToolMissingError, UserError } from '../errors.js';
import { makeIso } from './iso.js';
import { ISO_TOOLS, checkIsoTools, findMissingIsoTools } from './iso-tools.js';

// These cases all fail before any tool runs, so they need no xorriso or GRUB.
describe('makeIso input checks', () => {
  let dir = '';
  let kernel = '';
  let initrd = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iso-unit-'));
    kernel = join(dir, 'vmlinuz');
    initrd = join(dir, 'initrd');
    const k = Buffer.alloc(1024);
    k.write('HdrS', 0x202, 'latin1');
    await writeFile(kernel, k);
    await writeFile(initrd, 'x');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const base = (): Parameters<typeof makeIso>[0] => ({ kernel, initrd, out: join(dir, 'out.iso'), workDir: join(dir, 'w') });

  it('names a missing kernel', async () => {
    await assert.rejects(
      makeIso({ ...base(), kernel: join(dir, 'nope') }),
      (e: unknown) => e instanceof UserError && /kernel '.*nope'/.test(e.message),
    );
  });

  it('names a missing initrd', async () => {
    await assert.rejects(
      makeIso({ ...base(), initrd: join(dir, 'gone.img') }),
      (e: unknown) => e instanceof UserError && /initrd '.*gone\.img'/.test(e.message),
    );
  });

  it('refuses a directory as initrd', async () => {
    await assert.rejects(makeIso({ ...base(), initrd: dir }), UserError);
  });

  it('spots swapped kernel and initrd', async () => {
    await assert.rejects(
      makeIso({ ...base(), kernel: initrd, initrd: kernel }),
      (e: unknown) => e instanceof UserError && /bzImage/.test(e.message),
    );
  });

  it('refuses bad labels, epochs, timeouts and kernel arguments', async () => {
    await assert.rejects(makeIso({ ...base(), label: 'has space' }), /invalid ISO label/);
    await assert.rejects(makeIso({ ...base(), label: 'X'.repeat(33) }), /invalid ISO label/);
    await assert.rejects(makeIso({ ...base(), epoch: -1 }), /SOURCE_DATE_EPOCH/);
    await assert.rejects(makeIso({ ...base(), epoch: 1.5 }), /SOURCE_DATE_EPOCH/);
    await assert.rejects(makeIso({ ...base(), timeoutSeconds: -1 }), /timeout/);
    await assert.rejects(makeIso({ ...base(), append: 'a="b c"' }), UserError);
  });

  it('leaves no output behind when refusing', async () => {
    await assert.rejects(makeIso({ ...base(), kernel: join(dir, 'nope') }));
    await assert.rejects(
      rm(join(dir, 'out.iso.partial')).then(() => rm(join(dir, 'out.iso'))),
      { code: 'ENOENT' },
    );
  });
});

describe('ISO_TOOLS', () => {
  it('names a Debian package for every tool and covers the brief list', () => {
    const pkgs = new Set(ISO_TOOLS.map((t) => t.pkg));
    for (const p of ['xorriso', 'isolinux', 'syslinux-common', 'grub-efi-amd64-bin', 'grub-common', 'mtools', 'dosfstools'])
      assert.ok(pkgs.has(p), p);
    for (const t of ISO_TOOLS) assert.ok(t.why.length > 5, t.tool);
  });

  it('reports missing programs and files with their packages', () => {
    const fake = [
      { tool: 'ramforge-no-such-tool', pkg: 'pkg-a', why: 'testing a program' },
      { tool: '/no/such/file.bin', pkg: 'pkg-b', why: 'testing a file' },
      { tool: 'sh', pkg: 'dash', why: 'present' },
    ];
    assert.deepEqual(
      findMissingIsoTools(fake).map((t) => t.pkg),
      ['pkg-a', 'pkg-b'],
    );
    assert.throws(
      () => checkIsoTools(fake),
      (e: unknown) => e instanceof ToolMissingError && /apt-get install -y pkg-a pkg-b/.test(e.hint ?? ''),
    );
  });
});
