import type { Logger } from 'pino';
import { DAY_MS } from '../time/days.js';
import type { LiveCertificate } from './certificate.js';

/**
 * One `certificate_status` line per certificate at start, so that expiry is visible in the log
 * without running `certs`; above `listUpTo` certificates, one line for the one that expires first.
 */
export function logCertificateStatus(log: Logger, loaded: readonly LiveCertificate[], listUpTo: number): void {
  const certificates = [...loaded].sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
  const daysLeft = (notAfter: Date) => Math.floor((notAfter.getTime() - Date.now()) / DAY_MS);
  if (certificates.length > listUpTo) {
    const earliest = certificates[0]!;
    log.info(
      {
        event: 'certificate_status',
        certificates: certificates.length,
        earliest_not_after: earliest.notAfter.toISOString(),
        days_left: daysLeft(earliest.notAfter),
      },
      `${certificates.length} certificates loaded; the first expires ${earliest.notAfter.toISOString()} (mta-sts-server certs lists them)`,
    );
    return;
  }
  for (const certificate of certificates) {
    log.info(
      {
        event: 'certificate_status',
        names: certificate.dnsNames,
        issuer: certificate.issuer,
        not_after: certificate.notAfter.toISOString(),
        days_left: daysLeft(certificate.notAfter),
      },
      `certificate for ${certificate.dnsNames.join(', ')} valid until ${certificate.notAfter.toISOString()}`,
    );
  }
}
