import helmet from '@fastify/helmet';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { LiveFetch } from '../fetches/live-fetches.js';
import { allowSilence } from '../net/open-connections.js';
import { normaliseDomainName } from '../policy/domain-name.js';
import { DASHBOARD_CSS, DASHBOARD_JS } from './assets.js';
import { domainDetail, overview } from './dashboard-data.js';
import type { DashboardSources } from './dashboard-sources.js';
import { domainPage, notFoundPage } from './domain-page.js';
import { livePage } from './live-page.js';
import { overviewPage, SORT_KEYS, type OverviewQuery } from './overview-page.js';
import { ASSET_CSS, ASSET_JS } from './page-parts.js';

export interface DashboardRoutesOptions {
  sources: DashboardSources;
}

/** Bytes a live stream may have waiting for a client that does not read; beyond them it is closed. */
const MAX_STREAM_BACKLOG = 256 * 1024;
/** A comment line on each live stream this often, so that proxies and the client see it alive. */
const HEARTBEAT_MS = 15_000;

/**
 * Scripts and styles only from the dashboard's own files, images only its own or inline SVG data,
 * connections only back to it (the live view), no forms, no framing.
 */
const CONTENT_SECURITY_POLICY = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    baseUri: ["'none'"],
    // The overview's filter is a GET form to the page itself.
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
};

const domainParams = {
  type: 'object',
  properties: { domain: { type: 'string', minLength: 1, maxLength: 253 } },
  required: ['domain'],
} as const;

const overviewQuery = {
  type: 'object',
  properties: {
    q: { type: 'string', maxLength: 253 },
    sort: { type: 'string', enum: SORT_KEYS },
    order: { type: 'string', enum: ['asc', 'desc'] },
    page: { type: 'integer', minimum: 1, maximum: 1_000_000 },
  },
} as const;

const sendPage = (reply: FastifyReply, page: string) =>
  reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page);

/** The served domain a path names, lower case; undefined for anything that is not a domain name. */
function domainOf(text: string): string | undefined {
  const name = normaliseDomainName(text);
  return name.ok ? name.name : undefined;
}

/**
 * The read-only dashboard (pages under `/`, JSON under `/api/`), registered as an encapsulated
 * plugin on the admin app, behind its authentication. Nothing here changes state.
 */
export async function dashboardRoutes(app: FastifyInstance, options: DashboardRoutesOptions): Promise<void> {
  const { sources } = options;
  await app.register(helmet, {
    contentSecurityPolicy: CONTENT_SECURITY_POLICY,
    crossOriginEmbedderPolicy: false,
    strictTransportSecurity: false,
  });

  app.get<{ Querystring: OverviewQuery }>('/', { schema: { querystring: overviewQuery } }, async (request, reply) =>
    sendPage(reply, overviewPage(await overview(sources), request.query)),
  );
  app.get('/live', async (_request, reply) => sendPage(reply, livePage(sources.live.latest())));
  app.get<{ Params: { domain: string } }>('/domains/:domain', { schema: { params: domainParams } }, async (request, reply) => {
    const domain = domainOf(request.params.domain);
    const detail = domain === undefined ? undefined : await domainDetail(sources, domain);
    if (!detail) return sendPage(reply.code(404), notFoundPage(request.params.domain));
    return sendPage(reply, domainPage(detail));
  });
  app.get(ASSET_CSS, async (_request, reply) => reply.type('text/css; charset=utf-8').send(DASHBOARD_CSS));
  app.get(ASSET_JS, async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(DASHBOARD_JS));

  app.get('/api/domains', async () => overview(sources));
  app.get<{ Params: { domain: string } }>(
    '/api/domains/:domain',
    { schema: { params: domainParams } },
    async (request, reply) => {
      const domain = domainOf(request.params.domain);
      const detail = domain === undefined ? undefined : await domainDetail(sources, domain);
      if (!detail) return reply.code(404).send({ error: 'not a domain this service serves' });
      return detail;
    },
  );
  app.get('/api/fetches', async () => ({ fetches: sources.live.latest() }));

  const streams = new Set<ServerResponse>();
  app.get('/api/fetches/live', (request, reply) => {
    const raw = reply.raw;
    const send = (text: string) => {
      if (raw.writableLength > MAX_STREAM_BACKLOG) raw.destroy();
      else raw.write(text);
    };
    const stop = sources.live.listen((fetch: LiveFetch) => send(`event: fetch\ndata: ${JSON.stringify(fetch)}\n\n`));
    if (!stop) {
      void reply.code(503).header('retry-after', '60').send({ error: 'too many live views are open; try again later' });
      return;
    }
    reply.hijack();
    // The stream is meant to stay open: the inactivity timeout of ordinary requests does not apply; the heartbeat and the backlog bound do.
    allowSilence(request.raw.socket);
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    raw.write('retry: 3000\n\n');
    streams.add(raw);
    const heartbeat = setInterval(() => send(': alive\n\n'), HEARTBEAT_MS);
    raw.on('close', () => {
      clearInterval(heartbeat);
      stop();
      streams.delete(raw);
    });
  });
  // An open stream has a request in progress for ever: end them, so the listener's stop does not wait.
  app.addHook('preClose', (done) => {
    for (const stream of streams) stream.end();
    done();
  });
}
