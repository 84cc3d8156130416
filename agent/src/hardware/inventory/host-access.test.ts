/** Replay of recorded commands, and record → replay round trip on this machine. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ExecError } from '../../util/exec.js';
import { createRecordingHost } from '../../../test/tools/fixture-recorder.js';
import { commandKey, createHostAccess } from './host-access.js';
import { collectInventory } from './index.js';

const tmp = await mkdtemp(path.join(os.tmpdir(), 'ramforge-host-'));
after(() => rm(tmp, { recursive: true, force: true }));

describe('replayed commands', () => {
  it('maps argv to a file-safe key', () => {
    assert.equal(commandKey(['ipmitool', 'lan', 'print', '1']), 'ipmitool_lan_print_1');
    assert.equal(commandKey(['cat', '/proc/x y']), 'cat__proc_x_y');
  });
  it('replays stdout, stderr and exit codes; absent recordings look like a missing program', async () => {
    const root = path.join(tmp, 'replay');
    await mkdir(path.join(root, '.commands'), { recursive: true });
    await writeFile(path.join(root, '.commands', 'tool_ok.out'), 'hello');
    await writeFile(path.join(root, '.commands', 'tool_bad.out'), '');
    await writeFile(path.join(root, '.commands', 'tool_bad.err'), 'Invalid channel');
    await writeFile(path.join(root, '.commands', 'tool_bad.rc'), '1');
    const host = createHostAccess({ root });
    assert.equal((await host.run(['tool', 'ok'])).stdout, 'hello');
    await assert.rejects(
      host.run(['tool', 'bad']),
      (e: unknown) => e instanceof ExecError && e.code === 1 && e.stderr === 'Invalid channel',
    );
    assert.equal((await host.run(['tool', 'bad'], { okCodes: [0, 1] })).code, 1);
    await assert.rejects(host.run(['other']), (e: unknown) => e instanceof ExecError && e.code === null);
    assert.equal(await host.hasCommand('tool'), true);
    assert.equal(await host.hasCommand('other'), false);
  });
  it('treats any file as a char device only when replaying', async () => {
    const root = path.join(tmp, 'dev');
    await mkdir(path.join(root, 'dev'), { recursive: true });
    await writeFile(path.join(root, 'dev', 'ipmi0'), '');
    assert.equal(await createHostAccess({ root }).isCharDevice('/dev/ipmi0'), true);
    assert.equal(await createHostAccess().isCharDevice('/proc/cpuinfo'), false);
  });
});

describe('fixture recorder', () => {
  it('records this machine so that a replay gives the live inventory', async () => {
    const out = path.join(tmp, 'rec');
    const live = await collectInventory({ bootif: '01-aa-bb-cc-dd-ee-ff' });
    const recorded = await collectInventory({ host: createRecordingHost(out), bootif: '01-aa-bb-cc-dd-ee-ff' });
    const replayed = await collectInventory({ root: out, bootif: '01-aa-bb-cc-dd-ee-ff' });
    assert.deepEqual(recorded, live);
    assert.deepEqual(replayed, live);
  });
});

describe('fixture recorder on a /dev/disk/by-path tree', () => {
  it('keeps by-path links resolvable when replayed', async () => {
    // A fake "live" root standing in for a machine without a udev database.
    const liveRoot = path.join(tmp, 'live');
    await mkdir(path.join(liveRoot, 'dev/disk/by-path'), { recursive: true });
    await writeFile(path.join(liveRoot, 'dev/sda'), '');
    const { symlink } = await import('node:fs/promises');
    await symlink('../../sda', path.join(liveRoot, 'dev/disk/by-path/pci-0000:00:17.0-ata-1'));
    const out = path.join(tmp, 'rec-bypath');
    const live = createHostAccess({
      root: liveRoot,
      run: async () => {
        throw new ExecError(['x'], null, '', 'absent');
      },
    });
    const rec = createRecordingHost(out, { ...live, root: liveRoot });
    assert.equal(await rec.realPath('/dev/disk/by-path/pci-0000:00:17.0-ata-1'), '/dev/sda');
    assert.equal(await createHostAccess({ root: out }).realPath('/dev/disk/by-path/pci-0000:00:17.0-ata-1'), '/dev/sda');
  });
});
