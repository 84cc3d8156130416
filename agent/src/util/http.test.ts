/** util/http.ts: answers of any status, no-answer errors (before/after connecting), timeouts, redirects, auth, retries. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NoAnswerError, envProxies, httpGetBuffer, httpRequest, httpRequestText, keepsAuthorization, retry } from './http.js';

let server: http.Server;
let base: string;
const seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }> = [];

before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url === '/moved') res.writeHead(302, { location: '/json' }).end();
      else if (req.url === '/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      else if (req.url === '/missing') res.writeHead(404).end('nope');
      else if (req.url === '/slow') setTimeout(() => res.end('late'), 2000);
      else if (req.url === '/stall') {
        // Headers and a first chunk at once, then nothing (the rest never comes).
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
      } else if (req.url === '/reset') req.socket.destroy();
      else res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

describe('httpRequest / httpRequestText', () => {
  it('resolves every status, sends the body with its length and a user agent, basic auth from the URL', async () => {
    seen.length = 0;
    const r = await httpRequestText(`${base.replace('http://', 'http://u:p%40ss@')}/echo`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual([r.status, r.text], [200, '{"a":1}']);
    assert.equal(seen[0]!.headers['content-length'], '7');
    assert.equal(seen[0]!.headers['user-agent'], 'ramforge-agent');
    assert.equal(seen[0]!.headers.authorization, `Basic ${Buffer.from('u:p@ss').toString('base64')}`);
    assert.equal((await httpRequestText(`${base}/missing`)).status, 404);
  });

  it('httpGetBuffer: a server that stalls after its headers fails the fetch within the timeout, not never', async () => {
    const t0 = Date.now();
    await assert.rejects(httpGetBuffer(`${base}/stall`, { timeoutMs: 300 }), /no data from .*\/stall within 0\.3 s/);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('follows redirects only when asked, and only for GET', async () => {
    assert.equal((await httpRequestText(`${base}/moved`)).status, 302);
    const r = await httpRequestText(`${base}/moved`, { maxRedirects: 5 });
    assert.deepEqual([r.status, r.text], [200, '{"ok":true}']);
    await assert.rejects(httpGetBuffer(`${base}/missing`), (e: unknown) => (e as { statusCode?: number }).statusCode === 404);
    assert.equal((await httpGetBuffer(`${base}/moved`, { maxRedirects: 1 })).toString(), '{"ok":true}');
  });

  it('a redirect to another host or port drops the Authorization header; one on the same server keeps it', async () => {
    const other = http.createServer((req, res) => {
      seen.push({ method: req.method!, url: `other${req.url}`, headers: req.headers, body: '' });
      res.end('cdn');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherBase = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const hop = http.createServer((req, res) => {
      seen.push({ method: req.method!, url: `hop${req.url}`, headers: req.headers, body: '' });
      if (req.url === '/away') res.writeHead(307, { location: `${otherBase}/blob` }).end();
      else if (req.url === '/here') res.writeHead(302, { location: '/final' }).end();
      else res.end('same');
    });
    await new Promise<void>((r) => hop.listen(0, '127.0.0.1', r));
    const hopBase = `http://127.0.0.1:${(hop.address() as AddressInfo).port}`;
    try {
      const headers = { authorization: 'Bearer registry-token' };
      seen.length = 0;
      assert.equal((await httpGetBuffer(`${hopBase}/away`, { headers, maxRedirects: 2 })).toString(), 'cdn');
      assert.deepEqual(
        seen.map((x) => [x.url, x.headers.authorization]),
        [
          ['hop/away', 'Bearer registry-token'],
          ['other/blob', undefined],
        ],
      );
      seen.length = 0;
      assert.equal((await httpGetBuffer(`${hopBase}/here`, { headers, maxRedirects: 2 })).toString(), 'same');
      assert.deepEqual(
        seen.map((x) => x.headers.authorization),
        ['Bearer registry-token', 'Bearer registry-token'],
      );
    } finally {
      for (const s of [other, hop]) {
        s.closeAllConnections();
        s.close();
      }
    }
    const u = (x: string) => new URL(x);
    assert.equal(keepsAuthorization(u('http://img/a'), u('https://img/b')), true, 'http → https, default ports');
    assert.equal(keepsAuthorization(u('https://img/a'), u('http://img/b')), false, 'https → http');
    assert.equal(keepsAuthorization(u('http://img:8080/a'), u('https://img/b')), false);
    assert.equal(keepsAuthorization(u('https://img/a'), u('https://cdn/b')), false);
  });

  it('no answer: NoAnswerError, connected false when refused, true when the server hung up or timed out', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    await assert.rejects(
      httpRequest(`http://127.0.0.1:${port}/`),
      (e: unknown) => e instanceof NoAnswerError && !e.connected && /ECONNREFUSED/.test(e.message),
    );
    await assert.rejects(httpRequest(`${base}/reset`), (e: unknown) => e instanceof NoAnswerError && e.connected);
    await assert.rejects(
      httpRequest(`${base}/slow`, { timeoutMs: 200 }),
      (e: unknown) => e instanceof NoAnswerError && /no answer from 127\.0\.0\.1:\d+ within 0\.2 s/.test(e.message),
    );
  });

  it('an aborted request rejects with the AbortError, not a NoAnswerError', async () => {
    const ac = new AbortController();
    const p = httpRequest(`${base}/slow`, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, (e: unknown) => (e as Error).name === 'AbortError');
  });

  it('refuses schemes other than http and https', async () => {
    await assert.rejects(httpRequest('ftp://127.0.0.1/x'), /unsupported URL scheme ftp:/);
  });
});

describe('retry', () => {
  it('retries what retryIf allows, pausing between attempts, and throws the last error', async () => {
    const pauses: number[] = [];
    let calls = 0;
    const sleep = async (ms: number) => {
      pauses.push(ms);
    };
    assert.equal(
      await retry(
        async (n) => {
          calls++;
          if (n < 3) throw new Error(`e${n}`);
          return 'ok';
        },
        { attempts: 5, delayMs: 10, sleep },
      ),
      'ok',
    );
    assert.deepEqual([calls, pauses], [3, [10, 10]]);
    await assert.rejects(
      retry(
        async (n) => {
          throw new Error(`e${n}`);
        },
        { attempts: 3, delayMs: 1, sleep },
      ),
      /e3/,
    );
    const fatal = new Error('fatal');
    let tries = 0;
    await assert.rejects(
      retry(
        async () => {
          tries++;
          throw fatal;
        },
        { attempts: 3, delayMs: 1, sleep, retryIf: (e) => e !== fatal },
      ),
      /fatal/,
    );
    assert.equal(tries, 1);
  });
});

describe('envProxies', () => {
  it('reads the proxies as requests does: lower case first, all_proxy for both schemes, no_proxy', () => {
    assert.deepEqual(envProxies({}), {});
    assert.deepEqual(envProxies({ HTTPS_PROXY: 'http://p:3128', no_proxy: 'ironic.local' }), {
      proxies: { http: null, https: 'http://p:3128' },
      noProxy: 'ironic.local',
    });
    assert.deepEqual(envProxies({ http_proxy: 'http://low:1', HTTP_PROXY: 'http://up:2' }).proxies, { http: 'http://low:1', https: null });
    assert.deepEqual(envProxies({ ALL_PROXY: 'http://all:3', https_proxy: 'http://s:4' }), {
      proxies: { http: 'http://all:3', https: 'http://s:4' },
      noProxy: null,
    });
  });
});
