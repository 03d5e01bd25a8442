import type { Config } from '../config/schema.js';
import { openBackends } from '../storage/backends.js';
import { DAY_MS } from '../time/days.js';
import { parseHostStatus, renewalDue, storageKey } from './acme/host-state.js';
import { loadCertificate, type LiveCertificate } from './certificate.js';
import { CertificateCache } from './certificate-cache.js';
import { CertificateFiles } from './certificate-files.js';

/** Whole days until the certificate expires, as `certs` counts them. */
export const daysLeft = (certificate: { notAfter: Date }, now: number) =>
  Math.floor((certificate.notAfter.getTime() - now) / DAY_MS);

/** One host in `certs --json` and on the dashboard's domain page: names fixed, scripts read them. */
export interface CertificateRow {
  host: string;
  issuer: string | null;
  not_after: string | null;
  days_left: number | null;
  next_renewal: string | null;
  last_error: string | null;
}

/**
 * Each host's certificate as the state directory holds it (the same choice the SNI callback makes),
 * with the next renewal and the last error of ACME: what `certs` prints and the dashboard shows.
 */
export async function certificateRows(
  config: Pick<Config, 'tls' | 'stateDir'>,
  hosts: readonly string[],
  now = Date.now(),
): Promise<CertificateRow[]> {
  const row = (
    host: string,
    certificate: LiveCertificate | undefined,
    nextRenewal: number | null,
    lastError: string | null,
  ): CertificateRow => ({
    host,
    issuer: certificate?.issuer ?? null,
    not_after: certificate?.notAfter.toISOString() ?? null,
    days_left: certificate ? daysLeft(certificate, now) : null,
    next_renewal: nextRenewal === null ? null : new Date(nextRenewal).toISOString(),
    last_error: lastError,
  });
  // The same host-to-certificate choice the SNI callback makes.
  const cacheOf = (certificates: LiveCertificate[]) => {
    const cache = new CertificateCache();
    cache.replaceAll(certificates);
    return cache;
  };

  switch (config.tls.source) {
    // The issuers' packages are loaded only for the source in use (src/tls/sources.ts).
    case 'self-signed': {
      const { SelfSignedIssuer } = await import('./self-signed.js');
      const stored = await new SelfSignedIssuer(openBackends(config).storage).storedCertificates();
      const cache = cacheOf(stored);
      return hosts.map((host) => row(host, cache.certificateFor(host), null, null));
    }
    case 'files': {
      const { certificates, errors } = await new CertificateFiles(config.tls.certificates).reload();
      const cache = cacheOf(certificates);
      return hosts.map((host) => row(host, cache.certificateFor(host), null, errors.length > 0 ? errors.join('; ') : null));
    }
    case 'acme': {
      const settings = config.tls.acme;
      const { storage } = openBackends(config);
      const caId = (await import('./acme/acme-issuer.js')).caIdOf(settings);
      return Promise.all(
        hosts.map(async (host) => {
          const [chain, key, statusText] = await Promise.all(
            (['chain.pem', 'key.pem', 'status.json'] as const).map((file) => storage.load(storageKey(caId, host, file))),
          );
          const certificate = chain && key ? loadCertificate(chain.toString(), key.toString(), host) : undefined;
          const status = statusText ? parseHostStatus(statusText.toString()) : undefined;
          const next = status?.nextAttempt
            ? Date.parse(status.nextAttempt)
            : certificate
              ? renewalDue(certificate, settings.renew_when_remaining)
              : null;
          return row(host, certificate, next, status?.lastError ? `${status.lastError.at} ${status.lastError.message}` : null);
        }),
      );
    }
  }
}
