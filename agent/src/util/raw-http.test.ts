import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { rawGet, rawGetApplies, type BodyTarget } from './raw-http.js';

/** A TCP server that answers every connection with `answer` (pieces written apart, then maybe closed). */
async function rawServer(answer: (s: Socket, request: string) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let req = '';
    s.on('data', (d) => {
      req += d.toString('latin1');
      if (req.includes('\r\n\r\n')) answer(s, req);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/img.raw`,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

/** A target of small regions that waits (a turn of the event loop) at every `every`-th advance, like a full block. */
function smallTarget(size: number, region = 1000, every = 3): BodyTarget & { data: Buffer; filled: number } {
  const t = {
    data: Buffer.alloc(size),
    filled: 0,
    advances: 0,
    region: () => t.data.subarray(t.filled, Math.min(size, t.filled + region)),
    advance(n: number) {
      t.filled += n;
      return ++t.advances % every === 0 ? new Promise<void>((r) => setImmediate(r)) : undefined;
    },
  };
  return t;
}

test('rawGetApplies: plain http without a proxy only', () => {
  assert.equal(rawGetApplies('http://h/x', {}), true);
  assert.equal(rawGetApplies('https://h/x', {}), false);
  assert.equal(rawGetApplies('http://h/x', { proxies: { http: 'http://p:3128' } }), false);
  assert.equal(rawGetApplies('http://h/x', { proxies: { http: 'http://p:3128' }, noProxy: 'h' }), true);
  assert.equal(rawGetApplies('http://h/x', { method: 'POST' }), false);
  assert.equal(rawGetApplies('not a url', {}), false);
});

test('the body lands in the target in order, the head split over reads and the first body bytes sent with it', async () => {
  const body = randomBytes(300_000);
  let request = '';
  const srv = await rawServer((s, req) => {
    request = req;
    s.write('HTTP/1.1 200 OK\r\nContent-Le');
    setTimeout(() => {
      s.write(Buffer.concat([Buffer.from(`ngth: ${body.length}\r\nX-A: 1\r\nx-a: 2\r\n\r\n`), body.subarray(0, 5000)]));
      setTimeout(() => s.end(body.subarray(5000)), 20);
    }, 20);
  });
  try {
    const res = await rawGet(srv.url.replace('//', '//u:p%40@'), { headers: { 'x-token': 't' } });
    assert.equal(res.readable, true);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-a'], '1, 2');
    // Data may arrive before readBody: it must not be lost.
    await new Promise((r) => setTimeout(r, 50));
    const t = smallTarget(body.length);
    let progress = 0;
    assert.equal(await res.readBody(t, (n) => (progress += n)), body.length);
    assert.equal(progress, body.length);
    for (let i = 0; i < body.length; i++)
      if (t.data[i] !== body[i]) assert.fail(`first difference at ${i} of ${body.length} (${t.filled})`);
    assert.match(request, /^GET \/img\.raw HTTP\/1\.1\r\n/);
    assert.match(request, /\r\nx-token: t\r\n/);
    assert.match(request, new RegExp(`\\r\\nauthorization: Basic ${Buffer.from('u:p@').toString('base64')}\\r\\n`));
  } finally {
    await srv.close();
  }
});

test('a connection closed early rejects with the bytes received', async () => {
  const srv = await rawServer((s) =>
    s.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n'), Buffer.alloc(4000)])),
  );
  try {
    const res = await rawGet(srv.url);
    await assert.rejects(
      res.readBody(smallTarget(10000), () => {}),
      /connection closed after 4000 of 10000 bytes/,
    );
  } finally {
    await srv.close();
  }
});

test('error statuses, redirects and chunked bodies are not read: the status and headers only', async () => {
  const answers = [
    'HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n',
    'HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  ];
  let i = 0;
  const srv = await rawServer((s) => s.end(answers[i++] ?? ''));
  try {
    for (const [code, header] of [
      [404, 'content-length'],
      [302, 'location'],
      [200, 'transfer-encoding'],
    ] as const) {
      const res = await rawGet(srv.url);
      assert.equal(res.statusCode, code);
      assert.equal(res.readable, false);
      assert.ok(res.headers[header] !== undefined);
      await assert.rejects(res.readBody(smallTarget(10), () => {}));
    }
  } finally {
    await srv.close();
  }
});

test('no answer: NoAnswerError (refused, timeout, not HTTP); abort: AbortError', async () => {
  const closed = await rawServer(() => {});
  const url = closed.url;
  await closed.close();
  await assert.rejects(rawGet(url), (e: Error) => e.name === 'NoAnswerError' && (e as { connected?: boolean }).connected === false);

  const silent = await rawServer(() => {});
  const garbage = await rawServer((s) => s.end('SSH-2.0-OpenSSH\r\n\r\n'));
  try {
    await assert.rejects(rawGet(silent.url, { timeoutMs: 100 }), /no answer from .* within 0.1 s/);
    await assert.rejects(rawGet(garbage.url), /not HTTP\/1\.x/);
    const ac = new AbortController();
    const p = rawGet(silent.url, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, { name: 'AbortError' });
  } finally {
    await silent.close();
    await garbage.close();
  }
});

test('a target that fails stops the read with its error', async () => {
  const srv = await rawServer((s) =>
    s.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n'), Buffer.alloc(100000)])),
  );
  try {
    const res = await rawGet(srv.url);
    const t = smallTarget(100000);
    t.advance = () => Promise.reject(new Error('disk on fire'));
    await assert.rejects(
      res.readBody(t, () => {}),
      /disk on fire/,
    );
  } finally {
    await srv.close();
  }
});

test('a header value with a line break is refused before anything is sent', async () => {
  let asked = false;
  const srv = await rawServer((s) => {
    asked = true;
    s.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
  try {
    await assert.rejects(rawGet(srv.url, { headers: { authorization: 'Basic x\r\nX-Evil: 1' } }), /line break/);
    assert.equal(asked, false);
  } finally {
    await srv.close();
  }
});
