import type { FastifyPluginCallback } from 'fastify';
import type { PolicySet } from '../policy/policy-set.js';
import { POLICY_PATH } from './policy-responder.js';
import { requestedHost } from './request-target.js';

/** The key authorization of a pending HTTP-01 challenge by its token; undefined when none is pending. */
export type KeyAuthorizationLookup = (token: string) => Promise<string | undefined>;

export interface RedirectRoutesOptions {
  policies: () => PolicySet;
  keyAuthorization: KeyAuthorizationLookup;
  /** The public HTTPS port, for redirect targets; 443 is left out of the URL. */
  httpsPort: number;
}

/**
 * The plain-HTTP listener: ACME HTTP-01 challenges, and a redirect to HTTPS for people who type
 * the host into a browser. Never a redirect for the policy itself (RFC 8461 §3.3) and never for
 * a host we do not serve, so it cannot be used as an open redirector.
 */
export const redirectRoutes: FastifyPluginCallback<RedirectRoutesOptions> = (
  app,
  { policies, keyAuthorization, httpsPort },
  done,
) => {
  const text = 'text/plain; charset=utf-8';

  app.get<{ Params: { token: string } }>(
    '/.well-known/acme-challenge/:token',
    { schema: { params: { type: 'object', properties: { token: { type: 'string', pattern: '^[A-Za-z0-9_-]+$' } } } } },
    async (request, reply) => {
      // RFC 8555 §8.3: the response body is the key authorization, as text.
      const answer = await keyAuthorization(request.params.token);
      if (answer === undefined) return reply.code(404).type(text).send('404 not found\n');
      return reply.type('application/octet-stream').send(answer);
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
