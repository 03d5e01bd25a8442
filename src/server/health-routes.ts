import type { FastifyPluginCallback } from 'fastify';

export interface Readiness {
  ready: boolean;
  /** How many policy hosts have no certificate yet; a count, so the endpoint never lists domains. */
  hostsWithoutCertificate: number;
}

const statusSchema = {
  response: {
    200: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] },
    503: {
      type: 'object',
      properties: { status: { type: 'string' }, hosts_without_certificate: { type: 'integer' } },
      required: ['status'],
    },
  },
} as const;

/** `/healthz`: the process answers. `/readyz`: a config is loaded and every policy host has a certificate. */
export const healthRoutes: FastifyPluginCallback<{ readiness: () => Readiness }> = (app, { readiness }, done) => {
  app.get('/healthz', { schema: statusSchema }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: statusSchema }, async (_request, reply) => {
    const state = readiness();
    if (state.ready) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', hosts_without_certificate: state.hostsWithoutCertificate });
  });
  done();
};
