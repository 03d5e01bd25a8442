import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { PolicySet } from '../policy/policy-set.js';
import { ReportStoreUnavailableError, type TlsReportStore } from '../storage/tls-report-store.js';
import { DAY_MS, daysBefore } from '../time/days.js';
import type { ImapImporter } from './imap-import.js';
import { createReportIntake, type ReportIntake } from './intake.js';

export interface TlsReportsOptions {
  settings: Config['reports'];
  /** Opens the report store (storage/backends.ts); throws when it cannot be opened. */
  openStore: () => Promise<TlsReportStore>;
  /** The policies served now: reports for other domains are rejected. */
  policies: () => PolicySet;
  /** MTA_STS_IMAP_PASSWORD; config loading refuses reports.imap enabled without it. */
  imapPassword: string | undefined;
  log: Logger;
  /** The service's metrics registry, when it has one (the admin listener is on). */
  registry: Registry | undefined;
}

/**
 * The service's TLS report part (RFC 8460): the store, the intake every receiver (HTTPS, SMTP,
 * IMAP) hands reports to, and the daily prune. It starts before the listeners that receive
 * reports and closes after them, so that no report in flight finds the store closed.
 */
export interface TlsReports {
  readonly intake: ReportIntake;
  /** POST /tlsrpt on the policy listener, when reports.https is enabled. */
  readonly https: { intake: ReportIntake; maxBodyBytes: number } | undefined;
  /** The SMTP receiver (a listener), when reports.smtp is enabled: tlsrpt@mta-sts.<domain> of the domains served now. */
  readonly smtp: { settings: Config['reports']['smtp']; intake: ReportIntake; domains: () => ReadonlySet<string> } | undefined;
  /** Stops the IMAP import (a report being stored is finished), then closes the store. */
  close(): Promise<void>;
}

/**
 * Opens the report store and the intake, for a service that receives reports (the composition
 * root imports this module only then: src/service/parts.ts). A
 * store that cannot be opened (unwritable state directory, a newer schema) does not stop the
 * policies being served: every report is then answered "try again later" (HTTP 503, SMTP 4xx),
 * so senders keep them until it can be.
 */
export async function startTlsReports(options: TlsReportsOptions): Promise<TlsReports> {
  const { settings, log } = options;
  const store = await openStore(options.openStore, log);
  const domains = servedDomains(options.policies);
  const intake = createReportIntake({
    store,
    domains,
    log,
    ...(options.registry && { metrics: new (await import('./report-metrics.js')).ReportMetrics(options.registry) }),
    maxReportBytes: settings.max_report_bytes,
  });
  const prune = async () => {
    const before = daysBefore(new Date(), settings.retention_days);
    try {
      const removed = await store.prune(before);
      if (removed > 0) log.info({ event: 'tlsrpt_pruned', before, rows: removed }, `TLS reports before ${before} deleted`);
    } catch (error) {
      log.error({ event: 'tlsrpt_prune_error', error: (error as Error).message }, 'old TLS reports not deleted');
    }
  };
  void prune();
  const timer = setInterval(() => void prune(), DAY_MS);
  timer.unref();
  const imap = settings.imap.enabled ? await startImapImport(settings, intake, options.imapPassword!, log) : undefined;
  return {
    intake,
    https: settings.https.enabled ? { intake, maxBodyBytes: settings.https.max_body_bytes } : undefined,
    smtp: settings.smtp.enabled ? { settings: settings.smtp, intake, domains } : undefined,
    async close() {
      await imap?.stop();
      clearInterval(timer);
      await store.close();
    },
  };
}

/** The IMAP client (imapflow, about 30 MB of memory) is loaded only when the import is on. */
async function startImapImport(
  settings: Config['reports'],
  intake: ReportIntake,
  password: string,
  log: Logger,
): Promise<ImapImporter> {
  const { imap } = settings;
  const { ImapImporter } = await import('./imap-import.js');
  const importer = new ImapImporter({
    intake,
    // Config loading refuses IMAP enabled without host and user.
    account: {
      host: imap.host!,
      port: imap.port,
      user: imap.user!,
      password,
      mailbox: imap.mailbox,
      doneMailbox: imap.done_mailbox,
    },
    log,
    maxMessageBytes: settings.smtp.max_message_bytes,
  });
  importer.start();
  return importer;
}

/** The served policy domains as a set, built once per policy set (a reload swaps the set). */
function servedDomains(policies: () => PolicySet): () => ReadonlySet<string> {
  let forSet: PolicySet | undefined;
  let domains: ReadonlySet<string> = new Set();
  return () => {
    const current = policies();
    if (current !== forSet) {
      forSet = current;
      domains = new Set([...current.policies].map((served) => served.domain));
    }
    return domains;
  };
}

async function openStore(open: () => Promise<TlsReportStore>, log: Logger): Promise<TlsReportStore> {
  try {
    return await open();
  } catch (error) {
    const reason = (error as Error).message;
    log.error(
      { event: 'tlsrpt_store_unavailable', error: reason },
      'TLS reports cannot be stored: senders are asked to retry until the state database can be opened (restart after fixing it)',
    );
    return unavailableStore(reason);
  }
}

/** A store that answers every call "not now". */
function unavailableStore(reason: string): TlsReportStore {
  const refuse = async (): Promise<never> => {
    throw new ReportStoreUnavailableError(`the report store could not be opened: ${reason}`);
  };
  return {
    add: refuse,
    addRejected: refuse,
    policyResults: refuse,
    rejected: refuse,
    rawReport: refuse,
    prune: async () => 0,
    close: async () => undefined,
  };
}
