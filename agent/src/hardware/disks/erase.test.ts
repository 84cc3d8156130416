import { test } from 'node:test';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ExecError, type ProgramRunner, type ExecOptions } from '../../util/exec.js';
import type { BlockDevice } from '../types.js';
import { EXPRESS_METADATA_ONLY, eraseDevices, eraseDevicesExpress, eraseDevicesMetadata, METADATA_ERASED } from './index.js';
import { eraseAta, parseAtaSecurity, parseNvmeIdCtrl } from './secure-erase.js';
import { BlockDeviceEraseError } from '../../errors.js';
import { createMemoryLog } from '../../../test/support/logs.js';
import { readEraseSettings } from './erase-block-device.js';
import { fakeDisk, fakeDiskIo, type FakeDisk } from '../../../test/support/fake-disk-io.js';
import { testBlockDevice } from '../../../test/support/block-device.js';

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

const dev = (name: string): BlockDevice => testBlockDevice({ name });

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

test('settings from driver_internal_info, with IPA defaults', () => {
  const s = readEraseSettings({
    driver_internal_info: { agent_erase_devices_iterations: 2, agent_erase_devices_zeroize: 'false', disk_erasure_concurrency: 4 },
  });
  assert.deepEqual([s.iterations, s.zeroize, s.concurrency], [2, false, 4]);
  const d = readEraseSettings({});
  assert.deepEqual([d.iterations, d.zeroize, d.skipReadOnly, d.continueIfSecureEraseFailed], [1, true, false, false]);
  assert.equal(readEraseSettings({ driver_internal_info: { agent_erase_devices_iterations: -3 } }).iterations, 0);
});

/** Fake disks full of 0xa5 for every name, so the overwrite path has something to erase. */
function disksFor(...names: string[]): Record<string, FakeDisk> {
  return Object.fromEntries(names.map((n) => [n, fakeDisk(1 << 20)]));
}
const allZero = (d: FakeDisk): boolean => d.data.every((b) => b === 0);

test('erase_devices: nvme crypto, ATA enhanced, overwrite fallback', async () => {
  let erased = false;
  const run = fakeRunner([
    ['nvme id-ctrl /dev/nvme0n1', '{"oacs":6,"fna":4}'],
    ['hdparm -I /dev/sda', () => HDPARM(erased ? 'not\tenabled' : 'not\tenabled')],
    [
      'hdparm --user-master u --security-erase-enhanced',
      () => {
        erased = true;
        return '';
      },
    ],
    ['hdparm -I /dev/sdb', new Error('not ATA')],
  ]);
  // The firmware erases are faked by the runner, so their disks are blank: nothing to compare before/after.
  const disks = { '/dev/nvme0n1': fakeDisk(1 << 20, 0), '/dev/sda': fakeDisk(1 << 20, 0), '/dev/sdb': fakeDisk(3 << 20) };
  const r = await eraseDevices([dev('/dev/nvme0n1'), dev('/dev/sda'), dev('/dev/sdb')], {}, { run, io: fakeDiskIo(disks) });
  assert.deepEqual(r, {
    '/dev/nvme0n1': 'nvme_crypto_erase (not verified: the sampled blocks held no data before)',
    '/dev/sda': 'ata_enhanced_secure_erase (not verified: the sampled blocks held no data before)',
    '/dev/sdb': 'overwrite: 1 random pass + zeros, verified 48 samples',
  });
  assert.ok(run.calls.includes('nvme format /dev/nvme0n1 -s 2 -f'));
  assert.ok(run.calls.includes('hdparm --user-master u --security-set-pass NULL /dev/sda'));
  assert.ok(!run.calls.some((c) => c.startsWith('shred')), 'no external shred');
  assert.ok(allZero(disks['/dev/sdb']), 'every byte of /dev/sdb is zero');
});

test('frozen drive fails unless agent_continue_if_secure_erase_failed', async () => {
  const frozen = HDPARM('not\tenabled').replace('not\tfrozen', 'frozen');
  const run = fakeRunner([['hdparm -I /dev/sda', frozen]]);
  await assert.rejects(
    eraseDevices([dev('/dev/sda'), dev('/dev/sdc')], {}, { run, io: fakeDiskIo(disksFor('/dev/sda', '/dev/sdc')) }),
    (e: unknown) =>
      /Failed to erase on the device\(s\): "\/dev\/sda": Block device \/dev\/sda is frozen/.test((e as { details: string }).details) &&
      !(e as { details: string }).details.includes('sdc'),
  );
  const disks = disksFor('/dev/sda');
  const r = await eraseDevices(
    [dev('/dev/sda')],
    { driver_internal_info: { agent_continue_if_secure_erase_failed: true } },
    { run, io: fakeDiskIo(disks) },
  );
  assert.match(String(r['/dev/sda']), /^overwrite: 1 random pass \+ zeros, verified \d+ samples$/);
  assert.ok(allZero(disks['/dev/sda']!));
});

