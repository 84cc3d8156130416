import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createState, type AgentState } from '../state.js';
import { IronicClient } from './client.js';
import { FAKE_NODE_UUID, ironicErrorBody, makeTestConfig, startFakeIronic, type FakeIronic } from '../../test/support/fake-ironic.js';
import { computeHeartbeatDelay, Heartbeater } from './heartbeat.js';
import { createMemoryLog, silentLog } from '../../test/support/logs.js';

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('computeHeartbeatDelay', () => {
  it('is heartbeat_timeout × U(0.3, 0.6) after success, 5 × U(1, 2) s after failure', () => {
    assert.equal(
      computeHeartbeatDelay(true, 300, () => 0),
      90_000,
    );
    assert.equal(
      computeHeartbeatDelay(true, 300, () => 1),
      180_000,
    );
    assert.equal(
      computeHeartbeatDelay(false, 300, () => 0),
      5000,
    );
    assert.equal(
      computeHeartbeatDelay(false, 300, () => 1),
      10_000,
    );
  });
});

describe('Heartbeater', () => {
  let fake: FakeIronic;
  let state: AgentState;
  let hb: Heartbeater | undefined;
  before(async () => {
    fake = await startFakeIronic({ version: '1.68' });
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    hb?.stop();
    fake.reset();
    state = createState(makeTestConfig({ apiUrl: [fake.url] }), '9.9.9');
    state.node = { uuid: FAKE_NODE_UUID };
    state.callbackUrl = 'http://127.0.0.1:9999';
    state.token = 'T'.repeat(43);
  });
  const startBeating = (o: { random?: () => number; minIntervalMs?: number } = {}) => {
    const client = new IronicClient(state.config, { log: silentLog });
    hb = new Heartbeater(state, client, { log: silentLog, random: () => 0, minIntervalMs: 100, ...o });
    const t0 = Date.now();
    hb.start();
    return t0;
  };
  const gaps = () => {
    const at = fake.requestsTo('heartbeat').map((r) => r.at);
    return at.slice(1).map((t, i) => t - at[i]!);
  };

  it('sends the first heartbeat at once with the state values', async () => {
    state.verifyCaPem = 'PEM';
    const t0 = startBeating();
    await waitFor(() => fake.requestsTo('heartbeat').length === 1);
    const [r] = fake.requestsTo('heartbeat');
    // The normal interval would be 30-60 s: the bound only has to tell "at once" from that, on a loaded host too.
    assert.ok(r!.at - t0 < 5000, `first heartbeat after ${r!.at - t0} ms`);
    assert.deepEqual(r!.body, {
      callback_url: 'http://127.0.0.1:9999',
      agent_token: state.token,
      agent_version: '9.9.9',
      agent_verify_ca: 'PEM',
    });
    hb!.stop();
  });

  it('waits heartbeat_timeout × U(0.3, 0.6) after a 202', async () => {
    state.heartbeatTimeout = 1; // → 300 ms with random() = 0
    startBeating();
    // Wait for the third answer, not just the request: stop() would abort it.
    await waitFor(() => hb!.counts.accepted === 3);
    hb!.stop();
    assert.equal(fake.requestsTo('heartbeat').length, 3);
    for (const g of gaps()) assert.ok(g >= 290 && g < 700, `gap ${g} ms`);
  });

  it('retries after failures in minInterval × U(1, 2), forever', async () => {
    state.heartbeatTimeout = 100;
    fake.reply(
      'heartbeat',
      { status: 400, body: ironicErrorBody('Unknown token') },
      { status: 409, body: ironicErrorBody('Node locked') },
      { status: 503 },
    );
    startBeating({ random: () => 0.5 });
    await waitFor(() => fake.requestsTo('heartbeat').length === 4);
    await sleep(300);
    hb!.stop();
    assert.equal(fake.requestsTo('heartbeat').length, 4, 'no heartbeat soon after the 202');
    // 150 ms expected; the normal interval (30-60 s at heartbeat_timeout 100) is what the upper bound rules out.
    for (const g of gaps()) assert.ok(g >= 145 && g < 5000, `gap ${g} ms`);
  });

  it('logs Ironic faultstrings and missing node data as failures', async () => {
    state.node = undefined;
    const log = createMemoryLog();
    const client = new IronicClient(state.config, { log: silentLog });
    hb = new Heartbeater(state, client, { log, random: () => 0, minIntervalMs: 50 });
    hb.start();
    await waitFor(() => log.lines.filter((l) => l.includes('heartbeat failed')).length >= 2);
    state.node = { uuid: FAKE_NODE_UUID };
    fake.reply('heartbeat', { status: 400, body: ironicErrorBody('Detected change in ramdisk provided "callback_url"') });
    await waitFor(() => log.lines.some((l) => l.includes('Error 400: Detected change')));
    hb.stop();
    assert.ok(log.lines.some((l) => l.includes('no node UUID or callback URL')));
  });

  it('sends a forced heartbeat once minInterval has passed since the previous one', async () => {
    state.heartbeatTimeout = 100;
    startBeating({ minIntervalMs: 200 });
    await waitFor(() => fake.requestsTo('heartbeat').length === 1);
    state.requestHeartbeat();
    await waitFor(() => fake.requestsTo('heartbeat').length === 2);
    const [g1] = gaps();
    assert.ok(g1! > 200 && g1! < 5000, `forced heartbeat ${g1} ms after the previous one`);
    await sleep(400);
    assert.equal(fake.requestsTo('heartbeat').length, 2);
    const t = Date.now();
    state.requestHeartbeat();
    await waitFor(() => fake.requestsTo('heartbeat').length === 3);
    assert.ok(fake.requestsTo('heartbeat')[2]!.at - t < 300, 'forced heartbeat not sent promptly');
    hb!.stop();
  });

  it('stops promptly, even with a heartbeat in flight', async () => {
    fake.reply('heartbeat', { status: 202, delayMs: 5000 });
    startBeating();
    await waitFor(() => fake.requestsTo('heartbeat').length === 1);
    const t = Date.now();
    hb!.stop();
    await hb!.whenStopped();
    assert.ok(Date.now() - t < 300, `stop took ${Date.now() - t} ms`);
    state.requestHeartbeat();
    await sleep(200);
    assert.equal(fake.requestsTo('heartbeat').length, 1);
  });

  it("does not keep the process alive (timers are unref'd)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'hb-unref-'));
    const here = fileURLToPath(new URL('.', import.meta.url));
    const script = join(dir, 'run.mts');
    writeFileSync(
      script,
      `
      import { createState } from ${JSON.stringify(join(here, '../state.ts'))};
      import { IronicClient } from ${JSON.stringify(join(here, 'client.ts'))};
      import { Heartbeater } from ${JSON.stringify(join(here, 'heartbeat.ts'))};
      import { makeTestConfig } from ${JSON.stringify(join(here, '../../test/support/fake-ironic.ts'))};
      import { silentLog } from ${JSON.stringify(join(here, '../../test/support/logs.ts'))};
      const s = createState(makeTestConfig({ apiUrl: ['http://127.0.0.1:1'], ironicApiVersion: '1.68' }), '1');
      s.node = { uuid: 'u' }; s.callbackUrl = 'http://127.0.0.1:9999';
      new Heartbeater(s, new IronicClient(s.config, { log: silentLog }), { log: silentLog }).start();
    `,
    );
    const t = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { timeout: 15_000, encoding: 'utf8' });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Date.now() - t < 8000, `the child lived ${Date.now() - t} ms (heartbeat timer kept it alive?)`);
  });
});
