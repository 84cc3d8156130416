/** LLDP: tcpdump's -xx listing → frames → IPA's [type, hex] TLV pairs; capture failures are logged, never thrown. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecError, type ProgramRunner } from '../../util/exec.js';
import { createMemoryLog, silentLog } from '../../../test/support/logs.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHostAccess } from './host-access.js';
import { collectInventory } from './index.js';
import { collectLldp, parseLldpFrame, parseTcpdumpHex, tcpdumpArgv } from './lldp.js';

/** Recorded: tcpdump 4.99.3 `-c 1 -nn -l --immediate-mode -xx ether proto 0x88cc` on a veth, the frame sent from the peer. */
const RECORDED = `00:11:35.210157 LLDP, length 81: switch-1
\t0x0000:  0180 c200 000e 0200 00aa bbcc 88cc 0207
\t0x0010:  0402 0000 aabb cc04 0c05 4574 6865 726e
\t0x0020:  6574 312f 3706 0200 7808 1275 706c 696e
\t0x0030:  6b20 746f 2073 6572 7665 7230 370a 0873
\t0x0040:  7769 7463 682d 3110 0c05 01c0 0002 6502
\t0x0050:  0000 0006 00fe 0600 80c2 0100 6400 00
`;
const hex = (s: string) => Buffer.from(s).toString('hex');
const EXPECTED: Array<[number, string]> = [
  [1, '040200 00aabbcc'.replace(/ /g, '')],
  [2, `05${hex('Ethernet1/7')}`],
  [3, '0078'],
  [4, hex('uplink to server07')],
  [5, hex('switch-1')],
  [8, '0501c0000265020000000600'],
  [127, '0080c2010064'],
  [0, ''],
];

describe('LLDP frames', () => {
  it('reads the frame of a recorded tcpdump -xx listing and decodes its TLVs as IPA does', () => {
    const frames = parseTcpdumpHex(RECORDED);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.length, 95);
    assert.deepEqual(parseLldpFrame(frames[0]!), EXPECTED);
  });

  it('stops at the End TLV: the padding of a minimum-size frame is not read as more TLVs', () => {
    const f = Buffer.alloc(60);
    Buffer.from('0180c200000e020000000001 88cc 0207 04020000000001 0000'.replace(/ /g, ''), 'hex').copy(f);
    assert.deepEqual(parseLldpFrame(f), [
      [1, '04020000000001'],
      [0, ''],
    ]);
  });

  it('a truncated TLV keeps what is there; a frame that is not LLDP gives nothing', () => {
    assert.deepEqual(parseLldpFrame(Buffer.from('0180c200000e02000000000188cc0a08abcd', 'hex')), [[5, 'abcd']]);
    assert.deepEqual(parseLldpFrame(Buffer.from('ffffffffffff0200000000010800450000', 'hex')), []);
    assert.deepEqual(parseTcpdumpHex('tcpdump: eth9: No such device exists\n'), []);
  });
});

describe('collectLldp', () => {
  const host = (run: ProgramRunner, tcpdump = true) => ({ ...createHostAccess({ run }), hasCommand: async () => tcpdump });

  it('captures on every interface but lo at once; [] where no frame came; a failed capture is logged', async () => {
    const seen: Array<{ argv: string[]; timeoutMs?: number }> = [];
    const run: ProgramRunner = async (argv, o) => {
      seen.push({ argv, timeoutMs: o?.timeoutMs });
      if (argv[2] === 'eth0') return { stdout: RECORDED, stderr: '', code: 0 };
      if (argv[2] === 'eth1') return { stdout: '\n', stderr: '0 packets captured', code: 0 }; // tcpdump's own exit on SIGTERM
      throw new ExecError(argv, 1, '', 'tcpdump: eth2: That device is not up');
    };
    const log = createMemoryLog();
    const m = await collectLldp(host(run), ['lo', 'eth0', 'eth1', 'eth2'], 7, log);
    assert.deepEqual([...m!.keys()], ['eth0', 'eth1', 'eth2']);
    assert.deepEqual(m!.get('eth0'), EXPECTED);
    assert.deepEqual(m!.get('eth1'), []);
    assert.deepEqual(m!.get('eth2'), []);
    assert.deepEqual(seen[0], { argv: tcpdumpArgv('eth0'), timeoutMs: 7000 });
    assert.match(log.lines.join('\n'), /LLDP capture on eth2 failed: .*That device is not up/);
    assert.doesNotMatch(log.lines.join('\n'), /eth1 failed/);
  });

  it('without tcpdump: undefined and a warning, no exception', async () => {
    const log = createMemoryLog();
    assert.equal(
      await collectLldp(
        host(async () => assert.fail('nothing runs'), false),
        ['eth0'],
        30,
        log,
      ),
      undefined,
    );
    assert.match(log.lines.join('\n'), /tcpdump is not in the ramdisk/);
  });
});

describe('LLDP in the inventory', () => {
  it('interfaces[].lldp holds the TLVs; a capture that heard a frame is kept for the next inventory (IPA keeps lldp_data)', async () => {
    const base = createHostAccess({
      root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/qemu-q35'),
    });
    let captures = 0;
    const host = {
      ...base,
      hasCommand: async (n: string) => n === 'tcpdump' || base.hasCommand(n),
      run: (async (argv, o) => {
        if (argv[0] !== 'tcpdump') return base.run(argv, o);
        captures++;
        return { stdout: RECORDED, stderr: '', code: 0 };
      }) as ProgramRunner,
    };
    const lldpCache = {};
    const o = { host, collectLldp: true, lldpTimeout: 1, lldpCache, log: silentLog };
    const first = await collectInventory(o);
    assert.deepEqual(first.interfaces.find((i) => i.name === 'enp1s0')?.lldp, EXPECTED);
    const n = captures;
    assert.ok(n > 0);
    const second = await collectInventory(o);
    assert.equal(captures, n, 'no second capture');
    assert.deepEqual(second.interfaces.find((i) => i.name === 'enp1s0')?.lldp, EXPECTED);
    assert.equal((await collectInventory({ ...o, collectLldp: false })).interfaces[0]!.lldp, null);
  });
});
