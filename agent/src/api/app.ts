/**
 * IPA's REST API (ipa-protocol.md §2.2) as a node:http request listener.
 * startServer() (server.ts) puts it on a socket; tests do the same on
 * 127.0.0.1 (agent/test/support/inject.ts).
 *
 * No web framework: fastify cost the agent about 7 MiB of its 50 MB idle
 * RSS target (its code, ajv/pino stand-ins, perf_hooks, async_hooks,
 * diagnostics_channel; docs/agent-memory.md) for six routes. What it did for
 * the agent is done here: routing (routes.ts), body limits, JSON parsing that
 * refuses prototype poisoning, one error format.
 *
 * Body limit: 32 MiB. The conductor's biggest request is
 * deploy.execute_deploy_step(write_image): the full node (~100 KB, 59 keys)
 * plus the config drive, a base64 gzipped ISO that can be several MiB and
 * appears up to three times (node.instance_info, step args, image_info).
 * 32 MiB leaves room for an ~8 MiB config drive while bounding what one
 * request can make the agent parse (about 3x the body in memory) on a
 * ramdisk with a few hundred MiB free. Larger config drives should be URLs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CommandDispatcher, CommandNotStarted } from '../commands/dispatcher.js';
import type { AgentState } from '../state.js';
import type { Log } from '../util/log.js';
import { formatFault, HttpError } from './faults.js';
import { createRouter, type RouteRequest } from './routes.js';

/**
 * IPA sets no limit; one is kept so a runaway client cannot exhaust the
 * ramdisk's memory. Ironic's write_image step carries the config drive
 * three times (node.instance_info unmasked, the step's configdrive and
 * image_info.configdrive), and Ironic takes config drives of up to 64 MiB:
 * 256 MiB covers that and stays under V8's longest string (~512 MiB).
 */
export const DEFAULT_BODY_LIMIT = 256 << 20;

/**
 * Request bodies being read at once share one budget, the body limit: one
 * client at the limit, or many small ones, but not several large ones side
 * by side (IPA has no bound at all). A body that would overrun it is
 * refused with 503 (retry later) and drained.
 */
/** How long a request body may pause before the agent gives up on it (408). */
export const BODY_IDLE_MS = 60_000;

interface BodyBudget {
  readonly max: number;
  used: number;
}

export interface BuildAppOptions {
  bodyLimit?: number;
  /** BODY_IDLE_MS unless given (tests). */
  bodyIdleMs?: number;
  /** Where internal errors (and, with logRequests, every request) are logged; silent by default (tests). */
  log?: Log;
  /** Log every request at debug level (the conductor polls every few seconds: noisy). */
  logRequests?: boolean;
}

export interface AgentApi {
  /** The node:http (or https) request listener. */
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
}

const JSON_TYPE = 'application/json; charset=utf-8';

const NOT_FOUND = new HttpError(404, 'The requested URL was not found on the server.');
const BODY_TOO_LARGE = (): HttpError => new HttpError(413, 'The request body is larger than the agent accepts.');
const BODIES_OVER_BUDGET = (): HttpError =>
  new HttpError(503, 'Other requests being read fill the memory the agent sets aside for request bodies; retry later.', {
    'retry-after': '1',
  });

/** JSON.parse's result would carry __proto__ or constructor.prototype (secure-json-parse's check, which fastify ran). */
const SUSPECT_PROTO =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;
const SUSPECT_CONSTRUCTOR =
  /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/;

function hasPoisonedKey(value: unknown): boolean {
  const todo: unknown[] = [value];
  while (todo.length > 0) {
    const node = todo.pop() as Record<string, unknown>;
    if (Object.hasOwn(node, '__proto__')) return true;
    const c = Object.hasOwn(node, 'constructor') ? node.constructor : undefined;
    if (c !== null && typeof c === 'object' && Object.hasOwn(c, 'prototype')) return true;
    for (const k in node) {
      const v = node[k];
      if (v !== null && typeof v === 'object') todo.push(v);
    }
  }
  return false;
}

/** The body as JSON, whatever the Content-Type (IPA: get_json(force=True)). */
export function parseJsonBody(text: string): unknown {
  const bad = (why: string): HttpError => new HttpError(400, `The request body is not valid JSON: ${why}`);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text === '') throw bad('the body is empty.');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (value !== null && typeof value === 'object' && (SUSPECT_PROTO.test(text) || SUSPECT_CONSTRUCTOR.test(text)) && hasPoisonedKey(value))
    throw bad('it sets __proto__ or constructor.prototype, which the agent refuses.');
  return value;
}

/**
 * Read the body up to `limit` bytes. Over the limit it stops keeping data and
 * lets the rest drain: closing the connection while the client still sends
 * would make the kernel reset it, and the client might never read the 413.
 */
