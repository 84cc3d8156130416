/** Command semantics through the API: sync/async/wait, history, short names, step execution, heartbeats. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { asyncCommand, syncCommand } from '../src/commands/index.js';
import { CommandExecutionError, InvalidCommandParamsError } from '../src/errors.js';
import { FakeManager, createTestAgent, postCommand, sleep, makeGate } from './helpers.js';
import type { ProgramRunner } from '../src/util/exec.js';

const KEYS = ['command_error', 'command_name', 'command_result', 'command_status', 'id'];

test('sync commands: result stored as is, bare string wrapped, failure is 200 FAILED with full name', async () => {
  const { app } = await createTestAgent({
    extra: {
      t: {
        obj: syncCommand(() => ({ a: 1 })),
        str: syncCommand(() => 'hello'),
        none: syncCommand(() => undefined),
        boom: syncCommand(() => {
          throw new Error('disk on fire');
        }),
        agentboom: syncCommand(() => {
          throw new CommandExecutionError('known failure');
        }),
        badparam: syncCommand(() => {
          throw new InvalidCommandParamsError('nope');
        }),
      },
    },
  });
  const obj = await postCommand(app, { name: 't.obj', params: {} });
  assert.deepEqual(Object.keys(obj.json).sort(), KEYS);
  assert.match(obj.json.id, /^[0-9a-f-]{36}$/);
  assert.equal(obj.json.command_name, 'obj');
  assert.equal(obj.json.command_status, 'SUCCEEDED');
  assert.deepEqual(obj.json.command_result, { a: 1 });
  assert.deepEqual((await postCommand(app, { name: 't.str', params: {} })).json.command_result, { result: 'hello' });
  assert.equal((await postCommand(app, { name: 't.none', params: {} })).json.command_result, null);
  const boom = await postCommand(app, { name: 't.boom', params: {} });
  assert.equal(boom.status, 200);
  assert.equal(boom.json.command_status, 'FAILED');
  assert.equal(boom.json.command_name, 't.boom');
  assert.deepEqual(boom.json.command_error, {
    type: 'CommandExecutionError',
    code: 500,
    message: 'Command execution failed',
    details: 'disk on fire',
  });
  const known = await postCommand(app, { name: 't.agentboom', params: {} });
  assert.equal(known.json.command_error.details, 'known failure');
  // Bad-request errors raised by a sync command are HTTP 400, not recorded.
  const bad = await postCommand(app, { name: 't.badparam', params: {} });
  assert.equal(bad.status, 400);
  const list = (await app.inject({ method: 'GET', url: '/v1/commands/' })).json().commands;
  assert.deepEqual(
    list.map((c: any) => c.command_name),
    ['obj', 'str', 'none', 't.boom', 't.agentboom'],
  );
});

test('async commands: RUNNING without wait, result after, "<cmd>: <str>", errors wrapped, heartbeat forced', async () => {
  const { wait: gate, open: release } = makeGate();
  const agent = await createTestAgent({
    extra: {
      t: {
        slow: asyncCommand(async () => {
          await gate;
          return 'finished';
        }),
        fail: asyncCommand(async () => {
          throw new TypeError('bad thing');
        }),
        obj: asyncCommand(async () => ({ x: [1] })),
      },
    },
  });
  const { app } = agent;
  const r = await postCommand(app, { name: 't.slow', params: {} }, '?wait=false');
  assert.equal(r.json.command_status, 'RUNNING');
  assert.equal(r.json.command_result, null);
  assert.equal(agent.heartbeats, 0);
  release();
  const done = (await app.inject({ method: 'GET', url: `/v1/commands/${r.json.id}?wait=true` })).json();
  assert.equal(done.command_status, 'SUCCEEDED');
  assert.deepEqual(done.command_result, { result: 'slow: finished' });
  assert.equal(agent.heartbeats, 1);

  const f = await postCommand(app, { name: 't.fail', params: {} }, '?wait=true');
  assert.equal(f.json.command_status, 'FAILED');
  assert.equal(f.json.command_name, 'fail');
  assert.deepEqual(f.json.command_error, {
    type: 'CommandExecutionError',
    code: 500,
    message: 'Command execution failed',
    details: 'bad thing',
  });
  assert.equal(agent.heartbeats, 2);
  assert.deepEqual((await postCommand(app, { name: 't.obj', params: {} }, '?wait=TRUE')).json.command_result, { x: [1] });
  const names = (await app.inject({ method: 'GET', url: '/v1/commands' })).json().commands.map((c: any) => c.command_name);
  assert.deepEqual(names, ['slow', 'fail', 'obj']);
});

test('history is per service instance (a new process starts empty) and never purged', async () => {
  const a = await createTestAgent();
  for (let i = 0; i < 50; i++) await postCommand(a.app, { name: 'standby.sync', params: {} });
  assert.equal(a.commands.listResults().length, 50);
  const b = await createTestAgent();
  assert.equal(b.commands.listResults().length, 0);
});

test('get_clean_steps: steps by manager class and hardware_manager_version; node cached', async () => {
  const { app, state } = await createTestAgent();
  const node = { uuid: 'n1', properties: {} };
  const r = await postCommand(app, { name: 'clean.get_clean_steps', params: { node, ports: [] } }, '?wait=true');
  assert.equal(r.json.command_name, 'get_clean_steps');
  assert.deepEqual(r.json.command_result, {
    clean_steps: { FakeManager: [{ step: 'fake_step', priority: 50, interface: 'deploy', reboot_requested: false, abortable: true }] },
    hardware_manager_version: { fake_manager: '2.0' },
  });
  assert.deepEqual(state.node, node);
  const d = await postCommand(app, { name: 'deploy.get_deploy_steps', params: { node, ports: [] } });
  assert.deepEqual(d.json.command_result, { deploy_steps: {}, hardware_manager_version: { fake_manager: '2.0' } });
  const s = await postCommand(app, { name: 'service.get_service_steps', params: { node, ports: [] } });
  assert.deepEqual(Object.keys(s.json.command_result), ['service_steps', 'hardware_manager_version']);
  // A node dict without a uuid is cached with the looked-up one: heartbeats keep their target.
  await postCommand(
    app,
    { name: 'clean.get_clean_steps', params: { node: { properties: { root_device: { name: '/dev/sdb' } } }, ports: [] } },
    '?wait=true',
  );
  assert.deepEqual(state.node, { uuid: 'n1', properties: { root_device: { name: '/dev/sdb' } } });
});

test('execute_clean_step: args merged, result echoes the step, short name, heartbeat', async () => {
  const fake = new FakeManager();
  const agent = await createTestAgent({ managers: [fake] });
  const step = { step: 'fake_step', interface: 'deploy', priority: 50, args: { level: 3 } };
  const r = await postCommand(
    agent.app,
    {
      name: 'clean.execute_clean_step',
      params: { step, node: { uuid: 'n1' }, ports: [{ address: 'aa' }], clean_version: { fake_manager: '2.0' }, extra_kw: 1 },
    },
    '?wait=false',
  );
  assert.equal(r.json.command_status, 'RUNNING');
  assert.equal(r.json.command_name, 'execute_clean_step');
  const done = (await agent.app.inject({ method: 'GET', url: `/v1/commands/${r.json.id}?wait=true` })).json();
  assert.equal(done.command_status, 'SUCCEEDED');
  assert.deepEqual(done.command_result, { clean_result: { done: true, args: { extra_kw: 1, level: 3 } }, clean_step: step });
  assert.deepEqual(fake.calls[0], [{ uuid: 'n1' }, [{ address: 'aa' }], { extra_kw: 1, level: 3 }]);
  assert.equal(agent.heartbeats, 1);
});

test('execute_*_step: version mismatch → CLEAN_VERSION_MISMATCH; null version skips the check', async () => {
  const agent = await createTestAgent();
  const step = { step: 'fake_step', interface: 'deploy', priority: 0 };
  for (const kind of ['clean', 'deploy', 'service']) {
    const r = await postCommand(
      agent.app,
      {
        name: `${kind}.execute_${kind}_step`,
        params: { step, node: {}, ports: [], [`${kind}_version`]: { fake_manager: '1.9' } },
      },
      '?wait=true',
    );
    assert.equal(r.json.command_status, 'CLEAN_VERSION_MISMATCH', kind);
    assert.equal(r.json.command_error.type, 'VersionMismatch');
    assert.equal(r.json.command_error.code, 409);
  }
  const extraKey = await postCommand(
    agent.app,
    {
      name: 'clean.execute_clean_step',
      params: { step, node: {}, ports: [], clean_version: { fake_manager: '2.0', other: '1.0' } },
    },
    '?wait=true',
  );
  assert.equal(extraKey.json.command_status, 'CLEAN_VERSION_MISMATCH');
  const ok = await postCommand(
    agent.app,
    { name: 'clean.execute_clean_step', params: { step, node: {}, ports: [], clean_version: null } },
    '?wait=true',
  );
  assert.equal(ok.json.command_status, 'SUCCEEDED');
});

test('execute_*_step errors: non-agent errors wrapped per kind, unknown step → HardwareManagerMethodNotFound', async () => {
  const fake = new FakeManager();
  fake.failWith = new Error('kaboom');
  const agent = await createTestAgent({ managers: [fake] });
  const step = { step: 'fake_step', interface: 'deploy', priority: 0 };
  const expected = { clean: 'CleaningError', deploy: 'DeploymentError', service: 'ServicingError' } as const;
  for (const kind of ['clean', 'deploy', 'service'] as const) {
    const r = await postCommand(agent.app, { name: `${kind}.execute_${kind}_step`, params: { step, node: {}, ports: [] } }, '?wait=true');
    assert.equal(r.json.command_status, 'FAILED');
    assert.equal(r.json.command_error.type, expected[kind]);
    assert.equal(r.json.command_error.details, `Error performing ${kind} step fake_step: kaboom`);
    assert.equal(r.json.command_result, null);
  }
  const missing = await postCommand(
    agent.app,
    { name: 'clean.execute_clean_step', params: { step: { step: 'no_such' }, node: {}, ports: [] } },
    '?wait=true',
  );
  assert.equal(missing.json.command_error.type, 'HardwareManagerMethodNotFound');
});

test('standby.power_off / run_image / sync call sync then poweroff -f / reboot -f through the runner', async () => {
  const agent = await createTestAgent();
  const off = await postCommand(agent.app, { name: 'standby.power_off', params: {} }, '?wait=true');
  assert.equal(off.json.command_status, 'SUCCEEDED');
  assert.equal(off.json.command_result, null);
  await postCommand(agent.app, { name: 'standby.run_image', params: {} }, '?wait=true');
  await postCommand(agent.app, { name: 'standby.sync', params: {} });
  assert.deepEqual(agent.run.calls, [['sync'], ['poweroff', '-f'], ['sync'], ['reboot', '-f'], ['sync']]);
});

test('log.collect_system_logs returns a base64 tar.gz with the journal and command outputs', async () => {
  const agent = await createTestAgent();
  const r = await postCommand(agent.app, { name: 'log.collect_system_logs', params: {} }, '?wait=true');
  assert.equal(r.json.command_status, 'SUCCEEDED');
  const tarball = gunzipSync(Buffer.from(r.json.command_result.system_logs, 'base64'));
  const names: string[] = [];
  for (let off = 0; off + 512 <= tarball.length; off += 512) {
    const name = tarball
      .subarray(off, off + 100)
      .toString()
      .replace(/\0.*$/s, '');
    if (!name) break;
    names.push(name);
    const size = parseInt(
      tarball
        .subarray(off + 124, off + 136)
        .toString()
        .replace(/\0/g, '')
        .trim() || '0',
      8,
    );
    off += Math.ceil(size / 512) * 512;
  }
  for (const n of ['journal', 'dmesg', 'ip_addr', 'lsblk', 'mount', 'ps', 'df']) assert.ok(names.includes(n), `${n} in ${names}`);
  assert.ok(agent.run.calls.some((c) => c[0] === 'journalctl'));
});

test('poll.set_node_info only in standalone mode; poll.get_hardware_info dispatches', async () => {
  const notStandalone = await createTestAgent({ config: { standalone: false } });
  const r = await postCommand(notStandalone.app, {
    name: 'poll.set_node_info',
    params: { node_info: { node: { uuid: 'u' }, config: {} } },
  });
  assert.equal(r.status, 400);
  const sa = await createTestAgent();
  const ok = await postCommand(sa.app, {
    name: 'poll.set_node_info',
    params: { node_info: { node: { uuid: 'u1' }, config: { heartbeat_timeout: 42 } } },
  });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
  assert.equal(sa.state.node?.uuid, 'u1');
  assert.equal(sa.state.heartbeatTimeout, 42);
  const hw = await postCommand(sa.app, { name: 'poll.get_hardware_info', params: {} });
  assert.equal(hw.json.command_status, 'FAILED');
  assert.equal(hw.json.command_error.type, 'HardwareManagerMethodNotFound');
});

test('flow.start_flow runs commands in order and fails on the first failure; unknown commands → 400', async () => {
  const order: string[] = [];
  const agent = await createTestAgent({
    extra: {
      t: {
        a: syncCommand(() => {
          order.push('a');
          return null;
        }),
        b: asyncCommand(async (p) => {
          order.push(`b${p.n}`);
          return 'x';
        }),
        bad: syncCommand(() => {
          throw new Error('no');
        }),
      },
    },
  });
  const ok = await postCommand(
    agent.app,
    { name: 'flow.start_flow', params: { flow: [{ 't.a': {} }, { 't.b': { n: 1 } }] } },
    '?wait=true',
  );
  assert.equal(ok.json.command_status, 'SUCCEEDED');
  assert.deepEqual(order, ['a', 'b1']);
  const failed = await postCommand(
    agent.app,
    { name: 'flow.start_flow', params: { flow: [{ 't.bad': {} }, { 't.a': {} }] } },
    '?wait=true',
  );
  assert.equal(failed.json.command_status, 'FAILED');
  assert.match(failed.json.command_error.details, /t\.bad failed/);
  assert.deepEqual(order, ['a', 'b1']);
  const unknown = await postCommand(agent.app, { name: 'flow.start_flow', params: { flow: [{ 'x.y': {} }] } });
  assert.equal(unknown.status, 400);
});

test('system.lockdown and rescue.finalize_rescue stop serving after answering', async (t) => {
  const { mkdtempSync, mkdirSync, readFileSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { rmSync } = await import('node:fs');
  const root = mkdtempSync(`${tmpdir()}/rf-rescue-`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const agent = await createTestAgent({ config: { rootPath: root } });
  let stops = 0;
  agent.state.onStopServing = () => {
    stops++;
  };
  // A ramdisk built with rescue support has etc/ipa-rescue-config; without it the command fails and the agent keeps serving.
  const refused = await postCommand(agent.app, {
    name: 'rescue.finalize_rescue',
    params: { rescue_password: '$6$salt$hash', hashed: true },
  });
  assert.equal(refused.json.command_status, 'FAILED');
  assert.match(refused.json.command_error.details, /built without rescue support/);
  assert.equal(existsSync(`${root}/etc/.rescued`), false);
  mkdirSync(`${root}/etc/ipa-rescue-config`, { recursive: true });
  for (const bad of ['', 'x:y', '$6$salt$hash\nroot::0:0']) {
    const r = await postCommand(agent.app, { name: 'rescue.finalize_rescue', params: { rescue_password: bad, hashed: true } });
    assert.equal(r.status, 400, `rescue_password ${JSON.stringify(bad)} refused`);
    assert.match(r.json.faultstring ?? JSON.stringify(r.json), /rescue_password/);
  }
  // A clear-text password is hashed from one line: a line break would make a hash of only its first part.
  const multi = await postCommand(agent.app, { name: 'rescue.finalize_rescue', params: { rescue_password: 'first\nsecond' } });
  assert.equal(multi.status, 400);
  assert.match(multi.json.faultstring ?? JSON.stringify(multi.json), /rescue_password \(clear text\) contains a line break/);
  assert.equal(stops, 0);
  const r = await postCommand(agent.app, { name: 'rescue.finalize_rescue', params: { rescue_password: '$6$salt$hash', hashed: true } });
  assert.equal(r.json.command_status, 'SUCCEEDED');
  assert.equal(readFileSync(`${root}/etc/ipa-rescue-config/ipa-rescue-password`, 'utf8'), '$6$salt$hash');
  assert.ok(existsSync(`${root}/etc/.rescued`));
  await sleep(10);
  assert.equal(stops, 1);
  const l = await createTestAgent();
  await postCommand(l.app, { name: 'system.lockdown', params: {} });
  assert.equal(l.state.lockdown, true);
  assert.equal(l.state.serveApi, false);
});

test('rescue.finalize_rescue with a clear-text password (conductors before Ussuri) writes a SHA-256 crypt hash, as IPA', async (t) => {
  const { mkdtempSync, mkdirSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const root = mkdtempSync(`${tmpdir()}/rf-rescue-`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(`${root}/etc/ipa-rescue-config`, { recursive: true });
  const { execute } = await import('../src/util/exec.js');
  // The real runner: openssl (a test tool of the host) makes the hash.
  const agent = await createTestAgent({ config: { rootPath: root }, runner: execute });
  agent.state.onStopServing = () => {};
  const r = await postCommand(agent.app, { name: 'rescue.finalize_rescue', params: { rescue_password: 'pass word' } }, '?wait=true');
  assert.equal(r.json.command_status, 'SUCCEEDED', JSON.stringify(r.json.command_error));
  assert.match(readFileSync(`${root}/etc/ipa-rescue-config/ipa-rescue-password`, 'utf8'), /^\$5\$[./0-9A-Za-z]+\$[./0-9A-Za-z]{43}$/);
});

test('rescue.finalize_rescue without openssl (tinyipa) hashes with busybox mkpasswd; a hash that is not SHA-256 crypt fails the command', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, mkdirSync, existsSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { ExecError, execute } = await import('../src/util/exec.js');
  const root = mkdtempSync(`${tmpdir()}/rf-rescue-`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(`${root}/etc/ipa-rescue-config`, { recursive: true });
  const file = `${root}/etc/ipa-rescue-config/ipa-rescue-password`;
  const noOpenssl: ProgramRunner = (argv, o) =>
    argv[0] === 'openssl' ? Promise.reject(new ExecError(argv, null, '', '', new Error('spawn openssl ENOENT'))) : execute(argv, o);
  // The real busybox (the one tinyipa ships, a test tool of the host) makes the hash; openssl, given its salt, checks it.
  const agent = await createTestAgent({ config: { rootPath: root }, runner: noOpenssl });
  agent.state.onStopServing = () => {};
  const r = await postCommand(agent.app, { name: 'rescue.finalize_rescue', params: { rescue_password: 'pass word' } }, '?wait=true');
  assert.equal(r.json.command_status, 'SUCCEEDED', JSON.stringify(r.json.command_error));
  const hash = readFileSync(file, 'utf8');
  const salt = /^\$5\$([./0-9A-Za-z]+)\$/.exec(hash)?.[1];
  assert.ok(salt, hash);
  assert.equal(execFileSync('openssl', ['passwd', '-5', '-salt', salt, '-stdin'], { input: 'pass word\n', encoding: 'utf8' }).trim(), hash);

  // A busybox built without SHA crypt prints a DES hash: refused, nothing written, the API still served.
  rmSync(file);
  const desOnly: ProgramRunner = async (argv) => {
    if (argv[0] === 'openssl') throw new ExecError(argv, null, '', '', new Error('spawn openssl ENOENT'));
    return { stdout: 'abJnggxhB/yWI\n', stderr: '', code: 0 };
  };
  const des = await createTestAgent({ config: { rootPath: root }, runner: desOnly });
  const d = await postCommand(des.app, { name: 'rescue.finalize_rescue', params: { rescue_password: 'pass word' } }, '?wait=true');
  assert.equal(d.json.command_status, 'FAILED');
  assert.match(JSON.stringify(d.json.command_error), /cannot hash the clear-text rescue password: busybox printed no SHA-256 crypt hash/);
  assert.equal(existsSync(file), false);
  assert.equal(des.state.serveApi, true);
});
