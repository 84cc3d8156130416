import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { mergeCloudConfigs, parseCloudConfig, underscoreKeys, type CloudConfig } from './cloud-config.js';
import { AGENT_UNIT, DEFAULT_CLOUD_CONFIG, oemFiles } from './oem.js';

test("the repository's cloud-config is valid and has IPA's units", async () => {
  const { cloudConfig } = await oemFiles({ runtime: 'chroot', overlays: [], authorizedKeys: [] });
  const c = parseCloudConfig(cloudConfig, 'rendered');
  const units = new Map((c.coreos?.units ?? []).map((u) => [u.name, u]));
  for (const m of ['user-configdrive.service', 'usr-share-oem.mount', 'update-engine.service']) assert.equal(units.get(m)?.mask, true, m);
  const agent = units.get(AGENT_UNIT)?.content ?? '';
  for (const mod of ['ipmi_msghandler', 'ipmi_devintf', 'ipmi_si']) assert.match(agent, new RegExp(`ExecStartPre=-/sbin/modprobe ${mod}`));
  assert.match(agent, /ExecStart=\/usr\/bin\/chroot \/opt\/ironic-python-agent .*\/usr\/local\/bin\/ironic-python-agent/);
  assert.match(agent, /Restart=always/);
  assert.match(agent, /RestartSec=30s/);
  assert.match(
    units.get('ironic-python-agent-embed-ssh-keys.service')?.content ?? '',
    /update-ssh-keys -a oem \/usr\/share\/oem\/authorized_keys/,
  );
  assert.match(units.get('ironic-python-agent-container-creation.service')?.content ?? '', /tar -x --no-xattrs .*container\.tar\.gz/);
  assert.match(
    units.get('opt-ironic\\x2dpython\\x2dagent-mnt.mount')?.content ?? '',
    /What=\/usr\/share\/oem\nWhere=\/opt\/ironic-python-agent\/mnt/,
  );
  for (const d of ['proc', 'dev', 'dev-pts', 'sys', 'run', 'mnt', 'usr-lib-modules'])
    assert.ok(units.has(`opt-ironic\\x2dpython\\x2dagent-${d}.mount`), d);
  // The host's kernel modules, read-only, for the agent's modprobe (the container has none).
  assert.match(
    units.get('opt-ironic\\x2dpython\\x2dagent-usr-lib-modules.mount')?.content ?? '',
    /What=\/usr\/lib\/modules\nWhere=\/opt\/ironic-python-agent\/usr\/lib\/modules\nType=none\nOptions=bind,ro\n/,
  );
  assert.match(agent, /^After=opt-ironic\\x2dpython\\x2dagent-usr-lib-modules\.mount$/m);
  assert.ok(units.has('ironic-python-agent-resolv.service'));
  assert.ok(units.has('setup-rescue-directories.service'));
  assert.equal(cloudConfig.split('\n')[0], '#cloud-config');
});

test('nspawn adds a drop-in replacing ExecStart, with a writable /sys of its own (not the host one bound)', async () => {
  const { cloudConfig } = await oemFiles({ runtime: 'nspawn', overlays: [], authorizedKeys: ['ssh-ed25519 AAAA k'] });
  const agent = (parse(cloudConfig) as CloudConfig).coreos?.units?.find((u) => u.name === AGENT_UNIT);
  assert.match(
    agent?.drop_ins?.[0]?.content ?? '',
    /^\[Service\]\nEnvironment=SYSTEMD_NSPAWN_API_VFS_WRITABLE=1\nExecStart=\nExecStart=\/usr\/bin\/systemd-nspawn .*--bind=\/usr\/share\/oem:\/mnt/,
  );
  assert.doesNotMatch(agent?.drop_ins?.[0]?.content ?? '', /--bind=\/sys\b/);
  assert.match(agent?.drop_ins?.[0]?.content ?? '', / --bind-ro=\/usr\/lib\/modules /, "the host's kernel modules, read-only");
});

test('errors name the file, the path and the fix', () => {
  assert.throws(() => parseCloudConfig('coreos: {}\n', 'a.yml'), /a\.yml: \(first line\): is not '#cloud-config'/);
  assert.throws(
    () => parseCloudConfig('#cloud-config\ncoreos:\n  units:\n    - name: x.service\n      comand: start\n', 'b.yml'),
    /b\.yml: coreos\.units\[0\]\.comand: unknown key 'comand' \(did you mean 'command'\?\)/,
  );
  assert.throws(
    () => parseCloudConfig('#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 644\n', 'c.yml'),
    /c\.yml: write_files\[0\]\.permissions: expected a string, got integer/,
  );
  assert.throws(
    () => parseCloudConfig('#cloud-config\ncoreos:\n  units:\n    - name: nosuffix\n', 'd.yml'),
    /d\.yml: coreos\.units\[0\]\.name: "nosuffix" is not valid/,
  );
  assert.throws(() => parseCloudConfig('#cloud-config\nhostnam: x\n', 'e.yml'), /did you mean 'hostname'/);
});

