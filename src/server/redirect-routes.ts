import type { FastifyPluginCallback } from 'fastify';
import type { PolicySet } from '../policy/policy-set.js';
import type { AcmeChallengeTokens } from './acme-challenges.js';
import { POLICY_PATH } from './policy-responder.js';
import { requestedHost } from './request-target.js';

export interface RedirectRoutesOptions {
  policies: () => PolicySet;
  challenges: AcmeChallengeTokens;
  /** The public HTTPS port, for redirect targets; 443 is left out of the URL. */
  httpsPort: number;
}

/**
 * The plain-HTTP listener: ACME HTTP-01 challenges, and a redirect to HTTPS for people who type
 * the host into a browser. Never a redirect for the policy itself (RFC 8461 §3.3) and never for
 * a host we do not serve, so it cannot be used as an open redirector.
 */
export const redirectRoutes: FastifyPluginCallback<RedirectRoutesOptions> = (app, { policies, challenges, httpsPort }, done) => {
  const text = 'text/plain; charset=utf-8';

  app.get<{ Params: { token: string } }>(
    '/.well-known/acme-challenge/:token',
    { schema: { params: { type: 'object', properties: { token: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' } } } } },
    (request, reply) => {
      // RFC 8555 §8.3: the response body is the key authorization, as text.
      const keyAuthorization = challenges.keyAuthorization(request.params.token);
      if (keyAuthorization === undefined) return reply.code(404).type(text).send('404 not found\n');
      return reply.type('application/octet-stream').send(keyAuthorization);
    },
  );

  app.get(POLICY_PATH, (_request, reply) =>
    reply.code(404).type(text).send('404 not found: the policy is served over HTTPS only\n'),
  );

  app.setNotFoundHandler((request, reply) => {
    const served = policies().forHost(requestedHost(request.raw));
    if (!served || (request.method !== 'GET' && request.method !== 'HEAD')) {
      return reply.code(404).type(text).send('404 not found\n');
    }
    const port = httpsPort === 443 ? '' : `:${httpsPort}`;
    return reply.redirect(`https://${served.host}${port}${request.url}`, 301);
  });
  done();
};
