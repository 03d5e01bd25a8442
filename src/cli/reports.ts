import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readErrorReason } from '../files/read-error.js';
import { createLogger } from '../log/logger.js';
import { PolicySet } from '../policy/policy-set.js';
import { GZIP_MEDIA_TYPE, JSON_MEDIA_TYPE } from '../reports/decode.js';
import { createReportIntake, ReportStoreUnavailableError, type IntakeOutcome, type ReportIntake } from '../reports/intake.js';
import {
  READINESS_DAYS,
  reportDay,
  reportQuerySince,
  summarizeReports,
  type DomainReportSummary,
} from '../reports/report-summary.js';
import { openBackends, type StoreAccess } from '../storage/backends.js';
import type { TlsReportStore } from '../storage/tls-report-store.js';
import { escapeTerminalControlsInJson, printable } from '../text/printable.js';
import { utcDay } from '../time/days.js';
import { loadConfigOrReport } from './load-config.js';
import { periodOf } from './period.js';
import { formatTable } from './table.js';

export interface ReportsOptions {
  domain?: string;
  /** "30d", "2w" or a date, YYYY-MM-DD; the last 30 days when absent. */
  since?: string;
  json: boolean;
  rejected: boolean;
  /** "Now", for tests. */
  now?: Date;
}

/** Characters of sender-given text (organization, MX host, reason) shown in a table cell. */
const CELL_LIMIT = 60;
const cell = (text: string) => printable(text, CELL_LIMIT);

/** The report store, or undefined once why it cannot be opened is printed on `err`. */
async function openStore(stateDir: string, access: StoreAccess, err: NodeJS.WritableStream): Promise<TlsReportStore | undefined> {
  try {
    return await openBackends({ stateDir }).openTlsReportStore(access);
  } catch (error) {
    err.write(`${(error as Error).message}\n`);
    return undefined;
  }
}

/**
 * `mta-sts-server reports`: per domain, what the TLS reports the service received say, and for
 * domains in testing mode whether enforce is safe; `--rejected` lists the reports refused.
 */
export async function printReports(
  path: string,
  options: ReportsOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const now = options.now ?? new Date();
  const period = await periodOf(path, options, '30d', now, err);
  if (!period) return 2;
  const { config, sinceDay, domain: wanted } = period;
  const until = utcDay(now);
  const store = await openStore(config.stateDir, 'read-only', err);
  if (!store) return 1;
  try {
    if (options.rejected) {
      const rejected = await store.rejected({ sinceDay });
      out.write(
        options.json
          ? json({ since: sinceDay, until, rejected: rejected.map(rejectedJson) })
          : rejectedText(rejected, sinceDay, until),
      );
      return 0;
    }
    const results = await store.policyResults({
      sinceDay: reportQuerySince(sinceDay, now),
      ...(wanted !== undefined && { domain: wanted }),
    });
    const served = [...new PolicySet(config.domains).policies]
      .filter((policy) => wanted === undefined || policy.domain === wanted)
      .map((policy) => ({ domain: policy.domain, mode: policy.policy.mode }));
    if (wanted !== undefined && served.length === 0 && results.length === 0) {
      err.write(`${wanted} is not a domain in ${path}, and no reports name it\n`);
      return 2;
    }
    const domains = summarizeReports(results, served, { sinceDay, untilDay: until }, now);
    out.write(options.json ? json({ since: sinceDay, until, domains }) : reportsText(domains, sinceDay, until));
    return 0;
  } catch (error) {
    err.write(`${(error as Error).message}\n`);
    return 1;
  } finally {
    await store.close();
  }
}

const json = (value: unknown) => `${escapeTerminalControlsInJson(JSON.stringify(value, null, 2))}\n`;

function rejectedJson(rejected: { receivedAt: string; via: string; mediaType: string; size: number; reason: string }) {
  return {
    received_at: rejected.receivedAt,
    via: rejected.via,
    media_type: rejected.mediaType,
    bytes: rejected.size,
    reason: rejected.reason,
  };
}

function rejectedText(
  rejected: readonly { receivedAt: string; via: string; size: number; reason: string }[],
  since: string,
  until: string,
): string {
  const heading = `Rejected TLS reports received from ${since} to ${until} (UTC)\n`;
  if (rejected.length === 0) return `${heading}\nNone.\n`;
  const rows = rejected.map((entry) => [
    entry.receivedAt.slice(0, 16).replace('T', ' '),
    entry.via,
    String(entry.size),
    printable(entry.reason, 200),
  ]);
  return `${heading}\n${formatTable([['RECEIVED', 'VIA', 'BYTES', 'REASON'], ...rows], '  ')}`;
}

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;

function reportsText(domains: readonly DomainReportSummary[], since: string, until: string): string {
  const parts = [`TLS reports from ${since} to ${until} (UTC days the reports cover)\n`];
  for (const domain of domains) parts.push(`\n${domainText(domain)}`);
  return parts.join('');
}

