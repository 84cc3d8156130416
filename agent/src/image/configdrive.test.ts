/** The config-drive partition of a whole-disk image: GPT detection (512-byte and 4Kn layouts) and MBR slot counting. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DeploymentError } from '../errors.js';
import type { ExecOptions, ProgramRunner } from '../util/exec.js';
import { createMemoryLog } from '../../test/support/logs.js';
import { configDriveFilesystem, configDriveMb, createConfigDrivePartition, fetchConfigDrive, installConfigDrive } from './configdrive.js';
import { hasGpt } from './disk-ids.js';

const dir = mkdtempSync(join(tmpdir(), 'rf-configdrive-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function disk(name: string, headerAt?: number): string {
  const buf = Buffer.alloc(64 * 1024);
  if (headerAt !== undefined) buf.write('EFI PART', headerAt, 'latin1');
  const path = join(dir, name);
  writeFileSync(path, buf);
  return path;
}

test('hasGpt: the header at LBA 1 of a 512-byte or a 4Kn layout; none elsewhere', async () => {
  assert.equal(await hasGpt(disk('gpt512', 512)), true);
  assert.equal(await hasGpt(disk('gpt4k', 4096)), true);
  assert.equal(await hasGpt(disk('mbr')), false);
  assert.equal(await hasGpt(disk('elsewhere', 1024)), false);
  const tiny = join(dir, 'tiny');
  writeFileSync(tiny, Buffer.alloc(600));
  assert.equal(await hasGpt(tiny), false);
});

test('MBR: logical partitions do not take a primary slot (IPA counts partitions 1-4 only)', async () => {
  const dev = disk('mbr-disk');
  const calls: string[] = [];
  const runner = (listing: string): ProgramRunner =>
    (async (argv: string[], _o?: ExecOptions) => {
      calls.push(argv.join(' '));
      if (argv[0] === 'parted' && argv.includes('print')) return { stdout: listing, stderr: '', code: 0 };
      if (argv[0] === 'blockdev') return { stdout: String(64 << 30), stderr: '', code: 0 };
      return { stdout: '', stderr: '', code: 0 };
    }) as ProgramRunner;
  const head = 'BYT;\n/dev/sda:65536MiB:scsi:512:512:msdos:QEMU HARDDISK:;\n';
  // 1 primary, 2 extended holding 5 and 6: two slots left, so the partition is made (the file then has none to find).
  await assert.rejects(
    createConfigDrivePartition(
      dev,
      runner(
        `${head}1:1MiB:1000MiB:999MiB:ext4::boot;\n2:1000MiB:3000MiB:2000MiB:::;\n5:1001MiB:2000MiB:999MiB:ext4::;\n6:2001MiB:3000MiB:999MiB:ext4::;\n`,
      ),
    ),
    (e: unknown) => e instanceof DeploymentError && /Could not find the new config drive partition/.test(e.details),
  );
  assert.ok(
    calls.some((c) => c.includes('mkpart primary fat32')),
    calls.join('\n'),
  );
  calls.length = 0;
  await assert.rejects(
    createConfigDrivePartition(
      dev,
      runner(`${head}1:1MiB:2MiB:1MiB:::;\n2:2MiB:3MiB:1MiB:::;\n3:3MiB:4MiB:1MiB:::;\n4:4MiB:5MiB:1MiB:::;\n`),
    ),
    (e: unknown) => e instanceof DeploymentError && /already has 4 primary MBR partitions/.test(e.details),
  );
  assert.ok(!calls.some((c) => c.includes('mkpart')));
});

test('two config-2 partitions in the image are an error naming both (IPA), not the first taken', async () => {
  const run = (async (argv: string[], _o?: ExecOptions) => {
    if (argv[0] === 'lsblk') return { stdout: '/dev/null1 part\n/dev/null2 part\n/dev/null3 part\n', stderr: '', code: 0 };
    if (argv[0] === 'blkid') return { stdout: argv.at(-1) === '/dev/null2' ? 'data\n' : 'config-2\n', stderr: '', code: 0 };
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  // /dev/null is not a regular file, so its "partitions" come from the fake lsblk.
  await assert.rejects(
    createConfigDrivePartition('/dev/null', run),
    (e: unknown) => e instanceof DeploymentError && /\/dev\/null1 and \/dev\/null3/.test(e.details),
  );
});

/**
 * installConfigDrive with a fake mount: the ISO's "mount" fills the mount
 * point with files; the content of the vfat's mount point (named by its own
 * `mount -t vfat` argv) is captured at its umount; every umount empties its
 * directory, as a real one leaves it. `fail` names the steps that fail;
 * `isoType` is what blkid finds in the staged ISO file.
 */