test("'-' and '_' in keys are the same, as in coreos-cloudinit", () => {
  const c = parseCloudConfig(
    '#cloud-config\nssh-authorized-keys: [k1]\ncoreos:\n  units:\n    - name: a.service\n      drop-ins: [{name: x.conf, content: "a-b: c"}]\n',
    'f',
  );
  assert.deepEqual(c.ssh_authorized_keys, ['k1']);
  assert.deepEqual(c.coreos?.units?.[0]?.drop_ins, [{ name: 'x.conf', content: 'a-b: c' }]);
  assert.deepEqual(underscoreKeys({ 'a-b': ['c-d'] }), { a_b: ['c-d'] });
});

test('overlays merge: units by name (later wins, drop-ins added), write_files by path, keys appended', () => {
  const base: CloudConfig = {
    coreos: {
      units: [
        { name: 'a.service', content: 'A', command: 'start', drop_ins: [{ name: '1.conf', content: 'one' }] },
        { name: 'b.service', mask: true },
      ],
    },
    write_files: [{ path: '/etc/x', content: 'x1' }],
    ssh_authorized_keys: ['k1'],
    hostname: 'h1',
  };
  const site: CloudConfig = {
    coreos: {
      units: [
        { name: 'a.service', content: 'A2', drop_ins: [{ name: '2.conf', content: 'two' }] },
        { name: 'c.service', content: 'C' },
      ],
    },
    write_files: [
      { path: '/etc/x', content: 'x2' },
      { path: '/etc/y', content: 'y' },
    ],
    ssh_authorized_keys: ['k2'],
  };
  assert.deepEqual(mergeCloudConfigs([base, site]), {
    coreos: {
      units: [
        {
          name: 'a.service',
          content: 'A2',
          command: 'start',
          drop_ins: [
            { name: '1.conf', content: 'one' },
            { name: '2.conf', content: 'two' },
          ],
        },
        { name: 'b.service', mask: true },
        { name: 'c.service', content: 'C' },
      ],
    },
    write_files: [
      { path: '/etc/x', content: 'x2' },
      { path: '/etc/y', content: 'y' },
    ],
    ssh_authorized_keys: ['k1', 'k2'],
    hostname: 'h1',
  });
});

test('site files are merged in order and checked; authorized_keys from the spec', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cloud-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const site = join(dir, 'site.yml');
  writeFileSync(
    site,
    `#cloud-config\ncoreos:\n  units:\n    - name: ${AGENT_UNIT}\n      drop-ins:\n        - name: 10-debug.conf\n          content: "[Service]\\nEnvironment=DEBUG=1\\n"\n`,
  );
  const oem = await oemFiles({ runtime: 'chroot', overlays: [site], authorizedKeys: ['ssh-ed25519 AAAA one', 'ssh-rsa AAAB two'] });
  const agent = (parse(oem.cloudConfig) as CloudConfig).coreos?.units?.find((u) => u.name === AGENT_UNIT);
  assert.match(agent?.content ?? '', /chroot/);
  assert.deepEqual(
    agent?.drop_ins?.map((d) => d.name),
    ['10-debug.conf'],
  );
  assert.equal(oem.authorizedKeys, 'ssh-ed25519 AAAA one\nssh-rsa AAAB two\n');
  assert.deepEqual(oem.sources, [DEFAULT_CLOUD_CONFIG, site]);
  const bad = join(dir, 'bad.yml');
  writeFileSync(bad, '#cloud-config\nusers:\n  - name: core\n    shell: bash\n');
  await assert.rejects(
    oemFiles({ runtime: 'chroot', overlays: [bad], authorizedKeys: [] }),
    /bad\.yml: users\[0\]\.shell: "bash" is not valid/,
  );
});

