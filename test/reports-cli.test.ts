import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { daysBefore, utcDay } from '../src/time/days.js';
import { cliInProcess } from './support/cli.js';
import { writeTestConfig } from './support/service.js';
import { gzipBody, jsonBody, mailRuReport, microsoftReport, reportMessage, rfcExampleReport } from './support/tls-reports.js';

const CONFIG = `
domains:
  example.com: { mode: testing, mx: [mx1.example.com, mx2.example.com] }
  example.org: { mode: enforce, mx: [mx.example.org] }
state_dir: state
`;

const today = () => new Date();
const dayAgo = (days: number) => daysBefore(today(), days);

/** Google's shape: policy-string and mx-host lists, one failure detail. */
function googleReport(
  day: string,
  failure: { type: string; mx: string; sessions: number } | undefined,
  reportId = `${day}_example.com`,
) {
  return {
    'organization-name': 'Google Inc.',
    'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
    'contact-info': 'smtp-tls-reporting@google.com',
    'report-id': reportId,
    policies: [
      {
        policy: {
          'policy-type': 'sts',
          'policy-string': ['version: STSv1', 'mode: testing', 'mx: mx1.example.com', 'mx: mx2.example.com', 'max_age: 604800'],
          'policy-domain': 'example.com',
          'mx-host': ['mx1.example.com', 'mx2.example.com'],
        },
        summary: { 'total-successful-session-count': 100, 'total-failure-session-count': failure?.sessions ?? 0 },
        'failure-details': failure
          ? [
              {
                'result-type': failure.type,
                'receiving-mx-hostname': failure.mx,
                'receiving-ip': '192.0.2.25',
                'failed-session-count': failure.sessions,
              },
            ]
          : [],
      },
    ],
  };
}

async function importInto(configPath: string, files: Record<string, Buffer>) {
  const dir = join(configPath, '..', 'import');
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
  return cliInProcess(['reports', 'import', '--config', configPath, dir]);
}

test('reports import: .json, .json.gz, .eml and a directory; a report for another domain is rejected (exit 1); a re-import is "already stored"', async () => {
  const { dir, configPath } = await writeTestConfig(CONFIG);
  const result = await importInto(configPath, {
    'a.json': jsonBody(microsoftReport({ day: dayAgo(1) })),
    'b.json.gz': gzipBody(mailRuReport({ day: dayAgo(1) })),
    'c.eml': reportMessage(rfcExampleReport({ domain: 'example.org', day: dayAgo(2) })),
    'd.json': jsonBody(microsoftReport({ domain: 'example.net', reportId: 'not-ours' })),
    'ignored.txt': Buffer.from('not a report'),
  });
  assert.equal(result.code, 1, result.stderr);
  const imported = join(dir, 'import');
  assert.equal(
    result.stdout,
    `${imported}/a.json: stored: Microsoft Corporation for example.com, ${dayAgo(1)} (id 133890624000000000+example.com)\n` +
      `${imported}/b.json.gz: stored: Mail.Ru for example.com, ${dayAgo(1)} (id mailru-2026-11-20)\n` +
      `${imported}/c.eml: stored: Company-X for example.org, ${dayAgo(2)} (id 5065427c-23d3-47ca-b6e0-946ea0e8c4be)\n` +
      '3 files imported, 1 not\n',
  );
  assert.equal(result.stderr, `${imported}/d.json: rejected: report is for example.net, not a domain served here\n`);

  const again = await cliInProcess(['reports', 'import', '--config', configPath, join(imported, 'a.json')]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /a\.json: already stored: Microsoft Corporation/);

  const rejected = await cliInProcess(['reports', '--rejected', '--json', '--config', configPath]);
  assert.equal(rejected.code, 0, rejected.stderr);
  const listed = JSON.parse(rejected.stdout) as { rejected: { via: string; reason: string; media_type: string }[] };
  assert.deepEqual(
    listed.rejected.map(({ via, reason, media_type }) => ({ via, reason, media_type })),
    [{ via: 'import', reason: 'report is for example.net, not a domain served here', media_type: 'application/tlsrpt+json' }],
  );
  const text = await cliInProcess(['reports', '--rejected', '--config', configPath]);
  assert.match(
    text.stdout,
    /^Rejected TLS reports received from \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2} \(UTC\)\n\n  RECEIVED +VIA +BYTES +REASON\n  .* import +\d+ +report is for example\.net, not a domain served here\n$/,
  );

  const missing = await cliInProcess(['reports', 'import', '--config', configPath, join(dir, 'nope.json')]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `${dir}/nope.json: cannot read: no such file\n`);
});

