import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { planCloudConfig } from './plan.js';

const argvs = (p: ReturnType<typeof planCloudConfig>) => p.commands.map((c) => c.argv.join(' '));

test('units: content, runtime, network units, drop-ins, masks, enable; one daemon-reload, networkd restart, commands in order', () => {
  const p = planCloudConfig(
    parse(`#cloud-config
coreos:
  units:
    - name: a.service
      command: start
      content: "[Service]\\nExecStart=/bin/true\\n"
    - name: b.service
      runtime: true
      enable: true
      content: B
    - name: 10-eth.network
      content: "[Match]\\nName=eth0\\n"
    - name: c.service
      mask: true
    - name: d.service
      command: restart
      drop-ins:
        - name: 10-x.conf
          content: X
`),
  );
  assert.deepEqual(
    p.files.map((f) => [f.path, f.content.toString(), f.mode.toString(8)]),
    [
      ['/etc/systemd/system/a.service', '[Service]\nExecStart=/bin/true\n', '644'],
      ['/run/systemd/system/b.service', 'B', '644'],
      ['/etc/systemd/network/10-eth.network', '[Match]\nName=eth0\n', '644'],
      ['/etc/systemd/system/d.service.d/10-x.conf', 'X', '644'],
    ],
  );
  assert.deepEqual(p.links, [{ path: '/etc/systemd/system/c.service', target: '/dev/null' }]);
  assert.deepEqual(argvs(p), [
    'systemctl daemon-reload',
    'systemctl enable --runtime b.service',
    'systemctl restart systemd-networkd',
    'systemctl --no-block start a.service',
    'systemctl --no-block restart d.service',
  ]);
  assert.deepEqual(p.warnings, []);
});

test('consecutive units with the same command share one systemctl call, in order', () => {
  const p = planCloudConfig(
    parse(`#cloud-config
coreos:
  units:
    - {name: a.service, command: start}
    - {name: b.mount, command: start}
    - {name: c.service, command: restart}
    - {name: d.service, command: start}
`),
  );
  assert.deepEqual(argvs(p), [
    'systemctl daemon-reload',
    'systemctl --no-block start a.service b.mount',
    'systemctl --no-block restart c.service',
    'systemctl --no-block start d.service',
  ]);
});

test('write_files: permissions, owner, encodings', () => {
  const gz = gzipSync(Buffer.from('zipped')).toString('base64');
  const p = planCloudConfig({
    write_files: [
      { path: '/etc/a', content: 'plain' },
      { path: '/etc/b', content: Buffer.from('b64!').toString('base64'), encoding: 'b64', permissions: '0600', owner: 'core:core' },
      { path: '/etc/c', content: gz, encoding: 'gzip+base64' },
      { path: '/etc/d', content: 'x', encoding: 'rot13' },
    ],
  });
  assert.deepEqual(
    p.files.map((f) => [f.path, f.content.toString(), f.mode.toString(8), f.owner]),
    [
      ['/etc/a', 'plain', '644', undefined],
      ['/etc/b', 'b64!', '600', 'core:core'],
      ['/etc/c', 'zipped', '644', undefined],
    ],
  );
  assert.match(p.warnings[0] ?? '', /write_files\[3\] \(\/etc\/d\): unknown encoding 'rot13', ignored/);
});

test('users, ssh_authorized_keys for core, hostname; dashes equal underscores; unknown keys logged and ignored', () => {
  const p = planCloudConfig({
    hostname: 'node1',
    'ssh-authorized-keys': ['ssh-ed25519 AAAA a'],
    users: [
      {
        name: 'ops',
        groups: ['sudo', 'adm'],
        passwd: '$6$x',
        'ssh-authorized-keys': ['ssh-rsa B b'],
        shell: '/bin/bash',
        homedir: '/home/o',
      },
    ],
    coreos: { units: [{ name: 'x.service', bogus: 1 }], fleet: {} },
    manage_etc_hosts: 'localhost',
  });
  assert.deepEqual(argvs(p), [
    'hostname node1',
    'ensure-user ops --home /home/o --shell /bin/bash',
    'usermod -a -G sudo,adm ops',
    'usermod -p $6$x ops',
    'update-ssh-keys -u ops -a coreos-cloudinit',
    'update-ssh-keys -u core -a coreos-cloudinit',
    'systemctl daemon-reload',
  ]);
  assert.equal(p.commands[5]?.input, 'ssh-ed25519 AAAA a\n');
  assert.deepEqual(p.files[0], { path: '/etc/hostname', content: Buffer.from('node1\n'), mode: 0o644 });
  assert.deepEqual(p.warnings.sort(), [
    'coreos.fleet: unknown key, ignored',
    'coreos.units[0].bogus: unknown key, ignored',
    'manage_etc_hosts: unknown key, ignored',
  ]);
});
