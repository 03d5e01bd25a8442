import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { parseConfigText } from '../../src/config/load.js';
import { createFetchLog } from '../../src/fetches/fetch-log.js';
import { ProviderClassifier, SHIPPED_PROVIDERS_FILE } from '../../src/fetches/providers.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import type { AcmeChallengeTokens } from '../../src/tls/acme/challenges.js';
import { buildApp } from '../../src/server/app.js';
import type { Readiness } from '../../src/server/health-routes.js';
import type { ConnectionLimits } from '../../src/server/node-server.js';
import type { CertificateSelector } from '../../src/tls/certificate.js';
import type { TlsRptEndpoint } from '../../src/server/tlsrpt-routes.js';
import { createLogger } from '../../src/log/logger.js';
import { trustedProxies } from '../../src/net/trust-proxy.js';
import { LogCapture } from './service.js';

/** The apps' test domains: example.com (enforce) and example.org (testing). */
export const TWO_DOMAINS = `
domains:
  example.com: { mode: enforce, mx: [mail.example.com, "*.mail.protection.outlook.com"], max_age: 1209600 }
  example.org: { mx: [mx1.example.org] }
`;
export const EXAMPLE_COM_POLICY =
  'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.mail.protection.outlook.com\r\nmax_age: 1209600\r\n';
export const EXAMPLE_ORG_POLICY = 'version: STSv1\r\nmode: testing\r\nmx: mx1.example.org\r\nmax_age: 604800\r\n';

export function policies(): PolicySet {
  const loaded = parseConfigText(TWO_DOMAINS, 'test.yaml');
  assert.ok(loaded.ok);
  return new PolicySet(loaded.config.domains);
}

/**
 * The HTTPS listener's app, for inject() and sockets; its fetch log is captured. Without `tls` it
 * runs over plain HTTP; with it, over TLS with these certificates (the neutral one for other names).
 */
export async function policyApp(
  options: {
    trustProxy?: string[];
    readiness?: Readiness;
    tlsReports?: TlsRptEndpoint;
    tls?: { certificateFor: CertificateSelector };
    connectionLimits?: Partial<ConnectionLimits>;
  } = {},
): Promise<{ app: FastifyInstance; log: LogCapture }> {
  const log = new LogCapture();
  const logger = createLogger('info', log);
  const set = policies();
  const classifier = await ProviderClassifier.fromFile(SHIPPED_PROVIDERS_FILE);
  const app = await buildApp({
    listener: 'https',
    logger,
    policies: () => set,
    readiness: () => options.readiness ?? { ready: true, hostsWithoutCertificate: 0 },
    trustProxy: trustedProxies(options.trustProxy ?? []),
    recordFetch: createFetchLog(logger, () => classifier),
    tlsReports: options.tlsReports,
    ...(options.tls && { tls: options.tls }),
    connectionLimits: options.connectionLimits,
  });
  return { app, log };
}

/** Starts `app` on an ephemeral loopback port, closed when the test ends; resolves with the port. */
export async function listening(app: FastifyInstance, t: { after: (fn: () => Promise<unknown>) => void }): Promise<number> {
  t.after(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

/** The port-80 listener's app. */
export async function redirectApp(
  options: { challenges?: AcmeChallengeTokens; httpsPort?: number; trustProxy?: string[] } = {},
): Promise<FastifyInstance> {
  const set = policies();
  return buildApp({
    listener: 'http',
    logger: createLogger('silent'),
    policies: () => set,
    readiness: () => ({ ready: true, hostsWithoutCertificate: 0 }),
    trustProxy: trustedProxies(options.trustProxy ?? []),
    keyAuthorization: async (token) => options.challenges?.keyAuthorization(token),
    httpsPort: options.httpsPort ?? 443,
  });
}
