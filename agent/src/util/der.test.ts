import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { integer, ipBytes, oid, sequence, time, tlv } from './der.js';

const hex = (b: Buffer) => b.toString('hex');

describe('der', () => {
  it('encodes lengths in short and long form', () => {
    assert.equal(hex(tlv(0x04, Buffer.alloc(3))), '0403000000');
    assert.equal(hex(tlv(0x04, Buffer.alloc(200))).slice(0, 6), '0481c8');
    assert.equal(hex(tlv(0x04, Buffer.alloc(300))).slice(0, 8), '0482012c');
    assert.equal(hex(sequence()), '3000');
  });

  it('encodes INTEGERs minimally and positive', () => {
    assert.equal(hex(integer(2)), '020102');
    assert.equal(hex(integer(0)), '020100');
    assert.equal(hex(integer(Buffer.from([0x00, 0x00, 0x7f]))), '02017f');
    assert.equal(hex(integer(Buffer.from([0x80]))), '02020080');
    assert.equal(hex(integer(Buffer.from([0x00, 0x80]))), '02020080');
  });

  it('encodes OIDs as X.690 says', () => {
    assert.equal(hex(oid('1.2.840.10045.4.3.4')), '06082a8648ce3d040304');
    assert.equal(hex(oid('2.5.29.17')), '0603551d11');
    assert.equal(hex(oid('2.5.4.3')), '0603550403');
    assert.throws(() => oid('1'), /bad OID/);
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050, in whole seconds', () => {
    assert.equal(time(new Date('2026-11-21T11:00:00.750Z')).toString('latin1', 2), '261121110000Z');
    assert.equal(time(new Date('2026-11-21T11:00:00Z'))[0], 0x17);
    const g = time(new Date('2050-01-01T00:00:00Z'));
    assert.equal(g[0], 0x18);
    assert.equal(g.toString('latin1', 2), '20500101000000Z');
  });

  it('gives the bytes of IPv4 and IPv6 addresses', () => {
    assert.equal(hex(ipBytes('192.0.2.10')), 'c000020a');
    assert.equal(hex(ipBytes('fd00::5')), 'fd000000000000000000000000000005');
    assert.equal(hex(ipBytes('::1')), '00000000000000000000000000000001');
    assert.equal(hex(ipBytes('fe80::1%eth0')), 'fe800000000000000000000000000001');
    assert.equal(hex(ipBytes('2001:db8:1:2:3:4:5:6')), '20010db8000100020003000400050006');
    assert.equal(hex(ipBytes('::ffff:192.0.2.1')), '00000000000000000000ffffc0000201');
    assert.equal(hex(ipBytes('1::')), '00010000000000000000000000000000');
    assert.throws(() => ipBytes('agent-host'), /not an IP address/);
  });
});
