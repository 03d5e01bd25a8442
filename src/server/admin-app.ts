import { timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { dashboardRoutes } from '../dashboard/dashboard-routes.js';
import type { DashboardSources } from '../dashboard/dashboard-sources.js';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import { createNodeServer, type ConnectionLimits } from './node-server.js';

export interface AdminAppOptions {
  logger: Logger;
  metrics: ServiceMetrics;
  /**
   * When set, every request must carry it: `Authorization: Bearer <token>` (Prometheus, scripts),
   * or HTTP Basic with the token as the password and any user name (a browser's login prompt).
   */
  token: string | undefined;
  /** What the dashboard reads; without it the listener serves the metrics only. */
  dashboard?: DashboardSources | undefined;
  /** The public listeners' timeouts (DEFAULT_CONNECTION_LIMITS where not given): a slow client holds a socket here no longer. */
  connectionLimits?: Partial<ConnectionLimits>;
}

/** The challenge a refused request gets: Basic, so that a browser asks for the token; scripts send Bearer unasked. */
const ADMIN_CHALLENGE = 'Basic realm="mta-sts-server"';

/** Compared in constant time, so response timing does not reveal how much of a guess was right. */
function sameSecret(given: string, expected: Buffer): boolean {
  const bytes = Buffer.from(given);
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

/** The token a request carries: Bearer's credentials, or Basic's password (after the first colon). */
function presentedToken(authorization: string | undefined): string | undefined {
  // Everything after the scheme and one space: a token may contain spaces (the config only asks for 16 characters).
  const match = /^(Bearer|Basic) (.*)$/is.exec(authorization ?? '');
  if (!match) return undefined;
  if (match[1]!.toLowerCase() === 'bearer') return match[2];
  const credentials = Buffer.from(match[2]!, 'base64').toString('utf8');
  const colon = credentials.indexOf(':');
  return colon < 0 ? undefined : credentials.slice(colon + 1);
}

/** The admin listener (loopback by default): Prometheus metrics and the read-only dashboard. */
export async function buildAdminApp({
  logger,
  metrics,
  token,
  dashboard,
  connectionLimits,
}: AdminAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    serverFactory: (handler) => createNodeServer(handler, undefined, connectionLimits),
  });
  const expected = token === undefined ? undefined : Buffer.from(token);
  app.addHook('onRequest', (request, reply, done) => {
    if (expected === undefined) return done();
    const given = presentedToken(request.headers.authorization);
    if (given !== undefined && sameSecret(given, expected)) return done();
    reply.code(401).header('www-authenticate', ADMIN_CHALLENGE).type('text/plain; charset=utf-8').send('401 unauthorized\n');
  });
  app.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  if (dashboard) await app.register(dashboardRoutes, { sources: dashboard });
  return app;
}
