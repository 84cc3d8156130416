/**
 * The routes of IPA's API, each under /v1 and versionless (IPA maps a missing
 * version to v1). Handlers are thin: token check, then the command dispatcher.
 *
 * A small router of our own rather than find-my-way: the API is six fixed
 * paths and one parameter, and find-my-way (with node:assert, which it loads)
 * costs 1.6 MiB of idle RSS on the ramdisk's Node, a third of what the agent
 * may add to a bare node:http server under the 50 MB target
 * (docs/agent-memory.md). Matching follows what the fastify app did:
 * case-sensitive, one trailing slash ignored (werkzeug redirects
 * /v1/commands to /v1/commands/; the conductor uses the slash), the query
 * after '?' or '#', the command id percent-decoded.
 */
import type { CommandDispatcher } from '../commands/dispatcher.js';
import type { AgentState } from '../state.js';
import { HttpError } from './faults.js';
import { checkCommandToken, checkReadToken } from './token.js';

const DOCS_URL = 'https://docs.openstack.org/ironic-python-agent';
const MEDIA_TYPE = 'application/vnd.openstack.ironic-python-agent.v1+json';

/** What a handler sees of the request. */
export interface RouteRequest {
  /** One value per name; a name given twice is an array (never a valid token or wait flag). */
  query: Record<string, string | string[]>;
  /** The command id of /v1/commands/:id. */
  id: string;
  /** The parsed JSON body (routes with `body`); undefined when the request had none. */
  body: unknown;
  /** scheme://Host of the request, for the links of the version documents. */
  root(): string;
  /** Aborted when the client hangs up before its answer is out (a new signal on each call). */
  signal(): AbortSignal;
}

export interface Route {
  /** Runs before the body is read: an unauthenticated client cannot make the agent parse 32 MiB. */
  before?(query: RouteRequest['query']): void;
  /** The route takes a JSON body. */
  body?: boolean;
  /** The answer, when it never changes: serialized once, sent without calling handle (GET /v1/status, polled under load). */
  json?: string;
  handle(request: RouteRequest): unknown;
}

const isWait = (q: RouteRequest['query']): boolean => typeof q.wait === 'string' && q.wait.toLowerCase() === 'true';

/** The version document V of GET / and GET /v1/. */
function describeVersion(root: string) {
  return {
    id: 'v1',
    links: [
      { href: `${root}/v1`, rel: 'self' },
      { href: DOCS_URL, rel: 'describedby', type: 'text/html' },
    ],
  };
}

const link = (root: string, resource: string, rel: 'self' | 'bookmark') => ({
  href: rel === 'self' ? `${root}/v1/${resource}` : `${root}/${resource}`,
  rel,
});

export interface Router {
  /** The route for `method` (HEAD answers as GET) and `path` (no query), with the command id; undefined → 404; throws 405 for a known path's other methods. */
  match(method: string, path: string): { route: Route; id: string } | undefined;
}

export function createRouter(state: AgentState, commands: CommandDispatcher): Router {
  const root: Route = {
    handle(request) {
      const v = describeVersion(request.root());
      return {
        name: 'OpenStack Ironic Python Agent API',
        description: 'Ironic Python Agent is a provisioning agent for OpenStack Ironic',
        versions: [v],
        default_version: v,
      };
    },
  };
  const v1: Route = {
    handle(request) {
      const base = request.root();
      return {
        ...describeVersion(base),
        commands: [link(base, 'commands', 'self'), link(base, 'commands', 'bookmark')],
        status: [link(base, 'status', 'self'), link(base, 'status', 'bookmark')],
        media_types: [{ base: 'application/json', type: MEDIA_TYPE }],
      };
    },
  };
  const statusDoc = { started_at: state.startedAt, version: state.version };
  const status: Route = { json: JSON.stringify(statusDoc), handle: () => statusDoc };
  const listCommands: Route = {
    handle({ query }) {
      checkReadToken(state, query.agent_token);
      return { commands: commands.listResults() };
    },
  };
  const getCommand: Route = {
    handle({ query, id }) {
      checkReadToken(state, query.agent_token);
      return commands.getResult(id, isWait(query));
    },
  };
  const runCommand: Route = {
    before: (query) => checkCommandToken(state, query.agent_token),
    body: true,
    handle({ query, body, signal }) {
      const b = body as { name?: unknown; params?: unknown } | null | undefined;
      if (
        typeof b !== 'object' ||
        b === null ||
        Array.isArray(b) ||
        typeof b.name !== 'string' ||
        typeof b.params !== 'object' ||
        b.params === null ||
        Array.isArray(b.params)
      ) {
        throw new HttpError(400, 'Missing or invalid name or params');
      }
      return commands.executeCommand(b.name, b.params as Record<string, unknown>, {
        wait: isWait(query),
        signal: signal(),
      });
    },
  };

  return {
    match(method, fullPath) {
      // One trailing slash is ignored ('/' itself is the root).
      let path = fullPath.length > 1 && fullPath.endsWith('/') ? fullPath.slice(0, -1) : fullPath;
      let found: { get: Route; post?: Route; id: string } | undefined;
      if (path === '/') found = { get: root, id: '' };
      else if (path === '/v1') found = { get: v1, id: '' };
      else {
        if (path.startsWith('/v1/')) path = path.slice(3);
        if (path === '/status') found = { get: status, id: '' };
        else if (path === '/commands') found = { get: listCommands, post: runCommand, id: '' };
        else if (path.startsWith('/commands/')) {
          const raw = path.slice('/commands/'.length);
          if (raw === '' || raw.includes('/')) return undefined;
          let id: string;
          try {
            id = decodeURIComponent(raw);
          } catch {
            throw new HttpError(400, `'${fullPath}' is not a valid URL: bad percent-encoding in the command id.`);
          }
          found = { get: getCommand, id };
        }
      }
      if (!found) return undefined;
      const route = method === 'GET' || method === 'HEAD' ? found.get : method === 'POST' ? found.post : undefined;
      // A known path asked with another method: 405 with Allow, as werkzeug answers for IPA.
      if (!route)
        throw new HttpError(405, 'The method is not allowed for the requested URL.', {
          allow: found.post ? 'GET, HEAD, POST' : 'GET, HEAD',
        });
      return { route, id: found.id };
    },
  };
}
