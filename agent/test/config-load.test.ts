/** loadConfig: kernel command line, vmedia floppy, config file, flags, defaults, errors. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createDefaultConfig } from '../src/config.js';
import { loadConfig } from '../src/config-load.js';
import { parseKernelParams } from '../src/vmedia.js';
import { ConfigError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rf-config-load-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: string): string {
  const p = join(dir, `f${n++}`);
  writeFileSync(p, content);
  return p;
}
const noConfig = join(dir, 'absent.json');

test('parseKernelParams: k=v pairs, bare tokens ignored, quoted values, later wins', () => {
  assert.deepEqual(parseKernelParams('BOOT_IMAGE=/vmlinuz quiet ro ipa-debug=1 a="x y" =bad b=c=d a2=1 a2=2\n'), {
    BOOT_IMAGE: '/vmlinuz',
    'ipa-debug': '1',
    a: 'x y',
    b: 'c=d',
    a2: '2',
  });
});

test('defaults are IPA defaults', async () => {
  const c = await loadConfig({ cmdlinePath: file(''), configFile: noConfig });
  assert.deepEqual({ ...c, cmdline: undefined }, { ...createDefaultConfig(), cmdline: undefined });
  assert.equal(c.listenPort, 9999);
  assert.equal(c.listenHost, '::');
  assert.equal(c.lookupTimeout, 600);
  assert.equal(c.enableAutoTls, true);
});

test('every §9 parameter is mapped with its type', async () => {
  const c = await loadConfig({
    configFile: noConfig,
    cmdlinePath: file(
      [
        'ipa-api-url=http://10.0.2.2:6385/,https://b:6385',
        'ipa-inspection-callback-url=http://i:5050/v1/continue',
        'ipa-inspection-collectors=default,logs,pci-devices',
        'ipa-inspection-dhcp-wait-timeout=5',
        'ipa-inspection-dhcp-all-interfaces=yes',
        'ipa-debug=1',
        'ipa-global-request-id=req-1',
        `ipa-agent-token=${'t'.repeat(43)}`,
        'ipa-listen-host=127.0.0.1',
        'ipa-listen-port=8000',
        'ipa-advertise-host=127.0.0.1',
        'ipa-advertise-port=8001',
        'ipa-advertise-protocol=https',
        'ipa-network-interface=eth0',
        'ipa-ip-lookup-attempts=2',
        'ipa-ip-lookup-timeout=3',
        'ipa-lookup-timeout=300',
        'ipa-lookup-interval=0.5',
        'ipa-ironic-api-version=1.68',
        'ipa-insecure=true',
        'ipa-collect-lldp=on',
        'ipa-lldp-timeout=7',
        'ipa-hardware-initialization-delay=1',
        'ipa-disk-wait-attempts=1',
        'ipa-disk-wait-delay=0',
        'ipa-ntp-server=10.0.0.1',
        'ipa-image-download-connection-timeout=11',
        'ipa-image-download-connection-retries=2',
        'ipa-image-download-connection-retry-interval=1',
        'ipa-image-download-max-duration=99',
        'ipa-http-request-timeout=12',
        'ipa-ignore-bootloader-failure=1',
        'ipa-inject-files-priority=40',
        'ipa-use-mdns=0',
        'BOOTIF=01-52-54-00-12-34-56',
        'ipa-enable-vlan-interfaces=all',
      ].join(' '),
    ),
  });
  assert.deepEqual(c.apiUrl, ['http://10.0.2.2:6385', 'https://b:6385']);
  assert.deepEqual(c.inspectionCallbackUrl, ['http://i:5050/v1/continue']);
  assert.deepEqual(c.inspectionCollectors, ['default', 'logs', 'pci-devices']);
  assert.equal(c.inspectionDhcpWaitTimeout, 5);
  assert.equal(c.inspectionDhcpAllInterfaces, true);
  assert.equal(c.debug, true);
  assert.equal(c.globalRequestId, 'req-1');
  assert.equal(c.agentToken, 't'.repeat(43));
  assert.equal(c.listenHost, '127.0.0.1');
  assert.equal(c.listenPort, 8000);
  assert.equal(c.advertiseHost, '127.0.0.1');
  assert.equal(c.advertisePort, 8001);
  assert.equal(c.advertiseProtocol, 'https');
  assert.equal(c.networkInterface, 'eth0');
  assert.equal(c.ipLookupAttempts, 2);
  assert.equal(c.ipLookupSleep, 3);
  assert.equal(c.lookupTimeout, 300);
  assert.equal(c.lookupInterval, 0.5);
  assert.equal(c.ironicApiVersion, '1.68');
  assert.equal(c.insecure, true);
  assert.equal(c.collectLldp, true);
  assert.equal(c.lldpTimeout, 7);
  assert.equal(c.hardwareInitializationDelay, 1);
  assert.equal(c.diskWaitAttempts, 1);
  assert.equal(c.diskWaitDelay, 0);
  assert.equal(c.ntpServer, '10.0.0.1');
  assert.equal(c.imageDownloadConnectionTimeout, 11);
  assert.equal(c.imageDownloadConnectionRetries, 2);
  assert.equal(c.imageDownloadConnectionRetryInterval, 1);
  assert.equal(c.imageDownloadMaxDuration, 99);
  assert.equal(c.httpRequestTimeout, 12);
  assert.equal(c.ignoreBootloaderFailure, true);
  assert.equal(c.injectFilesPriority, 40);
  assert.equal(c.useMdns, false);
  assert.equal(c.bootif, '01-52-54-00-12-34-56');
  assert.equal(c.cmdline['ipa-enable-vlan-interfaces'], 'all');
});

test('invalid values are clear ConfigErrors naming the parameter', async () => {
  const bad: Array<[string, RegExp]> = [
    ['ipa-listen-port=abc', /ipa-listen-port.*"abc".*number/],
    ['ipa-listen-port=70000', /TCP port/],
    ['ipa-debug=maybe', /ipa-debug.*boolean/],
    ['ipa-api-url=ftp://x', /ipa-api-url.*http/],
    ['ipa-advertise-protocol=gopher', /"http" or "https"/],
    ['ipa-ironic-api-version=latest', /microversion/],
    ['ipa-disk-wait-attempts=1.5', /whole number/],
    ['ipa-lookup-timeout=-1', /non-negative/],
    ['ipa-tls-min-version=1.1', /ipa-tls-min-version.*"1\.1".*"1\.2" or "1\.3"/],
  ];
  for (const [cmdline, re] of bad) {
    await assert.rejects(
      loadConfig({ cmdlinePath: file(cmdline), configFile: noConfig }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.match(e.details, re);
        return true;
      },
      cmdline,
    );
  }
});

test('precedence: defaults < config file < command line < floppy < flags', async () => {
  const cfgFile = file(
    JSON.stringify({ listenPort: 1000, lookup_timeout: 50, apiUrl: ['http://file:6385'], hardwareManagerPackages: ['x'] }),
  );
  const c = await loadConfig({
    argv: [
      '--api-url',
      'http://flag:6385',
      '--debug',
      '--listen-host=127.0.0.1',
      '--standalone',
      '--root-path',
      '/tmp/r',
      '--hardware-managers-dir',
      '/tmp/h',
    ],
    cmdlinePath: file('ipa-listen-port=2000 boot_method=vmedia ipa-lookup-timeout=60 ipa-global-request-id=cmd'),
    configFile: cfgFile,
    readVmedia: async () => ({ 'ipa-global-request-id': 'floppy', 'ipa-agent-token': 'f'.repeat(43) }),
  });
  assert.equal(c.listenPort, 2000);
  assert.equal(c.lookupTimeout, 60);
  assert.equal(c.globalRequestId, 'floppy');
  assert.equal(c.agentToken, 'f'.repeat(43));
  assert.deepEqual(c.apiUrl, ['http://flag:6385']);
  assert.deepEqual(c.hardwareManagerPackages, ['x']);
  assert.equal(c.debug, true);
  assert.equal(c.standalone, true);
  assert.equal(c.listenHost, '127.0.0.1');
  assert.equal(c.rootPath, '/tmp/r');
  assert.equal(c.hardwareManagersDir, '/tmp/h');
  assert.equal(c.bootMethod, 'vmedia');
  // --config and --cmdline flags win over the options.
  const d = await loadConfig({
    argv: ['--config', file('{"listenPort": 7}'), '--cmdline', file('ipa-debug=0')],
    cmdlinePath: '/nonexistent',
    configFile: noConfig,
  });
  assert.equal(d.listenPort, 7);
  assert.equal(d.debug, false);
});

test('config file and flag errors', async () => {
  const cmd = file('');
  await assert.rejects(loadConfig({ cmdlinePath: cmd, configFile: file('{not json') }), (e: ConfigError) =>
    /not valid JSON/.test(e.details),
  );
  await assert.rejects(loadConfig({ cmdlinePath: cmd, configFile: file('[1]') }), (e: ConfigError) =>
    /expected a JSON object/.test(e.details),
  );
  await assert.rejects(loadConfig({ cmdlinePath: cmd, configFile: file('{"listenPrt": 1}') }), (e: ConfigError) =>
    /listenPrt: unknown option \(did you mean "listenPort"\?\)/.test(e.details),
  );
  await assert.rejects(loadConfig({ argv: ['--config', join(dir, 'missing.json')], cmdlinePath: cmd }), (e: ConfigError) =>
    /cannot read config file/.test(e.details),
  );
  await assert.rejects(loadConfig({ argv: ['--frobnicate'], cmdlinePath: cmd, configFile: noConfig }), (e: ConfigError) =>
    /unknown flag/.test(e.details),
  );
  await assert.rejects(loadConfig({ argv: ['--listen-port'], cmdlinePath: cmd, configFile: noConfig }), (e: ConfigError) =>
    /needs a value/.test(e.details),
  );
  await assert.rejects(loadConfig({ argv: ['--cmdline', join(dir, 'nope')], configFile: noConfig }), (e: ConfigError) =>
    /kernel command line/.test(e.details),
  );
  await assert.rejects(loadConfig({ cmdlinePath: file('ipa-listen-tls=1'), configFile: noConfig }), (e: ConfigError) =>
    /tlsCertFile/.test(e.details),
  );
});

test('the environment is read by the loader: RAMFORGE_AGENT_DISKS (--disks wins), RAMFORGE_AGENT_STATE_DIR, RAMFORGE_AGENT_DEBUG', async () => {
  const base = { cmdlinePath: file(''), configFile: noConfig };
  const c = await loadConfig({
    ...base,
    env: { RAMFORGE_AGENT_DISKS: '/dev/loop3,loop4', RAMFORGE_AGENT_STATE_DIR: '/tmp/st', RAMFORGE_AGENT_DEBUG: '1' },
  });
  assert.deepEqual(c.disks, ['/dev/loop3', '/dev/loop4']);
  assert.equal(c.stateDir, '/tmp/st');
  assert.equal(c.debug, true);
  const d = await loadConfig({ ...base, argv: ['--disks', 'loop7'], env: { RAMFORGE_AGENT_DISKS: '/dev/loop3' } });
  assert.deepEqual(d.disks, ['/dev/loop7']);
  const none = await loadConfig(base);
  assert.deepEqual(none.disks, []);
  assert.equal(none.stateDir, '/run/ironic-python-agent');
  // Not config-file options: a file cannot widen the disks the agent may touch.
  await assert.rejects(loadConfig({ cmdlinePath: file(''), configFile: file('{"disks": ["/dev/sda"]}') }), (e: ConfigError) =>
    /disks: unknown option/.test(e.details),
  );
});
