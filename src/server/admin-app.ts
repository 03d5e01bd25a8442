import { timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import { createNodeServer, type ConnectionLimits } from './node-server.js';

export interface AdminAppOptions {
  logger: Logger;
  metrics: ServiceMetrics;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token: string | undefined;
  /** The public listeners' timeouts (DEFAULT_CONNECTION_LIMITS where not given): a slow client holds a socket here no longer. */
  connectionLimits?: Partial<ConnectionLimits>;
}

/** The admin listener (loopback by default): Prometheus metrics now, the dashboard later. */
export async function buildAdminApp({ logger, metrics, token, connectionLimits }: AdminAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    serverFactory: (handler) => createNodeServer(handler, undefined, connectionLimits),
  });
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  app.addHook('onRequest', (request, reply, done) => {
    if (expected === undefined) return done();
    const given = Buffer.from(request.headers.authorization ?? '');
    // Compared in constant time, so response timing does not reveal how much of a guess was right.
    if (given.length === expected.length && timingSafeEqual(given, expected)) return done();
    reply.code(401).header('www-authenticate', 'Bearer').type('text/plain; charset=utf-8').send('401 unauthorized\n');
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  return app;
}
