import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { FetchRecorder } from '../fetches/fetch-log.js';
import type { PolicySet } from '../policy/policy-set.js';
import { createNeutralCertificate } from '../tls/neutral-certificate.js';
import { healthRoutes, type Readiness } from './health-routes.js';
import { createNodeServer, type ConnectionLimits } from './node-server.js';
import { createPolicyResponder, withPolicyFastPath, type PolicyResponder } from './policy-responder.js';
import { policyRoutes } from './policy-routes.js';
import { redirectRoutes, type KeyAuthorizationLookup } from './redirect-routes.js';
import { rejectUnclearHost } from './request-guards.js';
import { requestTarget } from './request-target.js';
import { registerSecurityHeaders, securityHeadersOf } from './security-headers.js';
import type { CertificateSelector } from '../tls/certificate.js';
import { tlsRptRoutes, type TlsRptEndpoint } from './tlsrpt-routes.js';
import { servedCertificateCovers } from './tls-options.js';

interface CommonOptions {
  logger: Logger;
  policies: () => PolicySet;
  readiness: () => Readiness;
  /** Whether a peer address may set X-Forwarded-For / Forwarded; read per request so reloads apply. */
  trustProxy: (address: string) => boolean;
  /** Timeouts for slow and idle clients; DEFAULT_CONNECTION_LIMITS where not given. */
  connectionLimits?: Partial<ConnectionLimits>;
}

export type AppOptions = CommonOptions &
  (
    | {
        listener: 'https';
        tls?: { certificateFor: CertificateSelector };
        recordFetch: FetchRecorder;
        /** POST /tlsrpt (RFC 8460 §3) when reports.https is enabled. */
        tlsReports?: TlsRptEndpoint | undefined;
      }
    | { listener: 'http'; keyAuthorization: KeyAuthorizationLookup; httpsPort: number }
  );

/**
 * The application behind one listener. `https` serves policies; `http` answers ACME challenges
 * and redirects. Without `tls` the https app runs over plain HTTP, which is what `inject()` tests use.
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const tls = options.listener === 'https' && options.tls ? { ...options.tls, neutral: createNeutralCertificate() } : undefined;
  // Made once the app is complete: it sends the security headers the app's helmet sets.
  let policyResponder: PolicyResponder | undefined;
  const respond: PolicyResponder | undefined =
    options.listener === 'https' ? (request, response, requester) => policyResponder!(request, response, requester) : undefined;
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // One line per policy fetch comes from the fetch log; per-request access lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    // Routes see the origin-form path whatever form the target came in (RFC 9112 §3.2); the
    // host comes from requestTarget(), never from Fastify's request.host, which would take
    // X-Forwarded-Host from a trusted proxy (and so from any client behind it).
    rewriteUrl: (raw) => {
      const target = requestTarget(raw);
      return target.ok ? target.path : '/';
    },
    serverFactory: (handler) =>
      createNodeServer(
        respond ? withPolicyFastPath(respond, options.trustProxy, handler) : handler,
        tls,
        options.connectionLimits,
      ),
    return503OnClosing: true,
  });

  await registerSecurityHeaders(app, options.listener === 'https');
  app.addHook('onRequest', rejectUnclearHost);
  await app.register(healthRoutes, { readiness: options.readiness });

  if (respond) {
    await app.register(policyRoutes, { respond, trustProxy: options.trustProxy });
    if (options.listener === 'https' && options.tlsReports) {
      await app.register(tlsRptRoutes, { ...options.tlsReports, policies: options.policies });
    }
    // A short text that names no domain: probing other hosts or paths learns nothing.
    app.setNotFoundHandler((_request, reply) => reply.code(404).type('text/plain; charset=utf-8').send('404 not found\n'));
  } else if (options.listener === 'http') {
    await app.register(redirectRoutes, {
      policies: options.policies,
      keyAuthorization: options.keyAuthorization,
      httpsPort: options.httpsPort,
    });
  }
  if (options.listener === 'https') {
    policyResponder = createPolicyResponder({
      policies: options.policies,
      recordFetch: options.recordFetch,
      headers: await securityHeadersOf(app),
      ...(tls && { certificateCovers: servedCertificateCovers(tls.certificateFor) }),
    });
  }
  return app;
}
