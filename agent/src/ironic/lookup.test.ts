import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { createState } from '../state.js';
import { makeTestConfig } from '../../test/support/fake-ironic.js';
import { applyLookup, computeLookupBackoff, MASKED_TOKEN, parseLookupBody, type LookupResult } from './lookup.js';
import { createMemoryLog } from '../../test/support/logs.js';
import { restoreAgentToken, saveAgentToken } from './token-store.js';
import { applyTlsSettings, getTlsPolicy, resetTlsPolicy } from '../util/tls-policy.js';

const TOKEN = 'A'.repeat(43);
const result = (config: LookupResult['config']): LookupResult => ({
  node: { uuid: 'n1', properties: { root_device: { name: '/dev/sda' } } },
  config,
});

describe('applyLookup', () => {
  it('adopts a token of 32+ characters and stores node and heartbeat_timeout', () => {
    const s = createState(makeTestConfig(), '1.0');
    applyLookup(s, result({ heartbeat_timeout: 30, agent_token: TOKEN, agent_token_required: true }), createMemoryLog());
    assert.equal(s.token, TOKEN);
    assert.equal(s.node?.uuid, 'n1');
    assert.equal(s.heartbeatTimeout, 30);
    assert.deepEqual(s.lookupConfig, { heartbeat_timeout: 30, agent_token_required: true });
    assert.ok(!('agent_token' in s.lookupConfig));
  });

  it('keeps the held token when the lookup answers ******', () => {
    const s = createState(makeTestConfig({ agentToken: 'P'.repeat(43) }), '1.0');
    const log = createMemoryLog();
    applyLookup(s, result({ heartbeat_timeout: 300, agent_token: MASKED_TOKEN }), log);
    assert.equal(s.token, 'P'.repeat(43));
    assert.ok(!log.lines.some((l) => l.startsWith('ERROR')));
  });

  it('logs an error on ****** with no token held, keeps going, and refuses every command from then on', () => {
    const s = createState(makeTestConfig(), '1.0');
    const log = createMemoryLog();
    applyLookup(s, result({ heartbeat_timeout: 300, agent_token: MASKED_TOKEN }), log);
    assert.equal(s.token, undefined);
    assert.equal(s.serveApi, true);
    // Whoever holds the token is not this agent's caller: the API refuses every command (api.test.ts).
    assert.equal(s.tokenHeldElsewhere, true);
    assert.ok(
      log.lines.some((l) => l.startsWith('ERROR') && l.includes('ipa-agent-token')),
      log.lines.join('\n'),
    );
  });

  it('ignores short, null and missing tokens', () => {
    const s = createState(makeTestConfig(), '1.0');
    applyLookup(s, result({ heartbeat_timeout: 300, agent_token: 'short' }), createMemoryLog());
    assert.equal(s.token, undefined);
    applyLookup(s, result({ heartbeat_timeout: 300, agent_token: null }), createMemoryLog());
    applyLookup(s, result({ heartbeat_timeout: 300 }), createMemoryLog());
    assert.equal(s.token, undefined);
  });

  it('applies master-only config keys and leaves a bad heartbeat_timeout alone', () => {
    const s = createState(makeTestConfig(), '1.0');
    applyLookup(
      s,
      result({
        heartbeat_timeout: 'soon' as unknown as number,
        agent_md5_checksum_enable: true,
        permitted_image_formats: ['raw', 'qcow2'],
        agent_skip_bmc_detect: true,
        disable_deep_image_inspection: false,
      }),
      createMemoryLog(),
    );
    assert.equal(s.heartbeatTimeout, 300);
    assert.equal(s.config.md5Enabled, true);
    assert.deepEqual(s.lookupConfig.permitted_image_formats, ['raw', 'qcow2']);
    assert.equal(s.lookupConfig.agent_skip_bmc_detect, true);
    assert.equal(s.lookupConfig.agent_md5_checksum_enable, true);
  });
});

