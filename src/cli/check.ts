import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { readErrorReason } from '../files/read-error.js';
import type { CheckEnvironment } from '../health/check-environment.js';
import { shown, type CheckResult } from '../health/check-result.js';
import { DnsLookup } from '../health/dns-lookup.js';
import { checkDomains, type DomainCheck } from '../health/domain-check.js';
import { enforceReadiness, type EnforceReadiness } from '../health/enforce-readiness.js';
import type { MxHostResult } from '../health/mx-checks.js';
import { trustAnchors } from '../health/tls-peer.js';
import { domainEnd, endAdvice, formatMoment, readLifecycle } from '../lifecycle/lifecycle-view.js';
import { parseServerAddress, type ServerAddress } from '../net/server-address.js';
import { normaliseDomainName } from '../policy/domain-name.js';
import { PolicySet, type ServedPolicy } from '../policy/policy-set.js';
import { retirementPolicy } from '../policy/retirement.js';
import { READINESS_DAYS, enforceBlockingFailures } from '../reports/report-summary.js';
import { openBackends } from '../storage/backends.js';
import { escapeTerminalControlsInJson, printable } from '../text/printable.js';
import { daysBefore } from '../time/days.js';
import { loadConfigOrReport } from './load-config.js';
import { formatTable } from './table.js';

export interface CheckOptions {
  domain?: string;
  json: boolean;
  /** IP[:PORT] of the DNS server to ask; health.resolver, else the system's, when absent. */
  resolver?: string;
  /** A PEM file of extra trust anchors. */
  caFile?: string;
  smtpPort?: string;
  httpsPort?: string;
  /** Seconds each network step may take. */
  timeout?: string;
  /** "Now", for tests. */
  now?: Date;
}

const DEFAULT_TIMEOUT_S = 10;
const MAX_TIMEOUT_S = 300;

/** One domain in `check --json`: names fixed, scripts read them. */
interface DomainReport extends DomainCheck {
  /** For domains in testing: what switching to enforce would bounce; null otherwise. */
  enforce_readiness: EnforceReadiness | null;
  /** Removed from the config and served as mode none until delete_after (RFC 8461 §8.3). */
  retired: boolean;
  /** For mode none: when the records and the policy host can be deleted (ISO 8601); null otherwise or when any time will do. */
  delete_after: string | null;
}

/**
 * `mta-sts-server check`: each configured (and retiring) domain checked from the outside, as a
 * sending MTA sees it. Exit 0 when no check failed, 1 when one did, 2 for bad arguments or config.
 */
export async function runChecks(
  path: string,
  options: CheckOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const flags = await readFlags(options);
  const loaded = await loadConfigOrReport(path, err, flags.problems);
  if (!loaded || !flags.ok) return 2;
  const { config } = loaded;
  const now = options.now ?? new Date();
  const lifecycle = await readLifecycle(config, now.getTime());
  for (const problem of lifecycle.problems) err.write(`note: ${problem}\n`);
  const retired = new Set(lifecycle.retirements.map((retirement) => retirement.domain));
  let policies = [...new PolicySet([...config.domains, ...[...retired].map(retirementPolicy)]).policies];
  if (options.domain !== undefined) {
    const wanted = normaliseDomainName(options.domain);
    policies = policies.filter((policy) => wanted.ok && policy.domain === wanted.name);
    if (policies.length === 0) {
      err.write(`${printable(options.domain, 80)} is not a domain in ${path}\n`);
      return 2;
    }
  }
  const resolvers = flags.resolver ? [flags.resolver] : config.health.resolver.map((text) => parseServerAddress(text)!);
  const environment: CheckEnvironment = {
    dns: new DnsLookup(resolvers, flags.timeoutMs),
    ca: trustAnchors(flags.ca),
    httpsPort: flags.httpsPort,
    smtpPort: flags.smtpPort,
    timeoutMs: flags.timeoutMs,
    publicAddresses: config.health.publicAddresses,
    ehloName: hostname(),
    now: () => now.getTime(),
  };
  const checked = await checkDomains(policies, environment);
  const reportBlockers = await storedReportBlockers(config.stateDir, checked, now);
  const reports: DomainReport[] = checked.map((check, index) => {
    const end = domainEnd(policies[index]!, retired, lifecycle);
    return {
      ...check,
      enforce_readiness: check.mode === 'testing' ? enforceReadiness(check, reportBlockers.get(check.domain) ?? []) : null,
      retired: end.retired,
      delete_after: end.deleteAfter === undefined ? null : new Date(end.deleteAfter).toISOString(),
    };
  });
  if (options.json) {
    out.write(`${escapeTerminalControlsInJson(JSON.stringify({ checked_at: now.toISOString(), domains: reports }, null, 2))}\n`);
  } else {
    const through = resolvers.length > 0 ? resolvers.map(showServer).join(', ') : "the system's resolvers";
    out.write(`Checked at ${formatMoment(now.getTime())}, DNS through ${through}\n`);
    reports.forEach((report, index) => out.write(`\n${domainText(report, policies[index]!, now)}`));
  }
  return reports.some((report) => report.status === 'fail') ? 1 : 0;
}

