import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePeHeaders, peChecksum } from './pe.js';
import { decideSecureBoot } from './secure-boot.js';
import { layoutUkiSections, objcopyUkiArgv } from './uki.js';

/** A minimal PE32+ header: two sections, optional security directory. */
function fakePe(signatureBytes: number): Buffer {
  const buf = Buffer.alloc(1024);
  buf.write('MZ', 0, 'latin1');
  const pe = 0x80;
  buf.writeUInt32LE(pe, 0x3c);
  buf.write('PE\0\0', pe, 'latin1');
  buf.writeUInt16LE(2, pe + 6);
  buf.writeUInt16LE(240, pe + 20);
  const opt = pe + 24;
  buf.writeUInt16LE(0x20b, opt);
  buf.writeBigUInt64LE(0x10000000n, opt + 24);
  buf.writeUInt32LE(0x1000, opt + 32);
  buf.writeUInt32LE(16, opt + 108);
  buf.writeUInt32LE(signatureBytes ? 0x300 : 0, opt + 112 + 32);
  buf.writeUInt32LE(signatureBytes, opt + 112 + 36);
  const table = opt + 240;
  for (const [i, name, va, size] of [
    [0, '.text', 0x1000, 0x500],
    [1, '.sbat', 0x2000, 0x34],
  ] as const) {
    buf.write(name, table + i * 40, 'latin1');
    buf.writeUInt32LE(size, table + i * 40 + 8);
    buf.writeUInt32LE(va, table + i * 40 + 12);
  }
  return buf;
}

describe('PE headers', () => {
  it('reads sections, image base and the signature table size', () => {
    const info = parsePeHeaders(fakePe(1472))!;
    assert.equal(info.pe32plus, true);
    assert.equal(info.imageBase, 0x10000000n);
    assert.equal(info.signatureBytes, 1472);
    assert.deepEqual(
      info.sections.map((s) => s.name),
      ['.text', '.sbat'],
    );
    assert.equal(parsePeHeaders(fakePe(0))!.signatureBytes, 0);
  });

  it('is undefined for a file that is no PE image', () => {
    assert.equal(parsePeHeaders(Buffer.from('not a kernel at all, just text')), undefined);
    const noPe = fakePe(0);
    noPe.write('XX', 0x80, 'latin1');
    assert.equal(parsePeHeaders(noPe), undefined);
  });

  it('computes the checksum over everything but the checksum field, plus the length', () => {
    const b = Buffer.from([1, 0, 2, 0, 0xff, 0xff, 0xff, 0xff, 3]);
    // words 1 + 2 (+ checksum skipped) + trailing byte 3 = 6, plus length 9
    assert.equal(peChecksum(b, 4), 15);
  });
});

describe('UKI layout', () => {
  it('places sections on 4 KiB boundaries after the stub, .linux where it is put (last)', () => {
    const s = layoutUkiSections(0x19134n, [
      { name: '.osrel', file: 'o', size: 79 },
      { name: '.cmdline', file: 'c', size: 20 },
      { name: '.initrd', file: 'i', size: 0x2000 },
      { name: '.linux', file: 'l', size: 10, flags: 'code,readonly' },
    ]);
    assert.deepEqual(
      s.map((x) => x.vma),
      [0x1a000n, 0x1b000n, 0x1c000n, 0x1e000n],
    );
    assert.equal(s[3]!.flags, 'code,readonly');
    assert.equal(s[0]!.flags, 'data,readonly');
    const argv = objcopyUkiArgv('/stub', s, '/out.efi');
    assert.deepEqual(argv.slice(0, 5), ['objcopy', '--add-section', '.osrel=o', '--set-section-flags', '.osrel=data,readonly']);
    assert.ok(argv.includes('.linux=0x1e000'));
    assert.deepEqual(argv.slice(-2), ['/stub', '/out.efi']);
  });
});

describe('Secure Boot decision', () => {
  it('auto follows the kernel, off is off, on refuses an unsigned kernel by name', async () => {
    assert.equal((await decideSecureBoot('auto', '/k', true)).enabled, true);
    assert.equal((await decideSecureBoot('auto', '/k', false)).enabled, false);
    assert.equal((await decideSecureBoot('off', '/k', true)).enabled, false);
    await assert.rejects(decideSecureBoot('on', '/boot/vmlinuz-x', false), /kernel '\/boot\/vmlinuz-x' is not signed/);
  });
});
