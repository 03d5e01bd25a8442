import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FetchStatisticsRecorder } from '../../src/fetches/fetch-statistics.js';
import { createLogger } from '../../src/log/logger.js';
import { FileStorage } from '../../src/storage/file-storage.js';
import { SqliteFetchStatistics } from '../../src/storage/sqlite-fetch-statistics.js';
import { SqlitePolicyHistory } from '../../src/storage/sqlite-policy-history.js';
import { DAY_MS, daysBefore } from '../../src/time/days.js';
import { checkArgsAt, selfCheckAt, servedIds, startTestMx, writePolicyCertificate } from './check-setup.js';
import { cliInProcess } from './cli.js';
import { TestDnsServer } from './dns-server.js';
import { freePorts } from './ports.js';
import { startTestServiceAt, writeTestConfig, type TestService } from './service.js';
import { TestCa } from './test-ca.js';
import { jsonBody, microsoftReport, rfcExampleReport } from './tls-reports.js';

/**
 * A state directory as a month of use leaves it, seeded through the real stores (fetch statistics,
 * TLS reports by `reports import`, the policy history) and served by the real service with its
 * self-check looking at the tests' DNS server and an SMTP server: what the dashboard tests and the
 * README's screenshots show, and what the CLI prints for the same state.
 */
export const DEMO_DOMAINS = ['example.com', 'example.org', 'example.net'] as const;
/** Removed from the config with an enforce policy served two hours ago: retiring (RFC 8461 §8.3). */
export const RETIRING_DOMAIN = 'old.example';
/** What a client may send as its User-Agent: the dashboard must show it as text. */
export const HOSTILE_USER_AGENT = '<script>alert("ua")</script><img src=x onerror=alert(1)>';
const GOOGLE = '209.85.238.10';
const MICROSOFT = '40.92.0.10';
const YAHOO = '98.136.96.10';
const UNKNOWN = '198.51.100.23';

export interface DashboardDemo {
  running: TestService;
  configPath: string;
  stateDir: string;
  adminPort: number;
  token: string | undefined;
  ids: Map<string, string>;
  /** `check`'s flags that point it where the self-check looks (config, resolver, CA, ports). */
  checkArgs: string[];
  ca: TestCa;
  stop(): Promise<void>;
}

export interface DemoOptions {
  token?: string;
  /** Extra domains d0001.example … (enforce, no certificate, no fetches), to time a big overview; health checks are then off. */
  generatedDomains?: number;
}

const generatedName = (index: number) => `d${String(index + 1).padStart(4, '0')}.example`;

export async function startDashboardDemo({ token, generatedDomains = 0 }: DemoOptions = {}): Promise<DashboardDemo> {
  const ca = await TestCa.create();
  const { dir, configPath } = await writeTestConfig('');
  const stateDir = join(dir, 'state');
  await mkdir(stateDir, { recursive: true });
  const caPath = await writePolicyCertificate(
    ca,
    dir,
    [...DEMO_DOMAINS, RETIRING_DOMAIN].map((domain) => `mta-sts.${domain}`),
  );
  const [httpsPort, smtpPort] = await freePorts(2);
  const health = generatedDomains === 0;
  await writeFile(
    configPath,
    'domains:\n' +
      '  example.com: { mode: testing, mx: [mx1.example.com] }\n' +
      '  example.org: { mode: enforce, mx: [mx.example.org] }\n' +
      '  example.net: { mode: testing, mx: [mail.example.net] }\n' +
      Array.from(
        { length: generatedDomains },
        (_, index) => `  ${generatedName(index)}: { mode: enforce, mx: [mx.${generatedName(index)}] }\n`,
      ).join('') +
      'tls: { source: files, certificates: [{ cert: policy.crt, key: policy.key }] }\n' +
      `listen: { address: 127.0.0.1, https: ${httpsPort}, http: 0 }\n` +
      `admin: { address: 127.0.0.1, port: 0${token === undefined ? '' : `, token: "${token}"`} }\n` +
      'reverse_dns: { enabled: false }\n' +
      'trust_proxy: [127.0.0.1]\n' +
      // The self-check's own policy fetches are counted too: written within a second, so the comparisons see them.
      'statistics: { flush_interval_s: 1 }\n' +
      `health: { enabled: ${health}, interval: 6h }\n` +
      'state_dir: state\n',
  );
  const ids = await servedIds(configPath);
  const now = Date.now();
  const { store: history } = await SqlitePolicyHistory.open(stateDir, new FileStorage(stateDir));
  await history.save({
    domain: RETIRING_DOMAIN,
    policies: [
      {
        id: 'oldexample20261001',
        mode: 'enforce',
        maxAge: 604_800,
        body: 'version: STSv1\r\nmode: enforce\r\nmx: mx.old.example\r\nmax_age: 604800\r\n',
        firstServed: now - 60 * DAY_MS,
        lastServed: now - 2 * 3_600_000,
      },
    ],
  });
  await history.close();
  await seedFetches(stateDir, ids, now);
  await seedReports(dir, configPath, now);

  const dns = await TestDnsServer.start();
  for (const domain of DEMO_DOMAINS) dns.setA(`mta-sts.${domain}`, ['127.0.0.1']);
  dns.setTxt('_mta-sts.example.com', [`v=STSv1; id=${ids.get('example.com')}`]);
  // example.org's record still carries an older id: the dashboard must say it differs.
  dns.setTxt('_mta-sts.example.org', ['v=STSv1; id=20261101000000']);
  dns.setTxt('_mta-sts.example.net', [`v=STSv1; id=${ids.get('example.net')}`]);
  dns.setTxt('_smtp._tls.example.com', ['v=TLSRPTv1; rua=mailto:tlsrpt@example.com']);
  dns.setMx('example.com', [{ priority: 10, exchange: 'mx1.example.com' }]);
  dns.setA('mx1.example.com', ['127.0.0.2']);
  dns.setMx('example.org', [{ priority: 10, exchange: 'mx.example.org' }]);
  // Nothing listens there: STARTTLS fails, as for an MX that is down.
  dns.setA('mx.example.org', ['127.0.0.3']);
  const smtp = await startTestMx('127.0.0.2', smtpPort, await ca.issue(['mx1.example.com']));

  const running = await startTestServiceAt(dir, configPath, {
    selfCheck: selfCheckAt(dns, ca, { httpsPort, smtpPort }, 2_000),
  });
  const adminPort = running.service.listeners.adminAddress!.port;
  if (health) {
    await untilChecked(adminPort, token);
    // The last check's policy fetch is in the statistics after the next batch.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
  }
  return {
    running,
    configPath,
    stateDir,
    adminPort,
    token,
    ids,
    checkArgs: checkArgsAt(dns, caPath, { httpsPort, smtpPort }),
    ca,
    stop: async () => {
      await running.service.stop();
      await new Promise((resolve) => smtp.close(() => resolve(undefined)));
      await dns.close();
    },
  };
}

