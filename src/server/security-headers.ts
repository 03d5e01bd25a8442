import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * helmet's settings for a plain-text endpoint: it loads nothing, so a browser may do nothing
 * with it; HSTS only where the listener is HTTPS.
 */
function helmetOptions(https: boolean): FastifyHelmetOptions {
  return {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    frameguard: { action: 'deny' },
    crossOriginEmbedderPolicy: false,
    crossOriginOpenerPolicy: false,
    crossOriginResourcePolicy: { policy: 'same-site' },
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: false } : false,
  };
}

/** Security headers on every answer of the app: helmet, registered the Fastify way. */
export function registerSecurityHeaders(app: FastifyInstance, https: boolean): Promise<unknown> {
  return app.register(helmet, helmetOptions(https)) as unknown as Promise<unknown>;
}

/** Headers an answer carries for itself (framing, date), not for security. */
const OWN_HEADERS = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  // Stryker disable next-line StringLiteral: the inject() probe of /healthz never carries it (answer-headers.test pins the fast path's lines); listed so no framing header of another answer could be copied
  'keep-alive',
  // Stryker disable next-line StringLiteral: as keep-alive: the probe's answer has a Content-Length, never chunked
  'transfer-encoding',
]);

/**
 * The headers helmet sets on this app's answers, read once from an inject() response: the same
 * for every answer, so the policy fast path sends them without running helmet per request
 * (which cost as much CPU as serving the policy itself).
 */
export async function securityHeadersOf(app: FastifyInstance): Promise<Readonly<Record<string, string>>> {
  const probe = await app.inject({ method: 'GET', url: '/healthz' });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(probe.headers)) {
    // Stryker disable next-line ConditionalExpression: helmet sets every header once, as a string; the check keeps an array (a repeated header) out
    if (!OWN_HEADERS.has(name) && typeof value === 'string') headers[name] = value;
  }
  return Object.freeze(headers);
}