function fakeMounts(fail: { check?: boolean; isoMount?: boolean; mkfs?: boolean } = {}, isoType = '', sector = 4096) {
  const calls: string[] = [];
  const copied: Record<string, string> = {};
  let vfatAt = '';
  const run = (async (argv: string[], _o?: ExecOptions) => {
    calls.push(argv.join(' '));
    const fails = (what: string) => Promise.reject(new Error(`${what} failed`));
    const mnt = argv.at(-1)!;
    if (argv[0] === 'mount' && argv.includes('loop,ro')) {
      if (fail.isoMount) return fails('mount of the ISO');
      mkdirSync(join(mnt, 'openstack/latest'), { recursive: true });
      writeFileSync(join(mnt, 'openstack/latest/meta_data.json'), '{"uuid": "u"}');
      writeFileSync(join(mnt, 'openstack/latest/user_data'), '#cloud-config\n');
    } else if (argv[0] === 'mount' && argv.includes('vfat')) {
      vfatAt = mnt;
    } else if (argv[0] === 'mount' && argv.includes('auto')) {
      if (fail.check) return fails('isofs: unsupported/invalid hardware sector size 4096; mount');
    } else if (argv[0] === 'mkfs.vfat' && fail.mkfs) {
      return fails('mkfs.vfat');
    } else if (argv[0] === 'blockdev' && argv[1] === '--getss') {
      return { stdout: `${sector}\n`, stderr: '', code: 0 };
    } else if (argv[0] === 'blkid') {
      return { stdout: isoType, stderr: '', code: isoType ? 0 : 2 };
    } else if (argv[0] === 'umount') {
      if (mnt === vfatAt) {
        for (const f of readdirSync(mnt, { recursive: true, withFileTypes: true }))
          if (f.isFile()) copied[join(f.parentPath, f.name).slice(mnt.length + 1)] = readFileSync(join(f.parentPath, f.name), 'utf8');
      }
      for (const e of readdirSync(mnt)) rmSync(join(mnt, e), { recursive: true });
    }
    return { stdout: '', stderr: '', code: 0 };
  }) as ProgramRunner;
  return { run, calls, copied };
}

