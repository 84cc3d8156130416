/**
 * IPA's REST API as a Fastify app (ipa-protocol.md §2.2). Tests drive it
 * with app.inject(); startServer() (server.ts) puts it on a socket.
 *
 * Body limit: 32 MiB. The conductor's biggest request is
 * deploy.execute_deploy_step(write_image): the full node (~100 KB, 59 keys)
 * plus the config drive, a base64 gzipped ISO that can be several MiB and
 * appears up to three times (node.instance_info, step args, image_info).
 * 32 MiB leaves room for an ~8 MiB config drive while bounding what one
 * request can make the agent parse (about 3x the body in memory) on a
 * ramdisk with a few hundred MiB free. Larger config drives should be URLs.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { CommandDispatcher } from '../commands/dispatcher.js';
import type { AgentState } from '../state.js';
import { formatFault } from './faults.js';
import { registerRoutes } from './routes.js';

export const DEFAULT_BODY_LIMIT = 32 << 20;

export interface BuildAppOptions {
  bodyLimit?: number;
  /** Fastify logger option; off by default (tests). */
  logger?: FastifyServerOptions['logger'];
  /** Log every request (the conductor polls every few seconds: noisy). */
  logRequests?: boolean;
}

/**
 * The routes declare no JSON schemas: handlers check bodies themselves, with
 * IPA's fault messages. Fastify would still load its default compilers (ajv,
 * fast-json-stringify: ~0.7 MB of heap, idle) when the app is built; these
 * stand-ins are never called while no route has a schema, and a route that
 * adds one fails loudly at ready instead of silently loading ajv.
 */
function noSchemaCompiler(): never {
  throw new Error('the agent API has no schema compiler: validate in the handler (see api/routes.ts)');
}

export function buildApp(state: AgentState, commands: CommandDispatcher, o: BuildAppOptions = {}): FastifyInstance {
  const bodyLimit = o.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({
    logger: o.logger ?? false,
    logController: new LogController({ disableRequestLogging: !o.logRequests }),
    bodyLimit,
    // werkzeug redirects /v1/commands to /v1/commands/; the conductor uses the slash. Accept both.
    routerOptions: { ignoreTrailingSlash: true },
    return503OnClosing: true,
    schemaController: { compilersFactory: { buildValidator: noSchemaCompiler, buildSerializer: noSchemaCompiler } },
  });

  // IPA parses the body as JSON whatever the Content-Type (get_json(force=True)).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, app.getDefaultJsonParser('error', 'error'));

  app.setErrorHandler((err, request, reply) => {
    const { status, fault, hidden } = formatFault(err);
    if (hidden) request.log.error({ err }, 'internal error answering %s %s', request.method, request.url);
    void reply.code(status).type('application/json').send(fault);
  });
  app.setNotFoundHandler((_request, reply) => {
    void reply.code(404).type('application/json').send({
      faultcode: 'Client',
      faultstring: '404 Not Found: The requested URL was not found on the server.',
    });
  });

  // finalize_rescue and lockdown clear serveApi: close the listener once their answer is out.
  let stopRequested = false;
  app.addHook('onResponse', async () => {
    if (!state.serveApi && !stopRequested) {
      stopRequested = true;
      setImmediate(() => state.onStopServing());
    }
  });

  registerRoutes(app, state, commands);
  return app;
}