test("rescue: the host's hand-over units and script, the agent's condition; rescue: false drops them and the rescue directory", async () => {
  const on = parseCloudConfig((await oemFiles({ runtime: 'nspawn', overlays: [], authorizedKeys: [] })).cloudConfig, 'on');
  const units = new Map((on.coreos?.units ?? []).map((u) => [u.name, u]));
  assert.match(units.get(AGENT_UNIT)?.content ?? '', /^ConditionPathExists=!\/opt\/ironic-python-agent\/etc\/\.rescued$/m);
  assert.match(units.get('ramforge-rescue.path')?.content ?? '', /^PathExists=\/opt\/ironic-python-agent\/etc\/\.rescued$/m);
  assert.equal(units.get('ramforge-rescue.path')?.command, 'start');
  assert.match(units.get('ramforge-rescue.service')?.content ?? '', /^ExecStart=\/usr\/local\/sbin\/ramforge-rescue$/m);
  const script = on.write_files?.find((f) => f.path === '/usr/local/sbin/ramforge-rescue');
  assert.equal(script?.permissions, '0755');
  for (const step of [
    /useradd .*--groups "\$group" --password "\$hash" rescue/,
    /NOPASSWD: ALL/,
    /Match User rescue/,
    /restart systemd-networkd/,
  ])
    assert.match(script?.content ?? '', step);
  assert.match(JSON.stringify(on), /ipa-rescue-config/);

  const off = parseCloudConfig((await oemFiles({ runtime: 'nspawn', overlays: [], authorizedKeys: [], rescue: false })).cloudConfig, 'off');
  const names = (off.coreos?.units ?? []).map((u) => u.name);
  assert.ok(!names.includes('ramforge-rescue.path') && !names.includes('ramforge-rescue.service'));
  assert.equal(off.write_files?.length ?? 0, 0);
  assert.doesNotMatch(JSON.stringify(off), /ipa-rescue-config/, 'no rescue directory: the agent refuses finalize_rescue');
  assert.match(JSON.stringify(off), /--bind=\/etc\/ramforge /, 'the other binds stay');
  assert.ok(names.includes('setup-rescue-directories.service'), 'the unit stays for the other shared directories');
});

test("network_data.json: the host loads the chrooted agent's networkd files when it asks (/run/ramforge/networkd-reload), before the agent starts", async () => {
  const c = parseCloudConfig((await oemFiles({ runtime: 'chroot', overlays: [], authorizedKeys: [] })).cloudConfig, 'chroot');
  const units = c.coreos?.units ?? [];
  const names = units.map((u) => u.name);
  const path = units.find((u) => u.name === 'ramforge-networkd-reload.path');
  const service = units.find((u) => u.name === 'ramforge-networkd-reload.service');
  // The agent's NETWORKD_RELOAD_REQUEST (agent/src/network-data.ts), under the host's /run bound into the chroot.
  assert.match(path?.content ?? '', /^PathModified=\/run\/ramforge\/networkd-reload$/m);
  assert.match(path?.content ?? '', /^Unit=ramforge-networkd-reload\.service$/m);
  assert.equal(path?.command, 'start');
  assert.ok(names.indexOf('ramforge-networkd-reload.path') < names.indexOf(AGENT_UNIT), 'started before the agent');
  assert.match(
    service?.content ?? '',
    /^ExecStart=\/bin\/sh -c 'networkctl reload 2>\/dev\/null \|\| systemctl try-restart systemd-networkd\.service'$/m,
  );
  assert.match(service?.content ?? '', /^Type=oneshot$/m);
  const agent = units.find((u) => u.name === AGENT_UNIT)?.content ?? '';
  assert.match(agent, /^Wants=ramforge-networkd-reload\.path$/m);
  assert.match(agent, /^After=ramforge-networkd-reload\.path$/m);
  // The chroot binds the host's whole /run, so the agent's files and its request are the host's.
  assert.ok(names.includes('opt-ironic\\x2dpython\\x2dagent-run.mount'));
});