test('installConfigDrive: an ISO that mounts where it was written stays as it is; one that does not (4Kn) is rebuilt as vfat CONFIG-2 with its files', async () => {
  const iso = Buffer.alloc(64 << 10, 0x49);
  const part = join(dir, 'cd-part');
  writeFileSync(part, Buffer.alloc(2 << 20, 0xee));

  let f = fakeMounts();
  assert.equal(await installConfigDrive(part, iso, { run: f.run, tmpDir: dir }), 'as-given');
  assert.ok(readFileSync(part).subarray(0, iso.length).equals(iso));
  assert.ok(!f.calls.some((c) => c.startsWith('mkfs')), f.calls.join('\n'));

  // On 512-byte sectors a check that fails (a ramdisk without isofs) leaves the ISO: the instance can read it.
  f = fakeMounts({ check: true }, '', 512);
  const kept = createMemoryLog();
  assert.equal(await installConfigDrive(part, iso, { run: f.run, tmpDir: dir, log: kept }), 'as-given');
  assert.match(kept.lines.join('\n'), /cannot be mounted by the ramdisk .*left as written \(512-byte sectors suit ISO9660\)/);
  assert.ok(!f.calls.some((c) => c.startsWith('mkfs')));

  f = fakeMounts({ check: true });
  const log = createMemoryLog();
  writeFileSync(part, Buffer.alloc(2 << 20, 0xee));
  assert.equal(await installConfigDrive(part, iso, { run: f.run, tmpDir: dir, log }), 'rebuilt-vfat');
  assert.match(log.lines.join('\n'), /cannot be mounted there \(.*hardware sector size 4096.*\); rebuilding it as a vfat/);
  // 4 KiB clusters: one 4096-byte sector each.
  assert.ok(f.calls.includes(`mkfs.vfat -s 1 -n CONFIG-2 ${part}`), f.calls.join('\n'));
  assert.ok(f.calls.indexOf('modprobe loop') < f.calls.findIndex((c) => c.includes('loop,ro')), 'the loop driver first');
  assert.deepEqual(f.copied, { 'openstack/latest/meta_data.json': '{"uuid": "u"}', 'openstack/latest/user_data': '#cloud-config\n' });
  // The ISO's descriptors are gone before mkfs (which leaves most of them): zeroed (up to 1 MiB; a file partition is the ISO's size).
  assert.ok(readFileSync(part).every((b) => b === 0));
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('rf-configdrive-')),
    [],
    'the temporary ISO is removed',
  );
});

test('installConfigDrive: config_drive_rebuild skips the ISO write and the check; content that is no filesystem stays as written; the rest is a DeploymentError', async () => {
  const iso = Buffer.alloc(4096, 0x49);
  const part = join(dir, 'cd-part2');
  writeFileSync(part, Buffer.alloc(1 << 20, 0xee));

  let f = fakeMounts();
  assert.equal(await installConfigDrive(part, iso, { run: f.run, tmpDir: dir, rebuild: true }), 'rebuilt-vfat');
  assert.ok(!f.calls.some((c) => c.includes('-t auto') && !c.includes('loop')), 'no mount check');
  assert.ok(!readFileSync(part).includes(iso), 'no dd of the ISO first, as IPA in that mode');

  // Not a filesystem blkid knows: left as written, as IPA (in rebuild mode, written then).
  for (const rebuild of [false, true]) {
    writeFileSync(part, Buffer.alloc(1 << 20, 0xee));
    f = fakeMounts({ check: true, isoMount: true });
    const log = createMemoryLog();
    assert.equal(await installConfigDrive(part, iso, { run: f.run, tmpDir: dir, log, rebuild }), 'unreadable');
    assert.match(log.lines.at(-1)!, /holds no filesystem the agent knows \(mount of the ISO failed\); it stays on .*cd-part2 as written/);
    assert.ok(readFileSync(part).subarray(0, iso.length).equals(iso), 'what was written stays');
    assert.ok(!f.calls.some((c) => c.startsWith('mkfs')));
  }

  // An ISO the ramdisk cannot loop-mount (no loop devices, no isofs): the instance could not read it either.
  f = fakeMounts({ check: true, isoMount: true }, 'iso9660\n');
  await assert.rejects(
    installConfigDrive(part, iso, { run: f.run, tmpDir: dir }),
    (e: unknown) =>
      e instanceof DeploymentError &&
      /config drive \(iso9660\) cannot be mounted on .*needs loop devices and iso9660 support/.test(e.details),
  );
  // No room to stage it.
  await assert.rejects(
    installConfigDrive(part, iso, { run: fakeMounts({ check: true }).run, tmpDir: join(dir, 'missing') }),
    (e: unknown) => e instanceof DeploymentError && /Could not put the config drive in .*missing to rebuild it/.test(e.details),
  );

  f = fakeMounts({ check: true, mkfs: true });
  await assert.rejects(
    installConfigDrive(part, iso, { run: f.run, tmpDir: dir }),
    (e: unknown) =>
      e instanceof DeploymentError && /Rebuilding the config drive on .*cd-part2 as vfat failed: mkfs.vfat failed/.test(e.details),
  );
  assert.ok(
    f.calls.some((c) => c.startsWith('umount')),
    'the ISO is unmounted after the failure',
  );
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('rf-configdrive-')),
    [],
  );
});

