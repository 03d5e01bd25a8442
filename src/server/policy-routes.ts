import type { TLSSocket } from 'node:tls';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { normaliseIp } from '../fetches/ip-address.js';
import type { FetchRecorder } from '../fetches/fetch-log.js';
import { normaliseHostHeader, type PolicySet, type ServedPolicy } from '../policy/policy-set.js';

// RFC 8461 §3.3: the policy is at this fixed path on the policy host.
export const POLICY_PATH = '/.well-known/mta-sts.txt';

// RFC 8461 §3.2: the policy is served as text/plain.
const POLICY_CONTENT_TYPE = 'text/plain; charset=utf-8';
const NOT_FOUND = '404 not found\n';

export interface PolicyRoutesOptions {
  /** Read on every request, so a config reload is a single reference swap. */
  policies: () => PolicySet;
  recordFetch: FetchRecorder;
}

declare module 'fastify' {
  interface FastifyRequest {
    servedPolicy: ServedPolicy | null;
  }
}

/** GET/HEAD of the policy path on `mta-sts.<domain>`: the policy for that domain, or 404 for any other host. */
export const policyRoutes: FastifyPluginCallback<PolicyRoutesOptions> = (app, { policies, recordFetch }, done) => {
  app.decorateRequest('servedPolicy', null);

  app.get(POLICY_PATH, { schema: { response: { 200: { type: 'string' }, 404: { type: 'string' } } } }, (request, reply) => {
    const served = policies().forHost(request.host);
    request.servedPolicy = served ?? null;
    // RFC 8461 §3.3: HTTP 200 only, never a redirect; the body is exactly the rendered policy.
    if (!served) return reply.code(404).type(POLICY_CONTENT_TYPE).send(NOT_FOUND);
    return reply.code(200).type(POLICY_CONTENT_TYPE).send(served.body);
  });

  app.route({
    method: ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: POLICY_PATH,
    handler: (request, reply) => {
      request.servedPolicy = policies().forHost(request.host) ?? null;
      return reply.code(405).header('allow', 'GET, HEAD').type(POLICY_CONTENT_TYPE).send('405 method not allowed\n');
    },
  });

  app.addHook('onResponse', (request, reply, hookDone) => {
    recordFetch(describeFetch(request, reply));
    hookDone();
  });
  done();
};

function describeFetch(request: FastifyRequest, reply: FastifyReply) {
  const served = request.servedPolicy;
  const socket = request.raw.socket as Partial<TLSSocket>;
  return {
    host: served?.host ?? normaliseHostHeader(request.host ?? ''),
    domain: served?.domain ?? null,
    ip: normaliseIp(request.ip),
    ua: request.headers['user-agent'] ?? '',
    method: request.method,
    status: reply.statusCode,
    policyId: reply.statusCode === 200 && served ? served.id : null,
    tls: socket.getProtocol?.() ?? null,
    responseMs: reply.elapsedTime,
  };
}