function domainText(domain: DomainReportSummary): string {
  const mode = domain.mode === null ? 'no longer in the config' : `mode ${domain.mode}`;
  const lines = [
    `${domain.domain} (${mode}): ${plural(domain.reports, 'report')}, ${domain.successful_sessions} successful sessions, ${domain.failed_sessions} failed`,
  ];
  if (domain.reports > 0) {
    lines.push(
      formatTable(
        [
          ['ORGANIZATION', 'REPORTS', 'SUCCESSFUL', 'FAILED'],
          ...domain.organizations.map((row) => [
            cell(row.organization),
            String(row.reports),
            String(row.successful_sessions),
            String(row.failed_sessions),
          ]),
        ],
        '  ',
      ).trimEnd(),
    );
    if (domain.failures.length > 0) {
      lines.push(
        formatTable(
          [
            ['FAILURE', 'RECEIVING MX', 'SESSIONS'],
            ...domain.failures.map((row) => [
              cell(row.result_type),
              cell(row.receiving_mx_hostname ?? '-'),
              String(row.sessions),
            ]),
          ],
          '  ',
        ).trimEnd(),
      );
    }
    for (const day of domain.days) {
      lines.push(
        `  ${day.day}  ${plural(day.reports, 'report')}, ${day.successful_sessions} successful, ${day.failed_sessions} failed`,
      );
    }
  }
  const readiness = domain.enforce_readiness;
  if (readiness) {
    lines.push(
      readiness.ready
        ? `  Ready for enforce: over the last ${READINESS_DAYS} days no session failed in a way enforce would bounce.`
        : `  Not ready for enforce:\n${readiness.blockers.map((blocker) => `    - ${printable(blocker, 200)}`).join('\n')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** File names `reports import` reads, and how. */
function importKind(name: string): 'message' | typeof GZIP_MEDIA_TYPE | typeof JSON_MEDIA_TYPE | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith('.eml')) return 'message';
  if (lower.endsWith('.json.gz') || lower.endsWith('.gz')) return GZIP_MEDIA_TYPE;
  if (lower.endsWith('.json')) return JSON_MEDIA_TYPE;
  return undefined;
}

/**
 * `mta-sts-server reports import FILE|DIR...`: backfill from report files (.json, .json.gz) and
 * saved messages (.eml), through the same intake as the service. One line per file; exit 1 when
 * a file was rejected or unreadable, 0 when all were stored or already stored.
 */
export async function importReports(
  path: string,
  inputs: readonly string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  if (inputs.length === 0) {
    err.write('mta-sts-server reports import: name at least one file or directory (.json, .json.gz, .eml)\n');
    return 2;
  }
  const loaded = await loadConfigOrReport(path, err);
  if (!loaded) return 2;
  const { config } = loaded;
  let files: string[];
  try {
    files = await importFiles(inputs);
  } catch (error) {
    err.write(`${(error as Error).message}\n`);
    return 1;
  }
  if (files.length === 0) {
    err.write('no .json, .json.gz or .eml files found\n');
    return 1;
  }
  const store = await openStore(config.stateDir, 'read-write', err);
  if (!store) return 1;
  const domains = new Set([...new PolicySet(config.domains).policies].map((policy) => policy.domain));
  const intake = createReportIntake({
    store,
    domains: () => domains,
    log: createLogger('silent'),
    maxReportBytes: config.reports.max_report_bytes,
  });
  let failed = 0;
  try {
    for (const file of files) {
      const line = await importFile(intake, file, config.reports.max_report_bytes);
      if (!line.ok) failed++;
      (line.ok ? out : err).write(`${printable(file, 200)}: ${line.text}\n`);
    }
  } finally {
    await store.close();
  }
  out.write(`${plural(files.length - failed, 'file')} imported${failed > 0 ? `, ${failed} not` : ''}\n`);
  return failed > 0 ? 1 : 0;
}

/** The files named, and those under the directories named (recursively), that import reads. */
async function importFiles(inputs: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    const info = await stat(input).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`${printable(input, 200)}: cannot read: ${readErrorReason(error)}`);
    });
    if (info.isDirectory()) {
      const names = (await readdir(input, { recursive: true })).filter((name) => importKind(name) !== undefined).sort();
      files.push(...names.map((name) => join(input, name)));
    } else if (importKind(input) === undefined) {
      throw new Error(`${printable(input, 200)}: not a .json, .json.gz or .eml file`);
    } else {
      files.push(input);
    }
  }
  return files;
}

async function importFile(intake: ReportIntake, file: string, maxReportBytes: number): Promise<{ ok: boolean; text: string }> {
  const kind = importKind(file)!;
  let outcome: IntakeOutcome;
  try {
    // A saved message carries the report base64-encoded: allow for that over the report's own limit.
    const limit = kind === 'message' ? maxReportBytes * 2 : maxReportBytes;
    const size = (await stat(file)).size;
    if (size > limit) return { ok: false, text: `rejected: ${size} bytes is more than ${limit} (reports.max_report_bytes)` };
    const bytes = await readFile(file);
    outcome =
      kind === 'message' ? await intake.receiveMessage(bytes, 'import') : await intake.receiveReport(bytes, kind, 'import');
  } catch (error) {
    if (error instanceof ReportStoreUnavailableError) return { ok: false, text: `not stored now, try again: ${error.message}` };
    return { ok: false, text: `not read: ${(error as Error).message}` };
  }
  if (outcome.outcome === 'rejected') return { ok: false, text: `rejected: ${outcome.reason}` };
  const reports = outcome.reports
    .map(
      (report) =>
        `${cell(report.organization)} for ${report.policyDomains.join(', ')}, ${reportDay(report)} (id ${cell(report.reportId)})`,
    )
    .join('; ');
  return { ok: true, text: `${outcome.outcome === 'stored' ? 'stored' : 'already stored'}: ${reports}` };
}