describe('applyLookup: the TLS floor [master]', () => {
  afterEach(() => resetTlsPolicy());
  it('Ironic’s lookup sets the floor; values it cannot use are ignored with a reason', async () => {
    const state = createState(makeTestConfig(), 'test');
    const log = createMemoryLog();
    applyLookup(state, { node: { uuid: 'n1' } as never, config: { tls_min_version: '1.3', tls_cipher_suites: null } }, log);
    assert.deepEqual(getTlsPolicy(), { minVersion: '1.3' });
    assert.match(log.lines.join('\n'), /TLS policy from Ironic's lookup: TLS 1\.3 only/);
    resetTlsPolicy();
    applyLookup(state, { node: { uuid: 'n1' } as never, config: { tls_min_version: '1.1' as never, tls_cipher_suites: 'BOGUS' } }, log);
    assert.deepEqual(getTlsPolicy(), { minVersion: '1.2' });
    assert.match(log.lines.join('\n'), /ignoring tls_min_version "1\.1" from Ironic's lookup: expected "1\.2" or "1\.3"/);
    assert.match(log.lines.join('\n'), /ignoring tls_cipher_suites "BOGUS" from Ironic's lookup \(.*\): keeping IPA's default/);
    // A lookup from an Ironic that sends neither key changes nothing.
    applyTlsSettings('test', '1.3', undefined, log);
    applyLookup(state, { node: { uuid: 'n1' } as never, config: {} }, log);
    assert.equal(getTlsPolicy().minVersion, '1.3');
  });
});

describe('parseLookupBody', () => {
  it('accepts node.uuid with config, or a top-level heartbeat_timeout', () => {
    assert.equal(parseLookupBody('{"node":{"uuid":"u"},"config":{}}')?.node.uuid, 'u');
    assert.deepEqual(parseLookupBody('{"node":{"uuid":"u"},"heartbeat_timeout":60}')?.config, { heartbeat_timeout: 60 });
  });
  it('rejects bodies without node.uuid or config', () => {
    assert.equal(parseLookupBody('{"node":{"uuid":"u"}}'), undefined);
    assert.equal(parseLookupBody('{"node":{},"config":{}}'), undefined);
    assert.equal(parseLookupBody('[]'), undefined);
    assert.equal(parseLookupBody('<html>'), undefined);
  });
});

describe('computeLookupBackoff', () => {
  it('draws from U(min, clamp(2^(n-1), min, max))', () => {
    assert.equal(
      computeLookupBackoff(1, 1, 60, () => 0.5),
      1,
    );
    assert.equal(
      computeLookupBackoff(3, 1, 60, () => 0.5),
      2.5,
    );
    assert.equal(
      computeLookupBackoff(10, 1, 60, () => 1),
      60,
    );
    assert.equal(
      computeLookupBackoff(1000, 1, 60, () => 1),
      60,
    );
    assert.equal(
      computeLookupBackoff(2, 5, 60, () => 1),
      5,
    );
  });
});

describe('saveAgentToken / restoreAgentToken', () => {
  it('round-trips the token through a 0600 file and never overrides a held token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'token-'));
    const first = createState(makeTestConfig(), '1.0');
    applyLookup(first, result({ heartbeat_timeout: 300, agent_token: TOKEN }), createMemoryLog());
    await saveAgentToken(first, dir);
    assert.equal(statSync(join(dir, 'agent-token')).mode & 0o777, 0o600);
    // The restarted agent: restore, then the second lookup's ****** keeps it.
    const second = createState(makeTestConfig(), '1.0');
    assert.equal(await restoreAgentToken(second, dir), true);
    applyLookup(second, result({ heartbeat_timeout: 300, agent_token: MASKED_TOKEN }), createMemoryLog());
    assert.equal(second.token, TOKEN);
    const withParam = createState(makeTestConfig({ agentToken: 'K'.repeat(40) }), '1.0');
    assert.equal(await restoreAgentToken(withParam, dir), false);
    assert.equal(withParam.token, 'K'.repeat(40));
    assert.equal(await restoreAgentToken(createState(makeTestConfig(), '1.0'), join(dir, 'missing')), false);
    rmSync(dir, { recursive: true, force: true });
  });
});
