import type { FastifyPluginCallback } from 'fastify';
import { POLICY_PATH, type PolicyResponder } from './policy-responder.js';

/**
 * The policy path inside Fastify, for requests the listener's fast path leaves to it (those
 * through a trusted proxy, with a query string, or from inject() in tests): the same responder,
 * with the client address and host as Fastify resolved them.
 */
export const policyRoutes: FastifyPluginCallback<{ respond: PolicyResponder }> = (app, { respond }, done) => {
  app.all(POLICY_PATH, (request, reply) => {
    reply.hijack();
    respond(request.raw, reply.raw, { ip: request.ip, host: request.host ?? '' });
  });
  done();
};
