/**
 * The routes of IPA's API, each registered under /v1 and versionless (IPA
 * maps a missing version to v1). Handlers are thin: token check, then the
 * command dispatcher.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CommandDispatcher } from '../commands/dispatcher.js';
import type { AgentState } from '../state.js';
import { HttpError } from './faults.js';
import { checkCommandToken, checkReadToken } from './token.js';

const DOCS_URL = 'https://docs.openstack.org/ironic-python-agent';
const MEDIA_TYPE = 'application/vnd.openstack.ironic-python-agent.v1+json';

type Query = { wait?: string; agent_token?: string };
type Req = FastifyRequest<{ Querystring: Query; Params: { id?: string } }>;

function rootUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

const isWait = (q: Query): boolean => typeof q.wait === 'string' && q.wait.toLowerCase() === 'true';

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

export function registerRoutes(app: FastifyInstance, state: AgentState, commands: CommandDispatcher): void {
  app.get('/', async (request) => {
    const v = describeVersion(rootUrl(request));
    return {
      name: 'OpenStack Ironic Python Agent API',
      description: 'Ironic Python Agent is a provisioning agent for OpenStack Ironic',
      versions: [v],
      default_version: v,
    };
  });

  app.get('/v1', async (request) => {
    const root = rootUrl(request);
    return {
      ...describeVersion(root),
      commands: [link(root, 'commands', 'self'), link(root, 'commands', 'bookmark')],
      status: [link(root, 'status', 'self'), link(root, 'status', 'bookmark')],
      media_types: [{ base: 'application/json', type: MEDIA_TYPE }],
    };
  });

  for (const prefix of ['/v1', '']) {
    app.get(`${prefix}/status`, async () => ({ started_at: state.startedAt, version: state.version }));

    app.get(`${prefix}/commands`, async (request: Req) => {
      checkReadToken(state, request.query.agent_token);
      return { commands: commands.listResults() };
    });

    app.get(`${prefix}/commands/:id`, async (request: Req) => {
      checkReadToken(state, request.query.agent_token);
      return commands.getResult(String(request.params.id), isWait(request.query));
    });

    app.post(
      `${prefix}/commands`,
      {
        // Before the body is read: an unauthenticated client cannot make us parse 32 MiB.
        onRequest: async (request: Req) => checkCommandToken(state, request.query.agent_token),
      },
      async (request: Req, reply: FastifyReply) => {
        const body = request.body as { name?: unknown; params?: unknown } | null | undefined;
        if (
          typeof body !== 'object' ||
          body === null ||
          Array.isArray(body) ||
          typeof body.name !== 'string' ||
          typeof body.params !== 'object' ||
          body.params === null ||
          Array.isArray(body.params)
        ) {
          throw new HttpError(400, 'Missing or invalid name or params');
        }
        const result = await commands.executeCommand(body.name, body.params as Record<string, unknown>, { wait: isWait(request.query) });
        return reply.code(200).send(result);
      },
    );
  }
}
