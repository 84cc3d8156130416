import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecError, type ProgramRunner } from '../util/exec.js';
import { isLinkLocal } from '../util/link-local.js';
import { callbackUrlFor, chooseAdvertiseAddress, parseRouteSource } from './advertise.js';
import { LookupAgentIPError } from './errors.js';
import { makeTestConfig } from '../../test/support/fake-ironic.js';
import { silentLog } from '../../test/support/logs.js';

/** A runner answering `ip` invocations from a table; records every argv. */
function fakeIp(table: Record<string, string | Error>): ProgramRunner & { calls: string[][] } {
  const calls: string[][] = [];
  const run = (async (argv: string[]) => {
    calls.push(argv);
    const out = table[argv.join(' ')];
    if (out === undefined || out instanceof Error)
      throw new ExecError(argv, 2, '', out instanceof Error ? out.message : 'RTNETLINK answers: Network is unreachable');
    return { stdout: out, stderr: '', code: 0 };
  }) as ProgramRunner & { calls: string[][] };
  run.calls = calls;
  return run;
}
const noSleep = async () => {};
const reachable = async () => true;

describe('parseRouteSource / isLinkLocal', () => {
  it('reads src from ip -o route get', () => {
    assert.equal(parseRouteSource('10.0.2.2 via 10.0.2.2 dev eth0 src 10.0.2.15 uid 0 \\    cache \n'), '10.0.2.15');
    assert.equal(parseRouteSource('local ::1 from :: dev lo table local proto kernel src ::1 metric 0 pref medium'), '::1');
    assert.equal(parseRouteSource('unreachable 10.9.9.9'), undefined);
  });
  it('recognises link-local addresses', () => {
    assert.equal(isLinkLocal('169.254.3.4'), true);
    assert.equal(isLinkLocal('fe80::1'), true);
    assert.equal(isLinkLocal('febf::1'), true);
    assert.equal(isLinkLocal('fec0::1'), false);
    assert.equal(isLinkLocal('10.0.2.15'), false);
    assert.equal(isLinkLocal('2001:db8::1'), false);
  });
});

describe('callbackUrlFor', () => {
  it('puts IPv6 in brackets and uses the advertise port and protocol', () => {
    const c = makeTestConfig({ advertisePort: 8443 });
    assert.equal(callbackUrlFor(c, '10.0.0.5'), 'http://10.0.0.5:8443');
    assert.equal(callbackUrlFor(c, 'fd00::5'), 'http://[fd00::5]:8443');
    assert.equal(callbackUrlFor(c, 'fd00::5', 'https'), 'https://[fd00::5]:8443');
    assert.equal(callbackUrlFor(makeTestConfig({ advertiseProtocol: 'https' }), 'agent.example'), 'https://agent.example:9999');
  });
});

describe('chooseAdvertiseAddress', () => {
  it('uses ipa-advertise-host as given', async () => {
    const run = fakeIp({});
    assert.equal(await chooseAdvertiseAddress(makeTestConfig({ advertiseHost: '127.0.0.1' }), { run }), '127.0.0.1');
    assert.equal(run.calls.length, 0);
  });

  it('uses the IPv4 address of ipa-network-interface', async () => {
    const run = fakeIp({
      'ip -o -4 addr show dev eth1': '3: eth1    inet 192.168.5.20/24 brd 192.168.5.255 scope global eth1\\       valid_lft forever\n',
    });
    const c = makeTestConfig({ networkInterface: 'eth1', apiUrl: ['http://10.0.0.1:6385'] });
    assert.equal(await chooseAdvertiseAddress(c, { run, sleep: noSleep, log: silentLog }), '192.168.5.20');
  });

  it('takes the route source to the (resolved) API host, skipping link-local and failing routes', async () => {
    const run = fakeIp({
      'ip -o route get 10.0.0.1': '10.0.0.1 dev eth0 src 169.254.7.7 uid 0 \\    cache',
      'ip -o route get fd00::1': 'fd00::1 from :: dev eth0 proto kernel src fd00::42 metric 256 pref medium',
    });
    const c = makeTestConfig({ apiUrl: ['http://10.0.0.1:6385', 'http://ironic.example:6385', 'http://[fd00::9]:6385'] });
    const resolve = async (h: string) => {
      assert.equal(h, 'ironic.example');
      return ['fd00::1'];
    };
    const ip = await chooseAdvertiseAddress(c, { run, resolve, sleep: noSleep, isReachable: reachable, log: silentLog });
    assert.equal(ip, 'fd00::42');
    assert.deepEqual(
      run.calls.map((a) => a.at(-1)),
      ['10.0.0.1', 'fd00::1'],
    );
  });

  it('only routes to API URLs that answer, when some do', async () => {
    const run = fakeIp({
      'ip -o route get 10.0.0.1': '10.0.0.1 dev eth0 src 10.0.0.50',
      'ip -o route get 10.0.0.2': '10.0.0.2 dev eth1 src 10.0.9.50',
    });
    const c = makeTestConfig({ apiUrl: ['http://10.0.0.1:6385', 'http://10.0.0.2:6385'] });
    const ip = await chooseAdvertiseAddress(c, { run, sleep: noSleep, isReachable: async (u) => u.includes('10.0.0.2'), log: silentLog });
    assert.equal(ip, '10.0.9.50');
  });

  it('retries ip_lookup_attempts times, ip_lookup_sleep apart, then throws LookupAgentIPError', async () => {
    const run = fakeIp({});
    const slept: number[] = [];
    const c = makeTestConfig({ apiUrl: ['http://10.0.0.1:6385'], ipLookupAttempts: 3, ipLookupSleep: 7 });
    await assert.rejects(
      chooseAdvertiseAddress(c, {
        run,
        sleep: async (ms) => {
          slept.push(ms);
        },
        log: silentLog,
      }),
      (e: unknown) => e instanceof LookupAgentIPError && /ipa-advertise-host/.test(e.details) && /3 attempts/.test(e.details),
    );
    assert.equal(run.calls.length, 3);
    assert.deepEqual(slept, [7000, 7000]);
  });

  it('finds the real route to 127.0.0.1 with the real ip command', async () => {
    const c = makeTestConfig({ apiUrl: ['http://127.0.0.1:6385'], ipLookupAttempts: 1 });
    assert.equal(await chooseAdvertiseAddress(c, { log: silentLog }), '127.0.0.1');
  });
});
