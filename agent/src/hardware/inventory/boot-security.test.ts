import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { collectBootSecurity, parseLockdown, parseLockdownDenials } from './boot-security.js';
import { createHostAccess } from './host-access.js';

test('parseLockdown: the bracketed mode, null when unknown', () => {
  assert.equal(parseLockdown('none [integrity] confidentiality\n'), 'integrity');
  assert.equal(parseLockdown('[none] integrity confidentiality'), 'none');
  assert.equal(parseLockdown(undefined), null);
  assert.equal(parseLockdown('garbage'), null);
});

test('collectBootSecurity: Secure Boot from the EFI variable, lockdown from securityfs, what lockdown takes', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'rf-bootsec-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const host = createHostAccess({ root });
  return (async () => {
    assert.deepEqual(
      await collectBootSecurity(host),
      { secure_boot: false, lockdown: null, lockdown_unavailable: [], lockdown_denied: [] },
      'BIOS',
    );
    mkdirSync(join(root, 'sys/firmware/efi/efivars'), { recursive: true });
    assert.equal((await collectBootSecurity(host)).secure_boot, null, 'UEFI without the variable: unknown');
    writeFileSync(join(root, 'sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c'), Buffer.from([6, 0, 0, 0, 1]));
    mkdirSync(join(root, 'sys/kernel/security'), { recursive: true });
    writeFileSync(join(root, 'sys/kernel/security/lockdown'), 'none [integrity] confidentiality\n');
    mkdirSync(join(root, '.commands'));
    writeFileSync(join(root, '.commands/dmesg.out'), '[ 5.6] Lockdown: swapper/0: hibernation is restricted; see man kernel_lockdown.7\n');
    const on = await collectBootSecurity(host);
    assert.deepEqual(on.lockdown_denied, ['swapper/0: hibernation']);
    assert.equal(on.secure_boot, true);
    assert.equal(on.lockdown, 'integrity');
    assert.match(on.lockdown_unavailable[0]!, /no \/sys\/firmware\/dmi\/tables/);
    mkdirSync(join(root, 'sys/firmware/dmi/tables'), { recursive: true });
    writeFileSync(join(root, 'sys/firmware/dmi/tables/DMI'), '');
    assert.match((await collectBootSecurity(host)).lockdown_unavailable[0]!, /read DMI from \/sys\/firmware\/dmi instead/);
  })();
});

test('parseLockdownDenials: one entry per program and thing refused', () => {
  const dmesg = [
    '[    5.689871] Lockdown: swapper/0: hibernation is restricted; see man kernel_lockdown.7',
    '[   12.000001] Lockdown: lshw: /dev/mem,kmem,port is restricted; see man kernel_lockdown.7',
    '[   13.000001] Lockdown: lshw: /dev/mem,kmem,port is restricted; see man kernel_lockdown.7',
    '[   14.000000] virtio_net virtio0 eth0: renamed',
  ].join('\n');
  assert.deepEqual(parseLockdownDenials(dmesg), ['swapper/0: hibernation', 'lshw: /dev/mem,kmem,port']);
  assert.deepEqual(parseLockdownDenials(undefined), []);
});
