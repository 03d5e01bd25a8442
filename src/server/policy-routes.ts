import type { FastifyPluginCallback } from 'fastify';
import { clientOf } from './client-address.js';
import { POLICY_PATH, type PolicyResponder } from './policy-responder.js';
import { requestedHost } from './request-target.js';

export interface PolicyRoutesOptions {
  respond: PolicyResponder;
  trustProxy: (address: string) => boolean;
}

/**
 * The policy path inside Fastify, for requests the listener's fast path leaves to it (those
 * through a trusted proxy, with a query string or an absolute-form target, or from inject() in
 * tests): the same responder, with the same requested host and the client address.
 */
export const policyRoutes: FastifyPluginCallback<PolicyRoutesOptions> = (app, { respond, trustProxy }, done) => {
  // The responder sends the security headers itself (helmet's, read once): helmet need not run per request here.
  // Stryker disable next-line ObjectLiteral,BooleanLiteral: helmet would only set its headers on the reply object, which this hijacked route never sends; what it costs is CPU
  app.all(POLICY_PATH, { helmet: false }, (request, reply) => {
    reply.hijack();
    const client = clientOf(request.raw, trustProxy);
    respond(request.raw, reply.raw, {
      ip: client.ip,
      host: requestedHost(request.raw),
      userAgent: request.headers['user-agent'] ?? '',
      direct: !client.proxied,
    });
  });
  done();
};