test('a failed ATA secure erase releases the NULL password (unlock, disable) and keeps its own error', async () => {
  const ENABLED = HDPARM('enabled').replace('\tenabled', '\tenabled\n\tnot\tlocked');
  const released = (calls: string[]) =>
    calls.filter((c) => /--security-(unlock|disable) NULL/.test(c) && calls.indexOf(c) > calls.indexOf(SET_PASS));
  const SET_PASS = 'hdparm --user-master u --security-set-pass NULL /dev/sda';
  // The erase command fails; the unlock fails too (logged), the disable runs anyway.
  const mem = createMemoryLog();
  const run1 = fakeRunner([
    ['hdparm -I /dev/sda', HDPARM('not\tenabled')],
    ['hdparm --user-master u --security-erase-enhanced', new Error('SECURITY_ERASE: Input/output error')],
    ['hdparm --user-master u --security-unlock', new Error('bad password')],
  ]);
  const keptError = (want: RegExp) => (e: unknown) => e instanceof BlockDeviceEraseError && want.test(e.details);
  await assert.rejects(
    eraseAta('/dev/sda', run1, mem),
    keptError(/^ATA secure erase \(--security-erase-enhanced\) of \/dev\/sda failed: SECURITY_ERASE: Input\/output error$/),
  );
  assert.deepEqual(released(run1.calls), [
    'hdparm --user-master u --security-unlock NULL /dev/sda',
    'hdparm --user-master u --security-disable NULL /dev/sda',
  ]);
  assert.ok(
    mem.lines.some((l) => l.includes('hdparm --security-unlock NULL after the failed secure erase: bad password')),
    mem.lines.join('\n'),
  );
  // The erase returns but security is still enabled afterwards.
  let erased = false;
  const run2 = fakeRunner([
    ['hdparm -I /dev/sda', () => (erased ? ENABLED : HDPARM('not\tenabled'))],
    [
      'hdparm --user-master u --security-erase-enhanced',
      () => {
        erased = true;
        return '';
      },
    ],
  ]);
  await assert.rejects(eraseAta('/dev/sda', run2), keptError(/finished but security is still enabled; the drive may not have erased$/));
  assert.equal(released(run2.calls).length, 2, run2.calls.join('\n'));
  // A successful erase releases nothing.
  const run3 = fakeRunner([['hdparm -I /dev/sda', HDPARM('not\tenabled')]]);
  assert.equal(await eraseAta('/dev/sda', run3), 'ata_enhanced_secure_erase');
  assert.deepEqual(released(run3.calls), []);
});

test('ATA and NVMe secure erase can be disabled', async () => {
  const run = fakeRunner([]);
  const disks = disksFor('/dev/nvme0n1', '/dev/sda');
  const r = await eraseDevices(
    [dev('/dev/nvme0n1'), dev('/dev/sda')],
    { driver_internal_info: { agent_enable_nvme_secure_erase: false, agent_enable_ata_secure_erase: false } },
    { run, io: fakeDiskIo(disks) },
  );
  assert.deepEqual(
    Object.values(r).map((m) => String(m).split(',')[0]),
    ['overwrite: 1 random pass + zeros', 'overwrite: 1 random pass + zeros'],
  );
  assert.ok(allZero(disks['/dev/nvme0n1']!) && allZero(disks['/dev/sda']!));
  assert.ok(!run.calls.some((c) => c.startsWith('hdparm') || c.startsWith('nvme')));
});

