/** BMC addresses and MAC from scripted ipmitool answers (one IPMI device in a temp root). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ExecError, type ProgramRunner } from '../../util/exec.js';
import { collectBmc, hasIpmiDevice, readLan6PrintAddresses } from './bmc.js';
import { createHostAccess } from './host-access.js';

const lan = (ip: string, mac: string) =>
  `Set in Progress         : Set Complete\nIP Address Source       : Static Address\nIP Address              : ${ip}\nSubnet Mask             : 0.0.0.0\nMAC Address             : ${mac}\nDefault Gateway IP      : 0.0.0.0\n`;
const lan6 = (mode: string, sections: string) =>
  `IPv6/IPv4 Support:\n    IPv6 only: yes\n    IPv4 and IPv6: yes\nIPv6/IPv4 Addressing Enables: ${mode}\nIPv6 Header Static Hop Limit: 64\n${sections}`;
const STATIC_OFF = 'IPv6 Static Address 0:\n    Enabled:        no\n    Address:        ::/0\n    Status:         disabled\n';
const dyn = (n: number, addr: string) =>
  `IPv6 Dynamic Address ${n}:\n    Source/Type:    SLAAC\n    Address:        ${addr}\n    Status:         active\n`;

describe('BMC over IPMI', () => {
  const root = mkdtempSync(join(tmpdir(), 'ramforge-bmc-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'dev'));
  writeFileSync(join(root, 'dev/ipmi0'), '');

  /** ipmitool answers by argv; channels not listed are invalid, as ipmitool says. */
  const ipmitool = (answers: Record<string, string>): { run: ProgramRunner; calls: string[] } => {
    const calls: string[] = [];
    const run: ProgramRunner = async (argv) => {
      const key = argv.join(' ');
      calls.push(key);
      const out = answers[key];
      if (out !== undefined) return { stdout: out, stderr: '', code: 0 };
      throw new ExecError(argv, 1, '', `Invalid channel ${argv[3]}\n`);
    };
    return { run, calls };
  };

  it('reads the addresses inside the lan6 address sections only', () => {
    assert.deepEqual(readLan6PrintAddresses(lan6('ipv6', STATIC_OFF + dyn(0, '2001:db8::5/64') + dyn(1, 'fe80::1/64'))), [
      '::/0',
      '2001:db8::5/64',
      'fe80::1/64',
    ]);
  });

  it('IPv6-only BMC: bmc_mac is the MAC of the channel that has the IPv6 address, not of the first channel', async () => {
    const { run } = ipmitool({
      // Channel 1: no IPv4, IPv6 only link-local: not the BMC's network.
      'ipmitool lan print 1': lan('0.0.0.0', 'aa:bb:cc:00:00:01'),
      'ipmitool lan6 print 1': lan6('ipv6', STATIC_OFF + dyn(0, 'fe80::a8bb:ccff:fe00:1/64')),
      'ipmitool lan6 print 1 enables': lan6('ipv4', ''),
      // Channel 2: no IPv4, a global IPv6 address.
      'ipmitool lan print 2': lan('0.0.0.0', 'aa:bb:cc:00:00:02'),
      'ipmitool lan6 print 2': lan6('ipv6', STATIC_OFF + dyn(0, '2001:db8::5/64')),
      'ipmitool lan6 print 2 enables': lan6('ipv6', ''),
      'ipmitool lan6 print 2 dynamic_addr': dyn(0, '2001:db8::5/64'),
    });
    const info = await collectBmc(createHostAccess({ root, run }));
    assert.deepEqual(info, { bmc_address: '0.0.0.0', bmc_v6address: '2001:db8::5', bmc_mac: 'aa:bb:cc:00:00:02' });
  });

  it('an IPv4 channel gives its MAC without asking lan6; a zero MAC is passed over', async () => {
    const { run, calls } = ipmitool({
      'ipmitool lan print 1': lan('10.0.0.9', '00:00:00:00:00:00'),
      'ipmitool lan print 2': lan('10.0.0.10', 'aa:bb:cc:00:00:02'),
    });
    const info = await collectBmc(createHostAccess({ root, run }));
    assert.deepEqual([info.bmc_address, info.bmc_mac], ['10.0.0.9', 'aa:bb:cc:00:00:02']);
    assert.equal(calls.filter((c) => c.startsWith('ipmitool lan6 print') && !/ (enables|dynamic_addr|static_addr)$/.test(c)).length, 0);
  });

  it('no address on any channel (lan6 shows only unconfigured and link-local): no bmc_mac', async () => {
    const { run } = ipmitool({
      'ipmitool lan print 1': lan('0.0.0.0', 'aa:bb:cc:00:00:01'),
      'ipmitool lan6 print 1': lan6('both', STATIC_OFF + dyn(0, 'fe80::1/64')),
    });
    const info = await collectBmc(createHostAccess({ root, run }));
    assert.equal('bmc_mac' in info, false);
  });

  it('a BMC device whose every channel fails: 0.0.0.0 and ::/0, as IPA reports them; ipmitool missing: null (IPA: the same zeros)', async () => {
    const failing: ProgramRunner = async (argv) => {
      throw new ExecError(argv, 1, '', 'Get Channel Info command failed\n');
    };
    const info = await collectBmc(createHostAccess({ root, run: failing }));
    assert.equal(info.bmc_address, '0.0.0.0');
    assert.equal(info.bmc_v6address, '::/0');
    assert.equal('bmc_mac' in info, false);
    const absent: ProgramRunner = async (argv) => {
      throw new ExecError(argv, null, '', 'spawn ipmitool ENOENT');
    };
    assert.deepEqual(await collectBmc(createHostAccess({ root, run: absent })), { bmc_address: null, bmc_v6address: null });
  });

  it("finds a BMC device by IPA's globs: /dev/ipmi1 alone, or /dev/ipmidev/0; none: no ipmitool at all", async () => {
    const other = mkdtempSync(join(tmpdir(), 'ramforge-bmc-'));
    try {
      mkdirSync(join(other, 'dev/ipmidev'), { recursive: true });
      const host = createHostAccess({ root: other, run: ipmitool({}).run });
      assert.equal(await hasIpmiDevice(host), false);
      writeFileSync(join(other, 'dev/ipmi1'), '');
      assert.equal(await hasIpmiDevice(host), true);
      rmSync(join(other, 'dev/ipmi1'));
      writeFileSync(join(other, 'dev/ipmidev/0'), '');
      assert.equal(await hasIpmiDevice(host), true);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
