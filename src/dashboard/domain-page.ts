import { sharePercent, type DomainFetchReport } from '../fetches/fetch-report.js';
import type { EnforceReadiness } from '../health/enforce-readiness.js';
import type { DomainReportSummary } from '../reports/report-summary.js';
import { SERIES_COLOURS, stackedBars, type Series } from './bar-chart.js';
import type { DomainDetail } from './dashboard-data.js';
import { markup, type Html } from './markup.js';
import { layout, moment, scrolling, statusLabel } from './page-parts.js';

const table = (caption: string, head: readonly string[], rows: readonly Html[]) =>
  scrolling(
    caption,
    markup`<table><caption>${caption}</caption><thead><tr>${head.map((name) => markup`<th scope="col">${name}</th>`)}</tr></thead><tbody>${rows}</tbody></table>`,
  );

function fetchSection(detail: DomainDetail): Html {
  const report = detail.fetches;
  const providers = [...new Set(detail.fetch_days.flatMap((day) => Object.keys(day.providers)))].sort();
  const names = new Map((report?.providers ?? []).map((row) => [row.provider, row.name]));
  const series: Series[] = providers.map((provider, index) => ({
    key: provider,
    label: names.get(provider) ?? provider,
    colour: SERIES_COLOURS[index % SERIES_COLOURS.length]!,
  }));
  const chart = stackedBars(
    `Fetches per provider and UTC day, ${detail.chart_period.since} to ${detail.chart_period.until}`,
    detail.fetch_days.map((day) => ({ label: day.day, values: day.providers })),
    series,
  );
  return markup`<section aria-labelledby="fetches"><h2 id="fetches">Who fetches the policy</h2>
${detail.statistics_problem && markup`<p class="problem">${statusLabel('warn', 'not shown')} ${detail.statistics_problem}</p>`}
${chart}
${report && providerTable(report, detail)}
</section>`;
}

function providerTable(report: DomainFetchReport, detail: DomainDetail): Html {
  const rows = report.providers.map(
    (
      row,
    ) => markup`<tr><td>${row.name}</td><td>${row.fetches}</td><td>${row.addresses_capped ? `${row.addresses}+` : row.addresses}</td>
<td>${moment(row.first_seen)}</td><td>${moment(row.last_seen)}</td>
<td><code>${row.last_policy_id}</code> ${row.has_current_policy ? statusLabel('ok', 'current') : statusLabel('warn', 'older')}</td>
<td>${row.current_id_fetches === null ? '–' : `${row.current_id_fetches} (${sharePercent(row.current_id_fetches, row.fetches)})`}</td></tr>`,
  );
  const share =
    report.current_id_fetches !== null && report.fetches > 0
      ? markup`<p>${report.current_id_fetches} of ${report.fetches} fetches (${sharePercent(report.current_id_fetches, report.fetches)}) got the current policy id.</p>`
      : markup`<p>No fetches from ${detail.fetch_period.since} to ${detail.fetch_period.until}.</p>`;
  return markup`${share}${table(
    `Fetches ${detail.fetch_period.since} to ${detail.fetch_period.until} (as stats shows them)`,
    ['Provider', 'Fetches', 'Addresses', 'First seen', 'Last seen', 'Last policy id', 'Got current id'],
    rows,
  )}`;
}

function reportSection(detail: DomainDetail): Html {
  const summary = detail.reports;
  const byDay = new Map((summary?.days ?? []).map((day) => [day.day, day]));
  const chart = stackedBars(
    `TLS sessions per UTC day, ${detail.chart_period.since} to ${detail.chart_period.until}`,
    detail.fetch_days.map(({ day }) => ({
      label: day,
      values: { ok: byDay.get(day)?.successful_sessions ?? 0, failed: byDay.get(day)?.failed_sessions ?? 0 },
    })),
    [
      { key: 'ok', label: 'successful', colour: '#009E73' },
      { key: 'failed', label: 'failed', colour: '#D55E00' },
    ],
  );
  return markup`<section aria-labelledby="reports"><h2 id="reports">What senders report (TLS reports)</h2>
${detail.reports_problem && markup`<p class="problem">${statusLabel('warn', 'not shown')} ${detail.reports_problem}</p>`}
${chart}
${summary && reportTables(summary)}
</section>`;
}

function reportTables(summary: DomainReportSummary): Html {
  return markup`<p>${summary.reports} reports: ${summary.successful_sessions} successful sessions, ${summary.failed_sessions} failed.</p>
${table(
  'Reporting organizations',
  ['Organization', 'Reports', 'Successful', 'Failed'],
  summary.organizations.map(
    (row) =>
      markup`<tr><td>${row.organization}</td><td>${row.reports}</td><td>${row.successful_sessions}</td><td>${row.failed_sessions}</td></tr>`,
  ),
)}
${table(
  'Failures by result type and receiving MX',
  ['Result type', 'Receiving MX', 'Sessions'],
  summary.failures.map(
    (row) => markup`<tr><td>${row.result_type}</td><td>${row.receiving_mx_hostname ?? '–'}</td><td>${row.sessions}</td></tr>`,
  ),
)}`;
}

