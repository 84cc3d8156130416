import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProgramRunner, ExecOptions } from '../../util/exec.js';
import type { BlockDevice } from '../types.js';
import { eraseDevices, eraseDevicesExpress } from './index.js';
import { parseAtaSecurity, parseNvmeIdCtrl } from './secure-erase.js';
import { readEraseSettings, shredArgv } from './erase-block-device.js';

const HDPARM = (state: string) => `
/dev/sdb:

ATA device, with non-removable media
Commands/features:
	Enabled	Supported:
	   *	SMART feature set
Security: 
	Master password revision code = 65534
		supported
	${state}
	not	locked
	not	frozen
	not	expired: security count
		supported: enhanced erase
	2min for SECURITY ERASE UNIT. 2min for ENHANCED SECURITY ERASE UNIT.
Logical Unit WWN Device Identifier: 5000000000000000
`;

const dev = (name: string): BlockDevice => ({ name, model: '', size: 1 << 30, rotational: false, wwn: null, serial: null, vendor: null, wwn_with_extension: null, wwn_vendor_extension: null, hctl: null, by_path: null });

/** A runner that answers from a table keyed by argv prefix and records every call. */
function fakeRunner(answers: Array<[string, string | Error | (() => string)]>): ProgramRunner & { calls: string[] } {
  const calls: string[] = [];
  const fn = (async (argv: string[], _o?: ExecOptions) => {
    const cmd = argv.join(' ');
    calls.push(cmd);
    const hit = answers.find(([p]) => cmd.startsWith(p));
    if (!hit) return { stdout: '', stderr: '', code: 0 };
    const a = typeof hit[1] === 'function' ? hit[1]() : hit[1];
    if (a instanceof Error) throw a;
    return { stdout: a, stderr: '', code: 0 };
  }) as ProgramRunner & { calls: string[] };
  fn.calls = calls;
  return fn;
}

test('hdparm -I security parsing', () => {
  const s = parseAtaSecurity(HDPARM('not\tenabled'));
  assert.ok(s.includes('supported') && s.includes('not enabled') && s.includes('not frozen') && s.includes('supported: enhanced erase'));
  assert.deepEqual(parseAtaSecurity('no security here'), []);
});

test('nvme id-ctrl capability bits', () => {
  assert.deepEqual(parseNvmeIdCtrl('{"oacs":23,"fna":4}'), { formatSupported: true, cryptoErase: true });
  assert.deepEqual(parseNvmeIdCtrl('{"oacs":2,"fna":0}'), { formatSupported: true, cryptoErase: false });
  assert.deepEqual(parseNvmeIdCtrl('{"oacs":0,"fna":4}'), { formatSupported: false, cryptoErase: true });
});

test('settings from driver_internal_info and shred argv', () => {
  const s = readEraseSettings({ driver_internal_info: { agent_erase_devices_iterations: 2, agent_erase_devices_zeroize: false, disk_erasure_concurrency: 4 } });
  assert.equal(s.concurrency, 4);
  assert.deepEqual(shredArgv('/dev/sda', s), ['shred', '-f', '-n', '2', '/dev/sda']);
  assert.deepEqual(shredArgv('/dev/sda', readEraseSettings({})), ['shred', '-f', '-z', '-n', '1', '/dev/sda']);
});

test('erase_devices: nvme crypto, ATA enhanced, shred fallback', async () => {
  let erased = false;
  const run = fakeRunner([
    ['nvme id-ctrl /dev/nvme0n1', '{"oacs":6,"fna":4}'],
    ['hdparm -I /dev/sda', () => HDPARM(erased ? 'not\tenabled' : 'not\tenabled')],
    ['hdparm --user-master u --security-erase-enhanced', () => { erased = true; return ''; }],
    ['hdparm -I /dev/sdb', new Error('not ATA')],
  ]);
  const r = await eraseDevices([dev('/dev/nvme0n1'), dev('/dev/sda'), dev('/dev/sdb')], {}, { run });
  assert.deepEqual(r, { '/dev/nvme0n1': 'nvme_crypto_erase', '/dev/sda': 'ata_enhanced_secure_erase', '/dev/sdb': 'shred' });
  assert.ok(run.calls.includes('nvme format /dev/nvme0n1 -s 2 -f'));
  assert.ok(run.calls.includes('hdparm --user-master u --security-set-pass NULL /dev/sda'));
  assert.ok(run.calls.includes('shred -f -z -n 1 /dev/sdb'));
});

test('frozen drive fails unless agent_continue_if_secure_erase_failed', async () => {
  const frozen = HDPARM('not\tenabled').replace('not\tfrozen', 'frozen');
  const run = fakeRunner([['hdparm -I /dev/sda', frozen]]);
  await assert.rejects(eraseDevices([dev('/dev/sda'), dev('/dev/sdc')], {}, { run }),
    (e: unknown) => /Failed to erase on the device\(s\): "\/dev\/sda": Block device \/dev\/sda is frozen/.test((e as { details: string }).details) && !(e as { details: string }).details.includes('sdc'));
  const r = await eraseDevices([dev('/dev/sda')], { driver_internal_info: { agent_continue_if_secure_erase_failed: true } }, { run });
  assert.deepEqual(r, { '/dev/sda': 'shred' });
});

test('ATA and NVMe secure erase can be disabled', async () => {
  const run = fakeRunner([]);
  const r = await eraseDevices([dev('/dev/nvme0n1'), dev('/dev/sda')], { driver_internal_info: { agent_enable_nvme_secure_erase: false, agent_enable_ata_secure_erase: false } }, { run });
  assert.deepEqual(r, { '/dev/nvme0n1': 'shred', '/dev/sda': 'shred' });
  assert.ok(!run.calls.some((c) => c.startsWith('hdparm') || c.startsWith('nvme')));
});

test('erase_devices_express: NVMe format, no shred', async () => {
  const run = fakeRunner([['nvme id-ctrl', '{"oacs":2,"fna":0}']]);
  const r = await eraseDevicesExpress([dev('/dev/nvme0n1')], {}, { run });
  assert.deepEqual(r, { '/dev/nvme0n1': 'nvme_user_data_erase' });
  assert.ok(run.calls.includes('nvme format /dev/nvme0n1 -s 1 -f'));
});