function readBody(req: IncomingMessage, limit: number, budget: BodyBudget, idleMs: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(BODY_TOO_LARGE());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    // A client that stops sending mid-body without closing (a dead peer, no RST) would hold its share of the budget.
    const idle = setTimeout(() => {
      done();
      reject(new HttpError(408, `No part of the request body came for ${idleMs / 1000} s.`));
    }, idleMs);
    const done = (): void => {
      clearTimeout(idle);
      budget.used -= length;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      idle.refresh();
      length += chunk.length;
      budget.used += chunk.length;
      if (length > limit) {
        done();
        req.resume();
        reject(BODY_TOO_LARGE());
        return;
      }
      if (budget.used > budget.max) {
        done();
        // Drained, as for 413: a client still sending reads the answer only if the connection stays.
        req.resume();
        reject(BODIES_OVER_BUDGET());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, length).toString('utf8'));
    };
    const onError = (e: Error): void => {
      done();
      reject(new HttpError(400, `The request body could not be read: ${e.message}`));
    };
    // A client gone mid-body: its bytes leave the budget even if no 'error' comes.
    const onClose = (): void => {
      done();
      reject(new HttpError(400, 'The client closed the connection before the request body was complete.'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** A POST without Content-Type and without a body has no body (it is not an empty JSON document). */
const hasBody = (req: IncomingMessage): boolean =>
  req.headers['content-type'] !== undefined ||
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

function parseQuery(url: string, at: number): RouteRequest['query'] {
  // No prototype: a parameter named __proto__ is just a parameter.
  const query: RouteRequest['query'] = Object.create(null);
  if (url[at] !== '?') return query;
  const hash = url.indexOf('#', at);
  for (const [k, v] of new URLSearchParams(url.slice(at + 1, hash < 0 ? undefined : hash))) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return query;
}

export function buildApp(state: AgentState, commands: CommandDispatcher, o: BuildAppOptions = {}): AgentApi {
  const bodyLimit = o.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const bodyBudget: BodyBudget = { max: bodyLimit, used: 0 };
  const log = o.log;
  const router = createRouter(state, commands);
  // finalize_rescue and lockdown clear serveApi: close the listener once their answer is out.
  let stopRequested = false;
  const stopAfter = (): void => {
    if (stopRequested) return;
    stopRequested = true;
    setImmediate(() => state.onStopServing());
  };

  function send(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: unknown,
    closeConnection = false,
    extraHeaders: Readonly<Record<string, string>> = {},
  ): void {
    let payload: string;
    try {
      payload = JSON.stringify(body);
    } catch (e) {
      log?.error(`cannot serialize the answer to ${req.method} ${pathOf(req.url)}: ${(e as Error).message}`);
      status = 500;
      payload = JSON.stringify(formatFault(e).fault);
    }
    sendJson(req, res, status, payload, closeConnection, extraHeaders);
  }

  function sendJson(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    payload: string,
    closeConnection = false,
    extraHeaders: Readonly<Record<string, string>> = {},
  ): void {
    const headers: Record<string, string | number> = closeConnection ? { ...extraHeaders, connection: 'close' } : { ...extraHeaders };
    headers['content-type'] = JSON_TYPE;
    headers['content-length'] = Buffer.byteLength(payload);
    res.writeHead(status, headers);
    res.end(payload);
    if (o.logRequests) log?.debug(`${req.method} ${pathOf(req.url)} → ${status}`);
    if (!state.serveApi) {
      // A client that hung up while the command ran: 'close' has fired already, and no answer will flush.
      if (res.destroyed) stopAfter();
      else res.once('close', stopAfter);
    }
  }

  function fail(req: IncomingMessage, res: ServerResponse, err: unknown, closeConnection = false): void {
    if (err instanceof CommandNotStarted) {
      // Its client is gone: no one to answer. Otherwise the API stopped serving: 503.
      if (err.clientGone) res.destroy();
      else send(req, res, 503, formatFault(new HttpError(503, err.message)).fault, true);
      return;
    }
    const { status, fault, hidden } = formatFault(err);
    if (hidden) log?.error(`internal error answering ${req.method} ${pathOf(req.url)}: ${(err as Error)?.stack ?? String(err)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(req, res, status, fault, closeConnection, err instanceof HttpError ? err.headers : undefined);
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    const at = pathEnd(url);
    const matched = router.match(req.method ?? '', url.slice(0, at));
    if (!matched) throw NOT_FOUND;
    const { route, id } = matched;
    if (route.json !== undefined) {
      sendJson(req, res, 200, route.json);
      return;
    }
    const query = parseQuery(url, at);
    route.before?.(query);
    let body: unknown;
    if (route.body && hasBody(req)) {
      try {
        body = parseJsonBody(await readBody(req, bodyLimit, bodyBudget, o.bodyIdleMs ?? BODY_IDLE_MS));
      } catch (e) {
        // Like fastify: a rejected body ends the connection unless the rest is being drained (413, 503).
        fail(req, res, e, ![413, 503].includes((e as HttpError).statusCode));
        return;
      }
    }
    const result = await route.handle({
      query,
      id,
      body,
      root: () => `${(req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'}://${req.headers.host ?? ''}`,
      signal: () => clientGone(res),
    });
    send(req, res, 200, result);
  }

  return {
    handle(req, res) {
      serve(req, res).catch((e: unknown) => fail(req, res, e));
    },
  };
}

/** A signal aborted when `res`'s client hangs up before the answer is out; only POSTs that may queue ask for one. */
function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  // 'close' fired already if the client left while the body was read.
  if (res.destroyed) ac.abort();
  else
    res.once('close', () => {
      if (!res.writableFinished) ac.abort();
    });
  return ac.signal;
}

/** Where a request URL's path ends: at its first '?' or '#', else its length. */
function pathEnd(url: string): number {
  const q = url.indexOf('?');
  const h = url.indexOf('#');
  return q < 0 ? (h < 0 ? url.length : h) : h < 0 ? q : Math.min(q, h);
}

/** The path of a request URL, without the query (which may hold the agent token). */
function pathOf(url: string | undefined): string {
  const u = url ?? '';
  return u.slice(0, pathEnd(u));
}