test("network_data.json under nspawn: the host's networkd directories and the agent's reload request are bound in, the path unit still starts", async () => {
  const c = parseCloudConfig((await oemFiles({ runtime: 'nspawn', overlays: [], authorizedKeys: [] })).cloudConfig, 'nspawn');
  const units = c.coreos?.units ?? [];
  const agent = units.find((u) => u.name === AGENT_UNIT);
  const dropIn = agent?.drop_ins?.[0]?.content ?? '';
  const execStart = dropIn.split('\n').find((l) => l.startsWith('ExecStart=/usr/bin/systemd-nspawn ')) ?? '';
  const args = execStart.split(' ');
  // agent/src/network-data.ts: networkdUnitPath (written), /run/systemd/netif (detection; links/<ifindex> polled),
  // NETWORKD_RELOAD_REQUEST (written).
  assert.ok(args.includes('--bind=/run/systemd/network'), execStart);
  assert.ok(args.includes('--bind-ro=/run/systemd/netif'), execStart);
  assert.ok(args.includes('--bind=/run/ramforge'), execStart);
  // Before the container's path (its last argument), and not all of /run (nspawn's /run/host).
  assert.equal(args.at(-1), '/usr/local/bin/ironic-python-agent');
  assert.ok(!args.includes('--bind=/run'), execStart);
  // nspawn fails on a missing bind source: the host makes them first.
  assert.match(dropIn, /^ExecStartPre=\/bin\/mkdir -p \/run\/systemd\/network \/run\/systemd\/netif \/run\/ramforge$/m);
  // The host's answer is not one of the chroot's units left out for nspawn.
  const path = units.find((u) => u.name === 'ramforge-networkd-reload.path');
  assert.equal(path?.command, 'start');
  assert.match(path?.content ?? '', /^PathModified=\/run\/ramforge\/networkd-reload$/m);
  assert.ok(units.some((u) => u.name === 'ramforge-networkd-reload.service'));
  assert.match(agent?.content ?? '', /^Wants=ramforge-networkd-reload\.path$/m);
  assert.match(agent?.content ?? '', /^After=ramforge-networkd-reload\.path$/m);
  // rescue: false keeps them.
  const off = parseCloudConfig((await oemFiles({ runtime: 'nspawn', overlays: [], authorizedKeys: [], rescue: false })).cloudConfig, 'off');
  const offDropIn = off.coreos?.units?.find((u) => u.name === AGENT_UNIT)?.drop_ins?.[0]?.content ?? '';
  for (const b of ['--bind=/run/systemd/network', '--bind-ro=/run/systemd/netif', '--bind=/run/ramforge'])
    assert.ok(offDropIn.includes(` ${b} `), b);
  assert.ok(off.coreos?.units?.some((u) => u.name === 'ramforge-networkd-reload.path'));
});

test("chroot on UEFI: efivarfs is bound into the agent's root on its own (the /sys bind is not recursive), when the host has it", async () => {
  const c = parseCloudConfig((await oemFiles({ runtime: 'chroot', overlays: [], authorizedKeys: [] })).cloudConfig, 'chroot');
  const unit = c.coreos?.units?.find((u) => u.name === 'opt-ironic\\x2dpython\\x2dagent-sys-firmware-efi-efivars.mount');
  assert.ok(unit, 'the efivarfs mount unit');
  assert.match(unit.content ?? '', /^What=\/sys\/firmware\/efi\/efivars\nWhere=\/opt\/ironic-python-agent\/sys\/firmware\/efi\/efivars$/m);
  assert.match(unit.content ?? '', /^ConditionPathIsMountPoint=\/sys\/firmware\/efi\/efivars$/m);
  assert.match(unit.content ?? '', /^After=opt-ironic\\x2dpython\\x2dagent-sys\.mount$/m);
  const sys = c.coreos?.units?.find((u) => u.name === 'opt-ironic\\x2dpython\\x2dagent-sys.mount');
  assert.match(sys?.content ?? '', /^Options=bind$/m, 'not rbind: unmounting a shared submount from here would unmount the host’s');
  const agent = c.coreos?.units?.find((u) => u.name === AGENT_UNIT);
  assert.match(agent?.content ?? '', /^After=opt-ironic\\x2dpython\\x2dagent-sys-firmware-efi-efivars\.mount$/m);
});

test('nspawn: no chroot bind mounts into the container (nspawn refuses a populated /dev), the agent unit does not require them', async () => {
  const c = parseCloudConfig((await oemFiles({ runtime: 'nspawn', overlays: [], authorizedKeys: [] })).cloudConfig, 'nspawn');
  const names = (c.coreos?.units ?? []).map((u) => u.name);
  assert.ok(!names.some((n) => /^opt-ironic\\x2dpython\\x2dagent-/.test(n)), names.join(' '));
  assert.ok(names.includes('opt-ironic\\x2dpython\\x2dagent.mount'), "the container's tmpfs stays");
  const agent = c.coreos?.units?.find((u) => u.name === AGENT_UNIT);
  assert.doesNotMatch(agent?.content ?? '', /agent-(proc|dev|sys|run|mnt|usr-lib-modules)/);
  assert.match(agent?.content ?? '', /^Requires=ironic-python-agent-shared-dirs\.service ironic-python-agent-resolv\.service$/m);
  assert.match(agent?.drop_ins?.[0]?.content ?? '', /systemd-nspawn .*--bind=\/dev /);
  assert.doesNotMatch(agent?.drop_ins?.[0]?.content ?? '', /--bind=\/run /, 'nspawn mounts its own /run/host');
  // chroot keeps them.
  const chroot = parseCloudConfig((await oemFiles({ runtime: 'chroot', overlays: [], authorizedKeys: [] })).cloudConfig, 'chroot');
  assert.equal((chroot.coreos?.units ?? []).filter((u) => /^opt-ironic\\x2dpython\\x2dagent-/.test(u.name)).length, 8);
});