function readinessSection(readiness: EnforceReadiness | null): Html | false {
  if (!readiness) return false;
  return markup`<section aria-labelledby="readiness"><h2 id="readiness">Enforce readiness</h2>
${readiness.ready ? markup`<p>${statusLabel('ok', 'ready')} nothing that enforce would bounce.</p>` : markup`<p>${statusLabel('warn', 'not ready')} fix first:</p><ul>${readiness.blockers.map((blocker) => markup`<li>${blocker}</li>`)}</ul>`}
</section>`;
}

function healthSection(detail: DomainDetail): Html {
  const health = detail.health;
  if (!health) {
    return markup`<section aria-labelledby="health"><h2 id="health">Health checks</h2><p>${statusLabel('none', 'not checked')} the self-check has not checked this domain (health.enabled, or its first round is still to come); <code>mta-sts-server check</code> runs the same checks.</p></section>`;
  }
  return markup`<section aria-labelledby="health"><h2 id="health">Health checks</h2>
<p>${statusLabel(health.status, health.status)} checked ${moment(health.checked_at)}</p>
${table(
  'Checks, as check shows them',
  ['Check', 'Status', 'Result'],
  health.checks.map(
    (check) =>
      markup`<tr><td><code>${check.id}</code></td><td>${statusLabel(check.status, check.status)}</td><td>${check.message}</td></tr>`,
  ),
)}
</section>`;
}

function certificateSection(detail: DomainDetail): Html {
  const certificate = detail.certificate;
  const body =
    certificate.not_after === null
      ? markup`<p>${statusLabel('fail', 'none')} no certificate for this host yet.</p>`
      : markup`<dl><dt>Issuer</dt><dd>${certificate.issuer}</dd><dt>Expires</dt><dd>${moment(certificate.not_after)} (${certificate.days_left} days left)</dd>
<dt>Next renewal</dt><dd>${moment(certificate.next_renewal)}</dd></dl>`;
  return markup`<section aria-labelledby="certificate"><h2 id="certificate">Certificate of ${certificate.host}</h2>
${body}
${certificate.last_error && markup`<p>${statusLabel('fail', 'last error')} ${certificate.last_error}</p>`}
</section>`;
}

function historySection(detail: DomainDetail): Html {
  return markup`<section aria-labelledby="history"><h2 id="history">Policy history</h2>
${table(
  'Policies served, oldest first',
  ['Policy id', 'Mode', 'max_age', 'First served', 'Last served'],
  detail.history.map(
    (record) =>
      markup`<tr><td><code>${record.id}</code></td><td>${record.mode}</td><td>${record.max_age}</td><td>${moment(record.first_served)}</td><td>${moment(record.last_served)}</td></tr>`,
  ),
)}
${detail.delete_after && markup`<p>Delete the records and the policy host after ${moment(detail.delete_after)}.</p>`}
</section>`;
}

/** One domain: its policy and records, who fetches it, what senders report, its checks, certificate and history. */
export function domainPage(detail: DomainDetail): string {
  const mode = detail.retired ? 'none (removed from the config, retiring)' : detail.mode;
  return layout(
    detail.domain,
    'domain',
    markup`<h1>${detail.domain}</h1>
<p>Mode <strong>${mode}</strong>, policy id <code>${detail.policy_id}</code>. <a href="/api/domains/${encodeURIComponent(detail.domain)}">JSON</a></p>
<section aria-labelledby="policy"><h2 id="policy">Served policy</h2><pre>${detail.policy_text}</pre></section>
<section aria-labelledby="dns"><h2 id="dns">DNS records to publish</h2><pre>${detail.dns_records.join('\n')}</pre>
<p>As <code>mta-sts-server dns --domain ${detail.domain}</code> prints them; give it <code>--ipv4</code>, <code>--ipv6</code> or <code>--cname</code> for the policy host's record.</p></section>
${readinessSection(detail.enforce_readiness)}
${healthSection(detail)}
${fetchSection(detail)}
${reportSection(detail)}
${certificateSection(detail)}
${historySection(detail)}`,
  );
}

/** The page for a name that is not served: said plainly, with the way back. */
export function notFoundPage(name: string): string {
  return layout(
    'Not found',
    'domain',
    markup`<h1>Not found</h1><p>${name} is not a domain this service serves. <a href="/">All domains</a></p>`,
  );
}
