/** The REST API over a socket (support/inject.ts): routes, error bodies, tokens, limits. */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { syncCommand, asyncCommand } from '../src/commands/index.js';
import { applyLookup, MASKED_TOKEN } from '../src/ironic/lookup.js';
import { createTestAgent, postCommand, silentLog, sleep, makeGate } from './helpers.js';
import { listeningPort } from './support/inject.js';
import { createMemoryLog } from './support/logs.js';

const TOKEN = 'x'.repeat(43);

/** Every error answer has exactly {faultcode, faultstring} with a string faultstring. */
function assertFault(json: any, code: 'Client' | 'Server', includes: string): void {
  assert.deepEqual(Object.keys(json).sort(), ['faultcode', 'faultstring']);
  assert.equal(json.faultcode, code);
  assert.equal(typeof json.faultstring, 'string');
  assert.ok(json.faultstring.includes(includes), `faultstring ${JSON.stringify(json.faultstring)} should include ${includes}`);
}

/** The head of a JSON POST to /v1/commands/ declaring `length` bytes of body. */
const postHead = (length: number): string =>
  `POST /v1/commands/ HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

/** A raw client on the agent's port: writes `raw`, keeps what comes back (as latin1) in answer(). */
function rawClient(port: number, raw: string): { s: Socket; answer(): string } {
  const s = connect(port, '127.0.0.1');
  let got = '';
  s.on('data', (d) => {
    got += d.toString('latin1');
  });
  s.on('error', () => {});
  s.write(raw);
  return { s, answer: () => got };
}

async function assertStillServing(app: Awaited<ReturnType<typeof createTestAgent>>['app']): Promise<void> {
  const r = await app.inject({ method: 'GET', url: '/v1/status' });
  assert.equal(r.statusCode, 200);
}

test('GET /, /v1, /v1/ describe the API like IPA', async () => {
  const { app } = await createTestAgent();
  const root = await app.inject({ method: 'GET', url: '/' });
  assert.equal(root.statusCode, 200);
  const doc = root.json();
  assert.equal(doc.name, 'OpenStack Ironic Python Agent API');
  assert.equal(doc.default_version.id, 'v1');
  assert.deepEqual(doc.versions, [doc.default_version]);
  assert.equal(doc.default_version.links[0].href, 'http://localhost:80/v1');
  for (const url of ['/v1', '/v1/']) {
    const v1 = await app.inject({ method: 'GET', url });
    assert.equal(v1.statusCode, 200, url);
    const j = v1.json();
    assert.equal(j.id, 'v1');
    assert.deepEqual(
      j.commands.map((l: any) => l.rel),
      ['self', 'bookmark'],
    );
    assert.equal(j.commands[0].href, 'http://localhost:80/v1/commands');
    assert.equal(j.media_types[0].type, 'application/vnd.openstack.ironic-python-agent.v1+json');
  }
});

test('GET /v1/status and /status: started_at and version', async () => {
  const { app, state } = await createTestAgent();
  for (const url of ['/v1/status', '/status', '/v1/status/']) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.deepEqual(r.json(), { started_at: state.startedAt, version: '10.0.0+ramforge' });
  }
});

test('commands list and get, with and without trailing slash and version', async () => {
  const { app } = await createTestAgent();
  for (const url of ['/v1/commands', '/v1/commands/', '/commands', '/commands/']) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.deepEqual(r.json(), { commands: [] });
  }
  const posted = await postCommand(app, { name: 'standby.sync', params: {} });
  assert.equal(posted.status, 200);
  for (const url of [`/v1/commands/${posted.json.id}`, `/commands/${posted.json.id}?wait=true`]) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), posted.json);
  }
  const missing = await app.inject({ method: 'GET', url: '/v1/commands/nope' });
  assert.equal(missing.statusCode, 404);
  assertFault(missing.json(), 'Client', 'nope');
  const viaAlias = await postCommand(app, { name: 'standby.sync', params: {} });
  assert.equal(viaAlias.status, 200);
});

test('bad requests: invalid JSON, missing name/params, unknown extension/command, wrong params; agent keeps serving', async () => {
  const { app } = await createTestAgent();
  const cases: Array<[unknown, number, string]> = [
    ['{"name": "standby.sync", "params": ', 400, 'JSON'],
    ['', 400, ''],
    [[1, 2], 400, 'Missing or invalid name or params'],
    [{ name: 'standby.sync' }, 400, 'Missing or invalid name or params'],
    [{ params: {} }, 400, 'Missing or invalid name or params'],
    [{ name: 'standby.sync', params: 'x' }, 400, 'Missing or invalid name or params'],
    [{ name: 'standby.sync', params: [] }, 400, 'Missing or invalid name or params'],
    [{ name: 'nodot', params: {} }, 400, 'Invalid command'],
    [{ name: '.sync', params: {} }, 404, 'Extension with id  not found'],
    [{ name: 'standby.', params: {} }, 400, 'Unknown command: '],
    [{ name: 'nosuch.sync', params: {} }, 404, 'Extension with id nosuch not found'],
    [{ name: 'constructor.x', params: {} }, 404, 'Extension with id constructor not found'],
    [{ name: 'standby.nosuch', params: {} }, 400, 'Unknown command: nosuch'],
    [{ name: 'standby.toString', params: {} }, 400, 'Unknown command: toString'],
    [{ name: 'clean.get_clean_steps', params: { node: 'x', ports: [] } }, 400, 'parameter "node" must be an object'],
    [{ name: 'clean.execute_clean_step', params: { step: 'erase', node: {}, ports: [] } }, 400, 'parameter "step"'],
    [{ name: 'clean.execute_clean_step', params: { step: { priority: 1 }, node: {}, ports: [] } }, 400, 'missing parameter "step"'],
    [{ name: 'standby.prepare_image', params: { image_info: { id: 'x' } } }, 400, 'Invalid command parameters'],
    [{ name: 'poll.set_node_info', params: { node_info: 5 } }, 400, 'node_info'],
  ];
  for (const [body, status, text] of cases) {
    const r = await postCommand(app, body);
    assert.equal(r.status, status, `${JSON.stringify(body)} → ${JSON.stringify(r.json)}`);
    assertFault(r.json, 'Client', text);
    await assertStillServing(app);
  }
  // Nothing rejected was recorded.
  assert.deepEqual((await app.inject({ method: 'GET', url: '/v1/commands/' })).json(), { commands: [] });
});

test('any Content-Type is parsed as JSON, like IPA get_json(force=True)', async () => {
  const { app } = await createTestAgent();
  const r = await app.inject({
    method: 'POST',
    url: '/v1/commands/',
    payload: '{"name":"standby.sync","params":{}}',
    headers: { 'content-type': 'text/plain' },
  });
  assert.equal(r.statusCode, 200);
  assert.equal(r.json().command_status, 'SUCCEEDED');
});

test('a body over the limit answers 413 and the agent keeps serving', async () => {
  const { app } = await createTestAgent({ bodyLimit: 1 << 20 });
  const big = JSON.stringify({ name: 'standby.sync', params: { pad: 'a'.repeat(3 << 20) } });
  const r = await postCommand(app, big);
  assert.equal(r.status, 413);
  assertFault(r.json, 'Client', '413');
  await assertStillServing(app);
});

test('default body limit (256 MiB): a body declared larger is 413 before any of it is read', async () => {
  const { app } = await createTestAgent();
  const port = await listeningPort(app);
  const answer = await new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('}')) s.destroy();
    });
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    s.write(
      `POST /v1/commands/ HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${(256 << 20) + 1}\r\n\r\n{"name":`,
    );
  });
  assert.match(answer, /^HTTP\/1\.1 413 /);
  await assertStillServing(app);
});

test('an unknown route answers 404; a known one asked with another method 405 with Allow, as werkzeug does', async () => {
  const { app } = await createTestAgent();
  for (const [method, url] of [
    ['GET', '/v2/status'],
    ['DELETE', '/v1/nosuch'],
    ['POST', '/v1/commands/x/y'],
  ] as const) {
    const r = await app.inject({ method, url });
    assert.equal(r.statusCode, 404, `${method} ${url}`);
    assertFault(r.json(), 'Client', 'Not Found');
  }
  for (const [method, url, allow] of [
    ['DELETE', '/v1/commands/', 'GET, HEAD, POST'],
    ['PUT', '/', 'GET, HEAD'],
    ['POST', '/v1/status', 'GET, HEAD'],
    ['POST', '/v1/commands/abc', 'GET, HEAD'],
  ] as const) {
    const r = await app.inject({ method, url, payload: method === 'POST' ? '{}' : undefined });
    assert.equal(r.statusCode, 405, `${method} ${url}`);
    assert.equal(r.headers.allow, allow);
    assertFault(r.json(), 'Client', '405 Method Not Allowed');
  }
  await assertStillServing(app);
});

test('POST token: required when the agent holds one, 401 wording, checked before the body', async () => {
  const { app } = await createTestAgent({ token: TOKEN });
  const body = { name: 'standby.sync', params: {} };
  for (const q of ['', '?agent_token=', '?agent_token=wrong', `?agent_token=${TOKEN}x`]) {
    const r = await postCommand(app, body, q);
    assert.equal(r.status, 401, q);
    assert.deepEqual(r.json, { faultcode: 'Client', faultstring: '401 Unauthorized: Token invalid.' });
  }
  // Even an invalid body gets 401 first: nothing is parsed for unauthenticated clients.
  assert.equal((await postCommand(app, '{bad', '?agent_token=wrong')).status, 401);
  const ok = await postCommand(app, body, `?wait=true&agent_token=${TOKEN}`);
  assert.equal(ok.status, 200);
});

test('POST token: no token held → requests without one pass, with one fail (Zed equality)', async () => {
  const { app } = await createTestAgent();
  assert.equal((await postCommand(app, { name: 'standby.sync', params: {} })).status, 200);
  assert.equal((await postCommand(app, { name: 'standby.sync', params: {} }, '?agent_token=abc')).status, 401);
});

test('POST token: after a lookup answered ****** with no token held, every command is refused (IPA master locks down)', async () => {
  const { app, state } = await createTestAgent();
  assert.equal((await postCommand(app, { name: 'standby.sync', params: {} })).status, 200, 'no token issued yet (Zed)');
  applyLookup(state, { node: { uuid: 'n' }, config: { heartbeat_timeout: 300, agent_token: MASKED_TOKEN } }, silentLog);
  for (const q of ['', '?agent_token=', `?agent_token=${TOKEN}`]) {
    assert.equal((await postCommand(app, { name: 'standby.sync', params: {} }, q)).status, 401, q);
  }
});

test('GET token is latched: optional until a GET carries the valid one, then required; a wrong one is refused without latching', async () => {
  const { app, state } = await createTestAgent({ token: TOKEN });
  assert.equal((await app.inject({ method: 'GET', url: '/v1/commands/' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/commands/?agent_token=bad' })).statusCode, 401);
  assert.equal(state.getTokenLatched, false, 'a bogus GET cannot lock an older conductor out');
  assert.equal((await app.inject({ method: 'GET', url: '/v1/commands/' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: `/v1/commands/?agent_token=${TOKEN}` })).statusCode, 200);
  assert.equal(state.getTokenLatched, true);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/commands/' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/commands/x' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: `/v1/commands/?agent_token=${TOKEN}` })).statusCode, 200);
  // Status never needs a token.
  assert.equal((await app.inject({ method: 'GET', url: '/v1/status' })).statusCode, 200);
});

test('concurrent POSTs: the second gets 409 "busy", then the agent accepts again', async () => {
  const { wait: gate, open: release } = makeGate();
  const { app } = await createTestAgent({
    extra: {
      test: {
        slow: asyncCommand(async () => {
          await gate;
          return 'done';
        }),
        slowsync: syncCommand(async () => {
          await gate;
          return 1;
        }),
      },
    },
  });
  const first = await postCommand(app, { name: 'test.slow', params: {} });
  assert.equal(first.json.command_status, 'RUNNING');
  const second = await postCommand(app, { name: 'standby.sync', params: {} });
  assert.equal(second.status, 409);
  assertFault(second.json, 'Client', 'busy');
  assert.equal(second.json.faultstring, 'Agent is busy: executing command slow');
  // IPA's order of checks: a name not of the form ext.cmd is 400 first; an unknown extension or command is busy.
  assert.equal((await postCommand(app, { name: 'nodot', params: {} })).status, 400);
  assert.equal((await postCommand(app, { name: 'nosuch.cmd', params: {} })).status, 409);
  assert.equal((await postCommand(app, { name: 'standby.nosuch', params: {} })).status, 409);
  release();
  const done = await app.inject({ method: 'GET', url: `/v1/commands/${first.json.id}?wait=true` });
  assert.equal(done.json().command_status, 'SUCCEEDED');
  assert.deepEqual(done.json().command_result, { result: 'slow: done' });
  assert.equal((await postCommand(app, { name: 'standby.sync', params: {} })).status, 200);
});

test("concurrent POSTs during a sync command: the second waits for it, then runs (IPA's command_lock)", async () => {
  const { wait: gate, open: release } = makeGate();
  const { app } = await createTestAgent({
    extra: {
      test: {
        slowsync: syncCommand(async () => {
          await gate;
          return 'ok';
        }),
      },
    },
  });
  const order: string[] = [];
  const settle =
    (name: string) =>
    <T>(r: T): T => {
      order.push(name);
      return r;
    };
  const firstP = postCommand(app, { name: 'test.slowsync', params: {} }).then(settle('first'));
  await sleep(20);
  const secondP = postCommand(app, { name: 'test.slowsync', params: {} }).then(settle('second'));
  await sleep(50);
  assert.deepEqual(order, [], 'both wait for the gate');
  assert.deepEqual(
    (await app.inject({ method: 'GET', url: '/v1/commands/' })).json().commands,
    [],
    'a sync command is listed only once it ends',
  );
  release();
  const [first, second] = await Promise.all([firstP, secondP]);
  assert.deepEqual(order, ['first', 'second']);
  assert.deepEqual([first.status, second.status], [200, 200]);
  assert.deepEqual([first.json.command_result, second.json.command_result], [{ result: 'ok' }, { result: 'ok' }]);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/commands/' })).json().commands.length, 2);
});

test('a POST queued behind a sync command that starts an async one is then 409 busy', async () => {
  const { wait: gate, open: release } = makeGate();
  const { wait: asyncGate, open: releaseAsync } = makeGate();
  const { app } = await createTestAgent({
    extra: {
      test: {
        slowsync: syncCommand(async () => {
          await gate;
          return 'ok';
        }),
        slow: asyncCommand(async () => {
          await asyncGate;
          return 'done';
        }),
      },
    },
  });
  const syncP = postCommand(app, { name: 'test.slowsync', params: {} });
  await sleep(20);
  const asyncP = postCommand(app, { name: 'test.slow', params: {} });
  const thirdP = postCommand(app, { name: 'standby.sync', params: {} });
  release();
  assert.equal((await syncP).status, 200);
  assert.equal((await asyncP).json.command_status, 'RUNNING');
  const third = await thirdP;
  assert.equal(third.status, 409);
  assert.equal(third.json.faultstring, 'Agent is busy: executing command slow');
  releaseAsync();
});

test("a write_image-sized POST: three copies of a 12 MiB config drive (Ironic's instance_info, args, image_info) are taken", async () => {
  const { app } = await createTestAgent({
    extra: {
      test: { size: syncCommand(async (p) => ({ lengths: [p.node, p.configdrive, p.image_info].map((v) => JSON.stringify(v).length) })) },
    },
  });
  const configdrive = 'H4sI'.padEnd(12 << 20, 'A');
  const r = await postCommand(app, {
    name: 'test.size',
    params: { node: { instance_info: { configdrive } }, configdrive, image_info: { configdrive } },
  });
  assert.equal(r.status, 200);
  assert.ok(r.json.command_result.lengths.every((n: number) => n > 12 << 20));
});

test('an exception outside any command answers 500 with details hidden', async () => {
  const { app, commands } = await createTestAgent();
  (commands as any).listResults = () => {
    throw new Error('secret internal detail');
  };
  const r = await app.inject({ method: 'GET', url: '/v1/commands/' });
  assert.equal(r.statusCode, 500);
  assertFault(r.json(), 'Server', 'Internal Server Error');
  assert.ok(!r.body.includes('secret'));
  await assertStillServing(app);
});

test('finalize_rescue-style stop: onStopServing runs after the answer', async () => {
  let stopped = 0;
  const { app, state } = await createTestAgent({
    extra: {
      test: {
        stop: syncCommand((_p, ctx) => {
          ctx.state.serveApi = false;
          return null;
        }),
      },
    },
  });
  state.onStopServing = () => {
    stopped++;
  };
  const r = await postCommand(app, { name: 'test.stop', params: {} });
  assert.equal(r.status, 200);
  await sleep(10);
  assert.equal(stopped, 1);
});

test('finalize_rescue-style stop also when the client hung up before the command ended', async () => {
  let stopped = 0;
  const { wait: gate, open: release } = makeGate();
  const { app, state } = await createTestAgent({
    extra: {
      test: {
        stop: syncCommand(async (_p, ctx) => {
          await gate;
          ctx.state.serveApi = false;
          return null;
        }),
      },
    },
  });
  state.onStopServing = () => {
    stopped++;
  };
  const port = await listeningPort(app);
  const body = JSON.stringify({ name: 'test.stop', params: {} });
  const { s } = rawClient(port, postHead(body.length) + body);
  await sleep(50);
  s.destroy();
  await sleep(50);
  release();
  await sleep(50);
  assert.equal(stopped, 1);
});

test('a POST queued behind a sync command is dropped, not run, when its client hangs up before its turn', async () => {
  const { wait: gate, open: release } = makeGate();
  let runs = 0;
  const logs = createMemoryLog();
  const { app } = await createTestAgent({
    log: logs,
    extra: {
      test: {
        slowsync: syncCommand(async () => {
          await gate;
          return 'ok';
        }),
        count: syncCommand(() => {
          runs++;
          return runs;
        }),
      },
    },
  });
  const firstP = postCommand(app, { name: 'test.slowsync', params: {} });
  await sleep(20);
  // A retry whose client gives up (as the conductor does after command_timeout) while it waits.
  const port = await listeningPort(app);
  const body = JSON.stringify({ name: 'test.count', params: {} });
  const { s } = rawClient(port, postHead(body.length) + body);
  await sleep(50);
  s.destroy();
  await sleep(20);
  // One that stays: it runs after the first, and is the first run of test.count.
  const thirdP = postCommand(app, { name: 'test.count', params: {} });
  await sleep(20);
  release();
  assert.equal((await firstP).status, 200);
  const third = await thirdP;
  assert.equal(third.status, 200);
  assert.equal(third.json.command_result, 1);
  assert.equal(runs, 1, 'the abandoned POST never ran');
  assert.equal((await app.inject({ method: 'GET', url: '/v1/commands/' })).json().commands.length, 2);
  assert.ok(
    logs.lines.some((l) => l.includes('not running test.count: its client hung up')),
    logs.lines.join('\n'),
  );
});

test('a POST queued behind a command that stops the API answers 503 and does not run', async () => {
  const { wait: gate, open: release } = makeGate();
  let runs = 0;
  const { app, state } = await createTestAgent({
    extra: {
      test: {
        stop: syncCommand(async (_p, ctx) => {
          await gate;
          ctx.state.serveApi = false;
          return null;
        }),
        count: syncCommand(() => {
          runs++;
          return runs;
        }),
      },
    },
  });
  state.onStopServing = () => {};
  const firstP = postCommand(app, { name: 'test.stop', params: {} });
  await sleep(20);
  const secondP = postCommand(app, { name: 'test.count', params: {} });
  await sleep(20);
  release();
  assert.equal((await firstP).status, 200);
  const second = await secondP;
  assert.equal(second.status, 503);
  assertFault(second.json, 'Server', "the agent's API has stopped serving");
  assert.equal(runs, 0);
});

test('answers carry IPA-compatible headers; HEAD answers a GET route without a body', async () => {
  const { app } = await createTestAgent();
  const r = await app.inject({ method: 'GET', url: '/v1/status' });
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
  const head = await app.inject({ method: 'HEAD', url: '/v1/status' });
  assert.equal(head.statusCode, 200);
  assert.equal(head.headers['content-length'], r.headers['content-length']);
  assert.equal(head.body, '');
  const fault = await app.inject({ method: 'GET', url: '/nope' });
  assert.equal(fault.headers['content-type'], 'application/json; charset=utf-8');
});

test('JSON that sets __proto__ or constructor.prototype is refused; a bad command id escape is a 400 fault', async () => {
  const { app } = await createTestAgent();
  for (const body of [
    '{"name":"standby.sync","params":{"__proto__":{"x":1}}}',
    '{"name":"standby.sync","params":{"\\u005f_proto__":{"x":1}}}',
    '{"name":"standby.sync","params":{"a":[{"constructor":{"prototype":{"x":1}}}]}}',
  ]) {
    const r = await postCommand(app, body);
    assert.equal(r.status, 400, body);
    assertFault(r.json, 'Client', 'not valid JSON');
  }
  assert.equal((await postCommand(app, '{"name":"standby.sync","params":{"constructor":{"x":1}}}')).status, 200);
  assert.equal((await postCommand(app, { name: 'standby.sync', params: {} }, '?__proto__=a&__proto__=b&wait=true')).status, 200);
  const bad = await app.inject({ method: 'GET', url: '/v1/commands/%zz' });
  assert.equal(bad.statusCode, 400);
  assertFault(bad.json(), 'Client', 'percent-encoding');
  await assertStillServing(app);
});

test('broken HTTP, a chunked body over the limit and a client that stops mid-body do not stop the agent', async () => {
  const { app } = await createTestAgent({ bodyLimit: 1024 });
  const port = await listeningPort(app);
  const send = (raw: string, waitMs = 500): Promise<string> =>
    new Promise((resolve) => {
      const { s, answer } = rawClient(port, raw);
      const t = setTimeout(() => s.destroy(), waitMs);
      s.on('close', () => {
        clearTimeout(t);
        resolve(answer());
      });
    });
  assert.match(await send('GARBAGE\r\n\r\n'), /^HTTP\/1\.1 400 /);
  const chunked = await send(`POST /v1/commands/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${'a'.repeat(2048)}\r\n`);
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  assert.match(chunked, /"faultstring":"413 Payload Too Large: /);
  // Half a body, then silence: the agent waits for it without blocking anyone else.
  const slow = send('POST /v1/commands/ HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{"name":', 1500);
  await assertStillServing(app);
  assert.equal(await slow, '');
  await assertStillServing(app);
});

test('bodies read at once share one budget (the body limit): a second large body meanwhile is 503; bytes return when a read ends', async () => {
  const { app } = await createTestAgent({ bodyLimit: 1024, bodyIdleMs: 2000 });
  const port = await listeningPort(app);
  /** Waits until `re` matches what `c` received, up to 5 s: the answers come on their own time on a loaded machine. */
  const until = async (c: { answer(): string }, re: RegExp): Promise<void> => {
    for (const end = Date.now() + 5000; !re.test(c.answer()) && Date.now() < end; ) await sleep(20);
    assert.match(c.answer(), re);
  };
  const body = JSON.stringify({ name: 'standby.sync', params: { pad: 'x'.repeat(700) } });
  // 700 bytes of the first body arrive, the rest waits.
  const first = rawClient(port, postHead(body.length) + body.slice(0, 700));
  // Time for the agent to count them before the second body comes (far under the idle time).
  await sleep(300);
  const second = rawClient(port, postHead(body.length) + body.slice(0, 400));
  await until(second, /^HTTP\/1\.1 503 /);
  assert.match(second.answer(), /retry-after: 1/i);
  // Drained: the client may go on sending its body and then use the same connection.
  second.s.write(body.slice(400));
  second.s.write('GET /v1/status HTTP/1.1\r\nHost: a\r\n\r\n');
  await until(second, /HTTP\/1\.1 503 [\s\S]*HTTP\/1\.1 200 /);
  first.s.write(body.slice(700));
  await until(first, /^HTTP\/1\.1 200 /);
  // The budget is free again; a client that leaves mid-body gives its share back too.
  const quitter = rawClient(port, postHead(body.length) + body.slice(0, 700));
  await sleep(50);
  quitter.s.destroy();
  await sleep(50);
  const r = await postCommand(app, JSON.parse(body));
  assert.equal(r.status, 200);
  // One that stops sending without closing (a dead peer) gets 408 after the idle time, and its share back.
  const stalled = rawClient(port, postHead(body.length) + body.slice(0, 700));
  await until(stalled, /^HTTP\/1\.1 408 /);
  assert.equal((await postCommand(app, JSON.parse(body))).status, 200);
  for (const c of [first, second, stalled]) c.s.destroy();
});
