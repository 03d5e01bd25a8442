import { once } from 'node:events';
import { mkdtemp, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { createReportIntake } from '../../src/reports/intake.js';
import { SmtpReceiver, type SmtpLimits, type SmtpReceiverOptions } from '../../src/reports/smtp-receiver.js';
import { SqliteTlsReportStore } from '../../src/storage/sqlite-tls-report-store.js';
import type { ServedCertificate } from '../../src/tls/certificate.js';
import { createLogger } from '../../src/log/logger.js';
import { issueTestCertificate, type TestCertificate } from './certificates.js';
import { LogCapture } from './service.js';

/** The policy host whose certificate the receiver offers with STARTTLS, and its report address. */
export const SMTP_HOST = 'mta-sts.example.com';
export const REPORT_ADDRESS = `tlsrpt@${SMTP_HOST}`;

/** A certificate for SMTP_HOST from a fresh test CA, as files and as the SNI callback's context. */
export async function smtpTestCertificate(): Promise<{ files: TestCertificate; served: ServedCertificate }> {
  const files = await issueTestCertificate(await mkdtemp(join(tmpdir(), 'mta-sts-smtp-')), [SMTP_HOST]);
  const [cert, key] = await Promise.all([readFile(files.certPath, 'utf8'), readFile(files.keyPath, 'utf8')]);
  return { files, served: { context: createSecureContext({ cert, key }), dnsNames: [SMTP_HOST] } };
}

export interface RunningReceiver {
  receiver: SmtpReceiver;
  log: LogCapture;
  port: number;
  /** The domains served (example.com and example.org); a test may change the set, as a reload does. */
  domains: Set<string>;
}

/** The receiver on 127.0.0.1 (a free port) in front of `intake`, serving example.com and example.org. */
export async function startReceiver(
  served: ServedCertificate,
  intake: SmtpReceiverOptions['intake'],
  options: { limits?: Partial<SmtpLimits>; extraRecipients?: string[]; log?: LogCapture } = {},
): Promise<RunningReceiver> {
  const log = options.log ?? new LogCapture();
  const domains = new Set(['example.com', 'example.org']);
  const receiver = await SmtpReceiver.create({
    intake,
    domains: () => domains,
    extraRecipients: () => options.extraRecipients ?? [],
    certificateFor: (name) => (served.dnsNames.includes(name) ? served : undefined),
    log: createLogger('info', log),
    name: 'mx.test',
    limits: options.limits ?? {},
  });
  receiver.server.listen(0, '127.0.0.1');
  await once(receiver.server, 'listening');
  return { receiver, log, port: (receiver.server.address() as AddressInfo).port, domains };
}

/** The receiver in front of the real intake and a SQLite report store of its own. */
export async function startStoringReceiver(
  served: ServedCertificate,
): Promise<RunningReceiver & { store: SqliteTlsReportStore }> {
  const store = SqliteTlsReportStore.open(await mkdtemp(join(tmpdir(), 'mta-sts-smtp-state-')));
  const log = new LogCapture();
  let domains: Set<string> | undefined;
  const intake = createReportIntake({
    store,
    domains: () => domains!,
    log: createLogger('info', log),
    maxReportBytes: 1024 * 1024,
  });
  const running = await startReceiver(served, intake, { log });
  domains = running.domains;
  return { ...running, store };
}