/** The `authorization` header for the admin listener: Bearer, as a script sends it. */
export const bearer = (token: string | undefined): Record<string, string> =>
  token === undefined ? {} : { authorization: `Bearer ${token}` };

/** Waits until the self-check has checked every served domain (the retiring one too), as the API shows it. */
async function untilChecked(adminPort: number, token: string | undefined): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await fetch(`http://127.0.0.1:${adminPort}/api/domains`, { headers: bearer(token) });
    const { domains } = (await response.json()) as { domains: { health: string | null }[] };
    if (domains.every((row) => row.health !== null)) return;
    if (Date.now() > deadline) throw new Error('the self-check did not check every domain within a minute');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A month of fetches: providers moving to the current id over the last days, and one user agent that claims Google from a VPS. */
async function seedFetches(stateDir: string, ids: Map<string, string>, now: number): Promise<void> {
  const store = SqliteFetchStatistics.open(stateDir);
  const recorder = new FetchStatisticsRecorder(store, {
    flushIntervalMs: 60_000,
    retentionDays: 400,
    log: createLogger('silent'),
  });
  const record = (
    daysAgo: number,
    hour: number,
    domain: string,
    provider: string,
    ip: string,
    policyId: string,
    claimed = false,
  ) =>
    recorder.record({
      atMs: Date.parse(`${daysBefore(new Date(now), daysAgo)}T${String(hour).padStart(2, '0')}:15:00Z`),
      domain,
      provider,
      ip,
      policyId,
      claimed,
    });
  for (let daysAgo = 29; daysAgo >= 1; daysAgo--) {
    const changed = daysAgo <= 4;
    const comId = changed ? ids.get('example.com')! : 'previous20261101';
    for (let fetch = 0; fetch < 1 + (daysAgo % 3); fetch++) record(daysAgo, 8 + fetch, 'example.com', 'google', GOOGLE, comId);
    for (let fetch = 0; fetch < 2 + (daysAgo % 4); fetch++)
      record(daysAgo, 10 + fetch, 'example.com', 'microsoft', MICROSOFT, comId);
    // Yahoo fetched last before the change: it still caches the old policy.
    if (daysAgo % 5 === 0) record(daysAgo, 12, 'example.com', 'yahoo', YAHOO, 'previous20261101');
    if (daysAgo % 7 === 1) record(daysAgo, 14, 'example.com', 'unknown', UNKNOWN, comId, true);
    record(daysAgo, 9, 'example.org', 'google', GOOGLE, ids.get('example.org')!);
    if (daysAgo % 2 === 0) record(daysAgo, 11, 'example.org', 'microsoft', MICROSOFT, ids.get('example.org')!);
  }
  await recorder.flush();
  await store.close();
}

/** Two weeks of TLS reports, imported as an admin would backfill them: Microsoft sees success, Company-X expired certificates at example.com. */
async function seedReports(dir: string, configPath: string, now: number): Promise<void> {
  const folder = join(dir, 'reports');
  await mkdir(folder);
  for (let daysAgo = 13; daysAgo >= 1; daysAgo--) {
    const day = daysBefore(new Date(now), daysAgo);
    await writeFile(
      join(folder, `ms-com-${day}.json`),
      jsonBody(microsoftReport({ domain: 'example.com', day, reportId: `ms-com-${day}` }, 40 + daysAgo)),
    );
    await writeFile(
      join(folder, `ms-org-${day}.json`),
      jsonBody(microsoftReport({ domain: 'example.org', day, reportId: `ms-org-${day}` }, 20)),
    );
    if (daysAgo % 4 === 0) {
      await writeFile(
        join(folder, `x-com-${day}.json`),
        jsonBody(rfcExampleReport({ domain: 'example.com', day, reportId: `x-com-${day}` })),
      );
    }
  }
  const imported = await cliInProcess(['reports', 'import', '--config', configPath, folder]);
  if (imported.code !== 0) throw new Error(`reports import failed: ${imported.stderr}`);
}