test('reports and reports --json: totals per domain, organization, failure and day; testing domain not ready with blockers', async () => {
  const { configPath } = await writeTestConfig(CONFIG);
  const [day1, day2] = [dayAgo(2), dayAgo(1)];
  const imported = await importInto(configPath, {
    'google.json': jsonBody(googleReport(day1, { type: 'certificate-expired', mx: 'mx2.example.com', sessions: 2 })),
    'microsoft.json.gz': gzipBody(microsoftReport({ day: day2 }, 18)),
    // An old report outside the period still counts for nothing here.
    'old.json': jsonBody(microsoftReport({ day: dayAgo(60), reportId: 'old' }, 1000)),
  });
  assert.equal(imported.code, 0, imported.stderr);

  const result = await cliInProcess(['reports', '--json', '--since', '30d', '--config', configPath]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), {
    since: dayAgo(29),
    until: utcDay(today()),
    domains: [
      {
        domain: 'example.com',
        mode: 'testing',
        reports: 2,
        successful_sessions: 118,
        failed_sessions: 2,
        organizations: [
          { organization: 'Google Inc.', reports: 1, successful_sessions: 100, failed_sessions: 2 },
          { organization: 'Microsoft Corporation', reports: 1, successful_sessions: 18, failed_sessions: 0 },
        ],
        failures: [{ result_type: 'certificate-expired', receiving_mx_hostname: 'mx2.example.com', sessions: 2 }],
        days: [
          { day: day1, reports: 1, successful_sessions: 100, failed_sessions: 2 },
          { day: day2, reports: 1, successful_sessions: 18, failed_sessions: 0 },
        ],
        enforce_readiness: { ready: false, blockers: ['certificate-expired at mx2.example.com: 2 sessions'] },
      },
      {
        domain: 'example.org',
        mode: 'enforce',
        reports: 0,
        successful_sessions: 0,
        failed_sessions: 0,
        organizations: [],
        failures: [],
        days: [],
        enforce_readiness: null,
      },
    ],
  });

  const text = await cliInProcess(['reports', '--domain', 'example.com', '--config', configPath]);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(
    text.stdout,
    `TLS reports from ${dayAgo(29)} to ${utcDay(today())} (UTC days the reports cover)

example.com (mode testing): 2 reports, 118 successful sessions, 2 failed
  ORGANIZATION           REPORTS  SUCCESSFUL  FAILED
  Google Inc.            1        100         2
  Microsoft Corporation  1        18          0
  FAILURE              RECEIVING MX     SESSIONS
  certificate-expired  mx2.example.com  2
  ${day1}  1 report, 100 successful, 2 failed
  ${day2}  1 report, 18 successful, 0 failed
  Not ready for enforce:
    - certificate-expired at mx2.example.com: 2 sessions
`,
  );
  const unknown = await cliInProcess(['reports', '--domain', 'example.net', '--config', configPath]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^example\.net is not a domain in .*, and no reports name it\n$/);
});

test('enforce readiness: ready with two organizations and only non-blocking failures; one organization is not enough; failures older than 14 days do not count', async () => {
  const { configPath } = await writeTestConfig(CONFIG);
  const readiness = async () => {
    const result = await cliInProcess(['reports', '--json', '--domain', 'example.com', '--config', configPath]);
    assert.equal(result.code, 0, result.stderr);
    return (JSON.parse(result.stdout) as { domains: { enforce_readiness: unknown }[] }).domains[0]!.enforce_readiness;
  };
  await importInto(configPath, {
    'google.json': jsonBody(googleReport(dayAgo(3), { type: 'sts-policy-fetch-error', mx: 'mx1.example.com', sessions: 1 })),
    // A blocking failure, but 20 days ago: outside the readiness window.
    'google-old.json': jsonBody(
      googleReport(dayAgo(20), { type: 'starttls-not-supported', mx: 'mx1.example.com', sessions: 9 }, 'old'),
    ),
  });
  assert.deepEqual(await readiness(), {
    ready: false,
    blockers: ['reports from 1 organization in the last 14 days; at least 2 needed'],
  });
  await importInto(configPath, { 'microsoft.json': jsonBody(microsoftReport({ day: dayAgo(1) })) });
  assert.deepEqual(await readiness(), { ready: true, blockers: [] });
  const text = await cliInProcess(['reports', '--domain', 'example.com', '--config', configPath]);
  assert.match(text.stdout, /\n  Ready for enforce: over the last 14 days no session failed in a way enforce would bounce\.\n$/);
});

test('dns prints the _smtp._tls record that matches the receivers enabled: every mailto: before any https:, own receivers first', async () => {
  const ruaOf = async (reports: string) => {
    const { configPath } = await writeTestConfig(
      `domains:\n  example.com: { mx: [mx1.example.com], tlsrpt: { rua: ["mailto:tls@example.com"] } }\nstate_dir: state\n${reports}`,
    );
    const result = await cliInProcess(['dns', '--ipv4', '192.0.2.10', '--config', configPath]);
    assert.equal(result.code, 0, result.stderr);
    return /^_smtp\._tls\.example\.com\. +3600 IN TXT +"(.*)"$/m.exec(result.stdout)?.[1];
  };
  assert.equal(await ruaOf(''), 'v=TLSRPTv1; rua=mailto:tls@example.com');
  assert.equal(
    await ruaOf('reports: { https: { enabled: true } }\n'),
    'v=TLSRPTv1; rua=mailto:tls@example.com,https://mta-sts.example.com/tlsrpt',
  );
  assert.equal(
    await ruaOf('reports: { https: { enabled: true }, smtp: { enabled: true } }\n'),
    'v=TLSRPTv1; rua=mailto:tlsrpt@mta-sts.example.com,mailto:tls@example.com,https://mta-sts.example.com/tlsrpt',
  );
});