interface Flags {
  ok: boolean;
  problems: string[];
  resolver: ServerAddress | undefined;
  ca: string[];
  smtpPort: number;
  httpsPort: number;
  timeoutMs: number;
}

/** The options checked and read (the CA file); every problem named, each on its line. */
async function readFlags(options: CheckOptions): Promise<Flags> {
  const problems: string[] = [];
  const resolver = options.resolver === undefined ? undefined : parseServerAddress(options.resolver);
  if (options.resolver !== undefined && !resolver) {
    problems.push(`--resolver ${printable(options.resolver, 80)} is not a DNS server address; write IP or IP:PORT ([IPv6]:PORT)`);
  }
  const port = (flag: string, text: string | undefined, fallback: number) => {
    if (text === undefined) return fallback;
    if (/^\d{1,5}$/.test(text) && Number(text) >= 1 && Number(text) <= 65_535) return Number(text);
    problems.push(`${flag} ${printable(text, 80)} is not a port number (1 to 65535)`);
    return fallback;
  };
  const smtpPort = port('--smtp-port', options.smtpPort, 25);
  const httpsPort = port('--https-port', options.httpsPort, 443);
  let timeoutS = DEFAULT_TIMEOUT_S;
  if (options.timeout !== undefined) {
    const seconds = /^\d+(\.\d+)?$/.test(options.timeout) ? Number(options.timeout) : NaN;
    if (seconds >= 0.1 && seconds <= MAX_TIMEOUT_S) timeoutS = seconds;
    else problems.push(`--timeout ${printable(options.timeout, 80)} is not a number of seconds from 0.1 to ${MAX_TIMEOUT_S}`);
  }
  const ca: string[] = [];
  if (options.caFile !== undefined) {
    try {
      const pem = await readFile(options.caFile, 'utf8');
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) problems.push(`--ca-file ${options.caFile}: no PEM certificate in it`);
      else ca.push(pem);
    } catch (error) {
      problems.push(`--ca-file ${options.caFile}: ${readErrorReason(error as NodeJS.ErrnoException)}`);
    }
  }
  return { ok: problems.length === 0, problems, resolver, ca, smtpPort, httpsPort, timeoutMs: Math.round(timeoutS * 1000) };
}

const showServer = ({ address, port }: ServerAddress) =>
  port === undefined ? address : address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;

/**
 * For each domain in testing, the failures enforce would bounce that the stored TLS reports show
 * (RFC 8460); none when the service keeps no report store, or it cannot be read.
 */
async function storedReportBlockers(
  stateDir: string,
  checked: readonly DomainCheck[],
  now: Date,
): Promise<Map<string, string[]>> {
  const blockers = new Map<string, string[]>();
  const testing = checked.filter((check) => check.mode === 'testing');
  if (testing.length === 0) return blockers;
  let store;
  try {
    store = await openBackends({ stateDir }).openTlsReportStore('read-only');
  } catch {
    return blockers;
  }
  try {
    // A report's day is the middle of its range: one that ended the day before may still count.
    const sinceDay = daysBefore(now, READINESS_DAYS);
    for (const check of testing) {
      const results = await store.policyResults({ sinceDay, domain: check.domain });
      blockers.set(check.domain, enforceBlockingFailures(results, now).map(shown));
    }
  } catch {
    // A store that cannot be read says nothing either way; `mta-sts-server reports` names the problem.
  } finally {
    await store.close();
  }
  return blockers;
}

function domainText(report: DomainReport, served: ServedPolicy, now: Date): string {
  const state = report.retired ? 'removed from the config, retiring: mode none' : `mode ${report.mode}`;
  const lines = [`${report.domain}: ${report.status.toUpperCase()} (${state}, policy id ${served.id})\n`];
  const rows = [['CHECK', 'STATUS', 'RESULT'], ...report.checks.flatMap(checkRows)];
  lines.push(formatTable(rows, '  '));
  if (report.enforce_readiness) {
    const { ready, blockers } = report.enforce_readiness;
    lines.push(
      ready
        ? '  Enforce readiness: ready (every MX covered, with valid STARTTLS; no blocking failures in stored TLS reports)\n'
        : `  Enforce readiness: not ready\n${blockers.map((blocker) => `    - ${blocker}\n`).join('')}`,
    );
  }
  const advice = endAdvice(
    served,
    { retired: report.retired, deleteAfter: report.delete_after === null ? undefined : Date.parse(report.delete_after) },
    now.getTime(),
  );
  if (advice) lines.push(`  ${advice}\n`);
  return lines.join('');
}

/** A check's row, and for mx_starttls one row per MX host under it. */
function checkRows(check: CheckResult): string[][] {
  const hosts = check.id === 'mx_starttls' ? ((check.details.hosts as MxHostResult[] | undefined) ?? []) : [];
  return [[check.id, check.status, check.message], ...hosts.map((host) => [`  ${host.host}`, host.status, host.message])];
}