test('configDriveMb: the ISO size as IPA; twice and 1 MiB more where it becomes vfat', () => {
  assert.equal(configDriveMb(Buffer.alloc(10), false), 1);
  assert.equal(configDriveMb(Buffer.alloc((1 << 20) + 1), false), 2);
  assert.equal(configDriveMb(Buffer.alloc(518 << 10), true), 3);
});

/** Enough of an ISO 9660 image for the magic: "CD001" in the primary volume descriptor at 32 KiB. */
function isoLike(): Buffer {
  const b = Buffer.alloc(0x8800);
  b.write('\x01CD001\x01', 0x8000, 'latin1');
  return b;
}

/** A FAT boot sector as mkfs.vfat writes it (FAT16: type at 54; FAT32: at 82). */
function fatLike(kind: 'FAT16' | 'FAT32'): Buffer {
  const b = Buffer.alloc(4096);
  b.write(`${kind}   `, kind === 'FAT32' ? 82 : 54, 'latin1');
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

test('fetchConfigDrive: base64(gzip(ISO)) and base64 of a bare ISO or FAT image decode to the image', async () => {
  const iso = isoLike();
  assert.ok((await fetchConfigDrive(gzipSync(iso).toString('base64'))).equals(iso));
  // Line breaks in the base64 are ignored (as Python's b64decode does).
  assert.ok(
    (
      await fetchConfigDrive(
        gzipSync(iso)
          .toString('base64')
          .replace(/(.{76})/g, '$1\n'),
      )
    ).equals(iso),
  );
  assert.ok((await fetchConfigDrive(iso.toString('base64'))).equals(iso));
  for (const kind of ['FAT16', 'FAT32'] as const) {
    const fat = fatLike(kind);
    assert.ok((await fetchConfigDrive(gzipSync(fat).toString('base64'))).equals(fat));
    assert.equal(configDriveFilesystem(fat), 'vfat');
  }
  assert.equal(configDriveFilesystem(iso), 'iso9660');
});

test('fetchConfigDrive: an inline string that is not base64, or bytes that are no ISO 9660 or FAT image, fail the deploy', async () => {
  await assert.rejects(fetchConfigDrive('this is not a config drive!'), (e: unknown) => {
    assert.ok(e instanceof DeploymentError);
    assert.match((e as DeploymentError).details, /not base64 encoded/);
    return true;
  });
  for (const bytes of [Buffer.alloc(300 << 10, 0xa5), Buffer.from('{"meta_data": {}}'), Buffer.alloc(0x8800)]) {
    await assert.rejects(fetchConfigDrive(gzipSync(bytes).toString('base64')), (e: unknown) => {
      assert.ok(e instanceof DeploymentError);
      assert.match((e as DeploymentError).details, /neither an ISO 9660 nor a FAT filesystem image/);
      return true;
    });
  }
});

test('fetchConfigDrive: a URL may answer the image itself (not base64) or its base64(gzip); anything else names the URL', async () => {
  const iso = isoLike();
  const server = http.createServer((req, res) => {
    if (req.url === '/raw.iso') res.end(iso);
    else if (req.url === '/cd.gz.b64') res.end(gzipSync(iso).toString('base64'));
    else res.end(Buffer.alloc(4096, 7));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.ok((await fetchConfigDrive(`${base}/raw.iso`)).equals(iso));
    assert.ok((await fetchConfigDrive(`${base}/cd.gz.b64`)).equals(iso));
    await assert.rejects(fetchConfigDrive(`${base}/junk`), (e: unknown) => {
      assert.match((e as DeploymentError).details, new RegExp(`downloaded from ${base}/junk.*neither an ISO 9660`));
      return true;
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