test('read-only disks: erase_devices_metadata and _express skip them (as IPA), erase_devices refuses unless agent_erase_skip_read_only', async (t) => {
  // Regular files stand in for the disks; a fake sysfs tree marks one read-only.
  const dir = mkdtempSync(join(tmpdir(), 'ro-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [ro, rw] = [join(dir, 'rodisk'), join(dir, 'rwdisk')];
  for (const f of [ro, rw]) writeFileSync(f, Buffer.alloc(1 << 20, 0xa5));
  const sysRoot = join(dir, 'sys');
  for (const [k, flag] of [
    ['rodisk', '1'],
    ['rwdisk', '0'],
  ] as const) {
    mkdirSync(join(sysRoot, 'class/block', k), { recursive: true });
    writeFileSync(join(sysRoot, 'class/block', k, 'ro'), `${flag}\n`);
  }
  const run = fakeRunner([]);
  const o = { run, sysRoot, vmediaDevice: null };
  assert.deepEqual(await eraseDevicesMetadata([dev(ro), dev(rw)], o), { [ro]: 'skipped (read-only)', [rw]: METADATA_ERASED });
  assert.deepEqual(await eraseDevicesExpress([dev(ro), dev(rw)], {}, o), { [ro]: 'skipped (read-only)', [rw]: EXPRESS_METADATA_ONLY });
  assert.ok(!run.calls.some((c) => c.includes(ro) && !c.startsWith('lsblk') && !c.startsWith('wipefs --json')), run.calls.join('\n'));
  assert.ok(
    readFileSync(ro).every((b) => b === 0xa5),
    'the read-only disk was written',
  );
  // erase_devices keeps the strict rule: the step fails naming the disk and the setting, or skips it when allowed.
  let erased: string[] = [];
  const eraseOne = async (d: BlockDevice) => {
    erased.push(d.name);
    return 'overwrite';
  };
  await assert.rejects(
    eraseDevices([dev(ro), dev(rw)], {}, { ...o, eraseOne }),
    (e: unknown) =>
      e instanceof BlockDeviceEraseError &&
      e.details.includes(`"${ro}": ${ro} is read-only; set driver_internal_info agent_erase_skip_read_only=true`),
  );
  erased = [];
  const r = await eraseDevices([dev(ro), dev(rw)], { driver_internal_info: { agent_erase_skip_read_only: true } }, { ...o, eraseOne });
  assert.deepEqual(r, { [ro]: 'skipped (read-only)', [rw]: 'overwrite' });
  assert.deepEqual(erased, [rw]);
  // A read-only disk the step skips is left out before the safety checks: a cluster filesystem on it stops nothing.
  const gfs2 = fakeRunner([[`wipefs --json ${ro}`, '{"signatures":[{"type":"gfs2"}]}']]);
  assert.deepEqual(await eraseDevicesMetadata([dev(ro), dev(rw)], { ...o, run: gfs2 }), {
    [ro]: 'skipped (read-only)',
    [rw]: METADATA_ERASED,
  });
  assert.ok(!gfs2.calls.some((c) => c.includes(ro)), gfs2.calls.join('\n'));
});

test('erase_devices_express: NVMe format, no overwrite', async () => {
  const disks = disksFor('/dev/nvme0n1');
  // The fake "format" erases the fake disk, so the before/after check sees changed blocks.
  const run = fakeRunner([
    ['nvme id-ctrl', '{"oacs":2,"fna":0}'],
    [
      'nvme format',
      () => {
        disks['/dev/nvme0n1']!.data.fill(0);
        return '';
      },
    ],
  ]);
  const r = await eraseDevicesExpress([dev('/dev/nvme0n1')], {}, { run, io: fakeDiskIo(disks) });
  assert.deepEqual(r, { '/dev/nvme0n1': 'nvme_user_data_erase, verified 16 sampled blocks changed' });
  assert.ok(run.calls.includes('nvme format /dev/nvme0n1 -s 1 -f'));
});

/** With agent_continue_if_secure_erase_failed the failed firmware erase falls back to the overwrite, which erases for real. */
async function overwritesWhenAllowed(run: ProgramRunner, disks: Record<string, FakeDisk>): Promise<void> {
  const r = await eraseDevices(
    [dev('/dev/nvme0n1')],
    { driver_internal_info: { agent_continue_if_secure_erase_failed: true } },
    { run, io: fakeDiskIo(disks) },
  );
  assert.match(String(r['/dev/nvme0n1']), /^overwrite: /);
  assert.ok(allZero(disks['/dev/nvme0n1']!));
}

test('a firmware erase that reports success but leaves the data fails the step', async () => {
  const disks = disksFor('/dev/nvme0n1');
  const run = fakeRunner([['nvme id-ctrl', '{"oacs":6,"fna":4}']]); // "format" succeeds and does nothing
  await assert.rejects(eraseDevices([dev('/dev/nvme0n1')], {}, { run, io: fakeDiskIo(disks) }), (e: unknown) =>
    /"\/dev\/nvme0n1": nvme_crypto_erase of \/dev\/nvme0n1 reported success but 16 of 16 sampled blocks still hold their old data/.test(
      (e as { details: string }).details,
    ),
  );
  await overwritesWhenAllowed(run, disks);
});

test('NVMe without Format NVM: the step fails naming the knobs (IPA), unless the overwrite is allowed', async () => {
  const run = fakeRunner([['nvme id-ctrl', '{"oacs":0,"fna":4}']]);
  const disks = disksFor('/dev/nvme0n1');
  await assert.rejects(eraseDevices([dev('/dev/nvme0n1')], {}, { run, io: fakeDiskIo(disks) }), (e: unknown) =>
    /does not support Format NVM.*agent_continue_if_secure_erase_failed/.test((e as { details: string }).details),
  );
  assert.ok(!allZero(disks['/dev/nvme0n1']!), 'nothing written');
  await overwritesWhenAllowed(run, disks);
  // Output that is not JSON is the same kind of failure, not a crash.
  const garbled = fakeRunner([['nvme id-ctrl', '']]);
  await assert.rejects(
    eraseDevices([dev('/dev/nvme0n1')], {}, { run: garbled, io: fakeDiskIo(disksFor('/dev/nvme0n1')) }),
    BlockDeviceEraseError,
  );
});

test('erase_devices_express: a failed NVMe erase falls back to the metadata wipe and says why (IPA); both failing fails the step', async (t) => {
  // A regular file named like an NVMe namespace stands in for the disk (the metadata wipe writes to it).
  const dir = mkdtempSync(join(tmpdir(), 'express-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const nvme = join(dir, 'nvme0n1');
  const sysRoot = join(dir, 'sys');
  mkdirSync(join(sysRoot, 'class/block/nvme0n1'), { recursive: true });
  writeFileSync(join(sysRoot, 'class/block/nvme0n1/ro'), '0\n');
  for (const [why, answers] of [
    ['no format', [['nvme id-ctrl', '{"oacs":0}']]],
    [
      'format fails',
      [
        ['nvme id-ctrl', '{"oacs":2}'],
        ['nvme format', new Error('format: Invalid Field')],
      ],
    ],
    ['format ignored', [['nvme id-ctrl', '{"oacs":2}']]],
  ] as Array<[string, Array<[string, string | Error]>]>) {
    writeFileSync(nvme, Buffer.alloc(1 << 20, 0xa5));
    const run = fakeRunner(answers);
    const r = await eraseDevicesExpress(
      [dev(nvme)],
      {},
      { run, sysRoot, vmediaDevice: null, io: fakeDiskIo({ [nvme]: fakeDisk(1 << 20) }) },
    );
    assert.ok(String(r[nvme]).startsWith(`${EXPRESS_METADATA_ONLY}; NVMe secure erase failed: `), `${why}: ${r[nvme]}`);
    assert.ok(run.calls.includes(`wipefs --force --all ${nvme}`), `${why}: signatures wiped\n${run.calls.join('\n')}`);
    const head = readFileSync(nvme).subarray(0, 33 * 512);
    assert.ok(
      head.every((b) => b === 0),
      `${why}: the primary GPT area is zeroed`,
    );
  }
  const both = fakeRunner([
    ['nvme id-ctrl', '{"oacs":0}'],
    ['wipefs --force --all', new Error('wipefs: device busy')],
  ]);
  await assert.rejects(
    eraseDevicesExpress([dev(nvme)], {}, { run: both, sysRoot, vmediaDevice: null, io: fakeDiskIo({ [nvme]: fakeDisk(1 << 20) }) }),
    (e: unknown) =>
      /NVMe secure erase failed: .*Format NVM.*the metadata wipe after it failed too/.test((e as { details: string }).details),
  );
});

test('ATA secure erase only where smartctl -d ata reaches the drive (not behind a bridge); without smartctl, as IPA, it goes ahead', async () => {
  const missing = new ExecError(
    ['smartctl'],
    null,
    '',
    'spawn smartctl ENOENT',
    Object.assign(new Error('spawn smartctl ENOENT'), { code: 'ENOENT' }),
  );
  for (const [why, answer, erases] of [
    ['unavailable', 'ATA Security is:  Unavailable\n', false],
    ['smartctl fails', new ExecError(['smartctl'], 2, '', 'Smartctl open device: /dev/sda failed: No such device'), false],
    ['available', 'ATA Security is:  Disabled, NOT FROZEN [SEC1]\n', true],
    ['not installed', missing, true],
  ] as Array<[string, string | Error, boolean]>) {
    const run = fakeRunner([
      ['hdparm -I', HDPARM('not\tenabled')],
      ['smartctl -d ata /dev/sda -g security', answer],
    ]);
    const m = await eraseAta('/dev/sda', run);
    assert.equal(m, erases ? 'ata_enhanced_secure_erase' : null, why);
    assert.equal(
      run.calls.some((c) => c.includes('--security-set-pass')),
      erases,
      `${why}\n${run.calls.join('\n')}`,
    );
  }
});
