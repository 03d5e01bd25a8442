import { loadConfigOrReport } from './load-config.js';
import { formatTable } from './table.js';
import type { Config } from '../config/schema.js';
import { PolicySet } from '../policy/policy-set.js';
import { openBackends } from '../storage/backends.js';
import { caIdOf } from '../tls/acme/acme-issuer.js';
import { parseHostStatus, renewalDue, storageKey } from '../tls/acme/host-state.js';
import { loadCertificate, type LiveCertificate } from '../tls/certificate.js';
import { CertificateCache } from '../tls/certificate-cache.js';
import { CertificateFiles } from '../tls/certificate-files.js';
import { SelfSignedIssuer } from '../tls/self-signed.js';
import { DAY_MS } from '../time/days.js';

interface CertificateRow {
  host: string;
  issuer: string | null;
  not_after: string | null;
  days_left: number | null;
  next_renewal: string | null;
  last_error: string | null;
}

/** `mta-sts-server certs`: every policy host with its certificate's issuer, expiry, next renewal and last error. */
export async function listCertificates(
  path: string,
  json: boolean,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const loaded = await loadConfigOrReport(path, err);
  if (!loaded) return 2;
  const { config } = loaded;
  const hosts = new PolicySet(config.domains).hosts;
  const rows = await rowsFor(config, hosts);
  if (json) {
    out.write(`${JSON.stringify({ source: config.tls.source, certificates: rows }, null, 2)}\n`);
    return 0;
  }
  const table = [['HOST', 'ISSUER', 'NOT AFTER', 'DAYS LEFT', 'NEXT RENEWAL', 'LAST ERROR']].concat(
    rows.map((row) => [
      row.host,
      row.issuer ?? '-',
      row.not_after ?? 'none',
      row.days_left?.toString() ?? '-',
      row.next_renewal ?? '-',
      row.last_error ?? '-',
    ]),
  );
  out.write(formatTable(table));
  return 0;
}

async function rowsFor(config: Config, hosts: string[]): Promise<CertificateRow[]> {
  const now = Date.now();
  const row = (
    host: string,
    certificate: LiveCertificate | undefined,
    nextRenewal: number | null,
    lastError: string | null,
  ): CertificateRow => ({
    host,
    issuer: certificate?.issuer ?? null,
    not_after: certificate?.notAfter.toISOString() ?? null,
    days_left: certificate ? Math.floor((certificate.notAfter.getTime() - now) / DAY_MS) : null,
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
    case 'self-signed': {
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
      const caId = caIdOf(settings);
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
