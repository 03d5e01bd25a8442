import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { cliProcess } from '../support/cli.js';
import {
  DEMO_DOMAINS,
  HOSTILE_USER_AGENT,
  RETIRING_DOMAIN,
  startDashboardDemo,
  type DashboardDemo,
} from '../support/dashboard-state.js';
import { fetchPolicy } from '../support/fetch-policy.js';

/*
 * The dashboard in a real browser: Debian's chromium (package chromium, /usr/bin/chromium) driven
 * by playwright-core, against the real service over a seeded state directory. The numbers on the
 * pages are compared with what the real command line (dist/src/cli/main.js, its own process)
 * prints for the same state. The screenshots go to docs/ (the README shows them) when
 * UPDATE_SCREENSHOTS=1, else to a scratch folder.
 */

const CHROMIUM = '/usr/bin/chromium';
// Without the background-networking flags, Chromium tries Google's hosts at every start, which a closed network refuses.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TOKEN = 'dashboard-browser-token-0123456789';
const DOCS = fileURLToPath(new URL('../../../docs/', import.meta.url));

let browser: Browser;
let demo: DashboardDemo;
let screenshots: string;

before(async () => {
  screenshots = process.env.UPDATE_SCREENSHOTS === '1' ? DOCS : await mkdtemp(join(tmpdir(), 'mta-sts-screenshots-'));
  // launch() gives every run a new, empty profile (a temporary user data dir of its own).
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  demo = await startDashboardDemo({ token: TOKEN });
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

/** What went wrong in a page: console errors, script errors, failed requests, answers >= 400, dialogs. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()}: ${response.url()}`);
  });
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  return problems;
}

async function loggedIn(): Promise<BrowserContext> {
  return browser.newContext({ httpCredentials: { username: 'admin', password: TOKEN }, viewport: { width: 1280, height: 800 } });
}

async function cli<T>(args: string[]): Promise<T> {
  const result = await cliProcess([...args, '--json', '--config', demo.configPath]);
  assert.ok(result.code === 0 || (args[0] === 'check' && result.code === 1), `${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/**
 * A command's JSON once the statistics stop changing: the policy fetches an earlier test made
 * (`check` fetches each policy) reach the statistics database up to a second later.
 */
async function settled<T>(args: string[]): Promise<T> {
  let last = await cli<T>(args);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const next = await cli<T>(args);
    if (JSON.stringify(next) === JSON.stringify(last)) return next;
    last = next;
  }
}

/** The overview table as text: one record per row, by column header. */
async function overviewRows(page: Page): Promise<Record<string, string>[]> {
  return page.locator('#overview').evaluate((table: HTMLTableElement) => {
    const headers = [...table.tHead!.rows[0]!.cells].map((cell) => cell.textContent!.trim());
    return [...table.tBodies[0]!.rows]
      .filter((row) => !row.hidden)
      .map((row) => Object.fromEntries([...row.cells].map((cell, index) => [headers[index]!, cell.textContent!.trim()])));
  });
}

/** Opens the overview in a new context; the admin listener's answers seen on the way, and how the navigation ended. */
async function visit(httpCredentials?: { username: string; password: string }) {
  const context = await browser.newContext(httpCredentials ? { httpCredentials } : {});
  const page = await context.newPage();
  const answers: string[] = [];
  page.on('response', (response) => answers.push(`${response.status()} ${response.headers()['www-authenticate'] ?? '-'}`));
  const ended = await page.goto(`http://127.0.0.1:${demo.adminPort}/`).then(
    async (response) => `${response?.status()} ${await page.title()}`,
    (error: Error) => error.message.split('\n')[0]!,
  );
  await context.close();
  return { answers, ended };
}

test('the token is required: 401 without credentials or with a wrong one, the page with HTTP Basic', async () => {
  // Refused, the browser shows the 401 answer or (headless, with no one to ask for a password) gives up on the navigation.
  const refused = /^401 $|ERR_INVALID_AUTH_CREDENTIALS/;
  const anonymous = await visit();
  assert.deepEqual(anonymous.answers, ['401 Basic realm="mta-sts-server"']);
  assert.match(anonymous.ended, refused);
  const wrong = await visit({ username: 'admin', password: 'not-the-token-0123456789' });
  assert.ok(
    wrong.answers.length > 0 && wrong.answers.every((answer) => answer === '401 Basic realm="mta-sts-server"'),
    String(wrong.answers),
  );
  assert.match(wrong.ended, refused);
  const right = await visit({ username: 'admin', password: TOKEN });
  assert.equal(right.ended, '200 Overview · mta-sts-server');
});

test('the overview shows what the CLI prints for the same state, sorts and filters by keyboard, with no errors', async () => {
  const context = await loggedIn();
  const page = await context.newPage();
  const problems = watch(page);
  await page.goto(`http://127.0.0.1:${demo.adminPort}/`);
  const stats = await cli<{ domains: { domain: string; fetches: number }[] }>(['stats']);
  const reports = await cli<{ domains: { domain: string; successful_sessions: number; failed_sessions: number }[] }>([
    'reports',
    '--since',
    '14d',
  ]);
  const checks = await cli<{ domains: { domain: string; status: string }[] }>(['check', ...demo.checkArgs]);
  const rows = await overviewRows(page);
  assert.deepEqual(
    rows.map((row) => row.Domain),
    [...DEMO_DOMAINS, RETIRING_DOMAIN],
  );
  for (const row of rows) {
    const domain = row.Domain!;
    assert.equal(row.Fetches, String(stats.domains.find((entry) => entry.domain === domain)!.fetches), domain);
    const summed = reports.domains.find((entry) => entry.domain === domain);
    assert.match(
      row['TLS sessions ok / failed']!,
      new RegExp(`${summed?.successful_sessions ?? 0} / ${summed?.failed_sessions ?? 0}$`),
      domain,
    );
    assert.match(row.Health!, new RegExp(`${checks.domains.find((entry) => entry.domain === domain)!.status}$`), domain);
  }
  assert.match(rows.find((row) => row.Domain === 'example.org')!['TXT record']!, /differs/);
  assert.match(rows.find((row) => row.Domain === RETIRING_DOMAIN)!.Mode!, /none \(retiring\)/);
  // Wide enough for every column, so the screenshot shows the whole table.
  await page.setViewportSize({ width: 1600, height: 560 });
  await page.screenshot({ path: join(screenshots, 'dashboard-overview.png') });

  // Sorting by keyboard: focus the Fetches header's link and press Enter; once more for descending.
  const fetchesHeader = page.getByRole('link', { name: 'Fetches', exact: true });
  await fetchesHeader.focus();
  await Promise.all([page.waitForURL(/\?sort=fetches&order=asc$/), page.keyboard.press('Enter')]);
  const ascending = (await overviewRows(page)).map((row) => Number(row.Fetches));
  assert.deepEqual(
    ascending,
    [...ascending].sort((a, b) => a - b),
  );
  await fetchesHeader.focus();
  await Promise.all([page.waitForURL(/\?sort=fetches&order=desc$/), page.keyboard.press('Enter')]);
  const descending = (await overviewRows(page)).map((row) => Number(row.Fetches));
  assert.deepEqual(
    descending,
    [...descending].sort((a, b) => b - a),
  );
  assert.equal(await page.locator('th', { has: fetchesHeader }).getAttribute('aria-sort'), 'descending');

  // The filter keeps the sort.
  await page.getByLabel('Filter').fill('example.org');
  await Promise.all([page.waitForURL(/\?q=example\.org&sort=fetches&order=desc$/), page.getByLabel('Filter').press('Enter')]);
  assert.deepEqual(
    (await overviewRows(page)).map((row) => row.Domain),
    ['example.org'],
  );
  assert.equal(await page.locator('#shown-count').textContent(), `1 of ${DEMO_DOMAINS.length + 1} match`);
  // On a phone the page does not scroll sideways: the table scrolls in its own box, which takes the keyboard focus.
  await page.setViewportSize({ width: 390, height: 844 });
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
  const box = page.locator('.table-scroll');
  assert.equal(await box.evaluate((element) => element.scrollWidth > element.clientWidth), true);
  assert.equal(await box.getAttribute('tabindex'), '0');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a domain page: the providers table as `stats` prints it, TLS report failures, checks; no errors', async () => {
  const stats = await settled<{ domains: { providers: { name: string; fetches: number }[] }[] }>([
    'stats',
    '--domain',
    'example.com',
  ]);
  const context = await loggedIn();
  const page = await context.newPage();
  const problems = watch(page);
  await page.goto(`http://127.0.0.1:${demo.adminPort}/`);
  await page.getByRole('link', { name: 'example.com', exact: true }).click();
  await page.waitForURL(/\/domains\/example\.com$/);
  const providerRows = await page
    .locator('table', { has: page.locator('caption', { hasText: 'as stats shows them' }) })
    .locator('tbody tr')
    .evaluateAll((rows) => rows.map((row) => [row.children[0]!.textContent, Number(row.children[1]!.textContent)]));
  assert.deepEqual(
    providerRows,
    stats.domains[0]!.providers.map((row) => [row.name, row.fetches]),
  );
  const reports = await cli<{ domains: { failures: { result_type: string; sessions: number }[] }[] }>([
    'reports',
    '--domain',
    'example.com',
  ]);
  const failures = await page
    .locator('table', { has: page.locator('caption', { hasText: 'Failures by result type' }) })
    .locator('tbody tr')
    .evaluateAll((rows) => rows.map((row) => [row.children[0]!.textContent, Number(row.children[2]!.textContent)]));
  assert.deepEqual(
    failures,
    reports.domains[0]!.failures.map((row) => [row.result_type, row.sessions]),
  );
  assert.ok(failures.length > 0);
  assert.equal(await page.locator('svg[role="img"]').count(), 2);
  assert.match((await page.locator('#health + p').textContent()) ?? '', /checked/);
  await page.setViewportSize({ width: 1280, height: 1800 });
  await page.screenshot({ path: join(screenshots, 'dashboard-domain.png') });
  // Readable on a phone: the page itself does not scroll sideways; wide tables scroll in their own box.
  await page.setViewportSize({ width: 390, height: 844 });
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
  assert.deepEqual(problems, []);
  await context.close();
  for (const name of ['dashboard-overview.png', 'dashboard-domain.png']) {
    const png = await readFile(join(screenshots, name));
    assert.equal(png.subarray(1, 4).toString(), 'PNG', name);
  }
});

test('the live view receives a fetch made during the test; a <script> user agent is shown as text, runs nothing', async () => {
  const context = await loggedIn();
  const page = await context.newPage();
  const problems = watch(page);
  await page.goto(`http://127.0.0.1:${demo.adminPort}/live`);
  await page.getByText('Connected').waitFor();
  const fetched = await fetchPolicy({
    port: demo.running.httpsPort,
    host: 'mta-sts.example.com',
    ca: demo.ca.pem,
    headers: { 'user-agent': HOSTILE_USER_AGENT },
  });
  assert.equal(fetched.status, 200);
  const cell = page.locator('td.user-agent', { hasText: 'alert("ua")' }).first();
  await cell.waitFor({ timeout: 10_000 });
  assert.equal(await cell.textContent(), HOSTILE_USER_AGENT);
  assert.equal(await page.locator('#live-fetches script, #live-fetches img').count(), 0);
  assert.deepEqual(problems, []);
  // Drawn by the server this time, from the ring of latest fetches: still text. The reload ends the
  // old page's event stream, which Chromium reports as an aborted request: that one is expected.
  await page.reload();
  await page.getByText('Connected').waitFor();
  assert.equal(await page.locator('td.user-agent').first().textContent(), HOSTILE_USER_AGENT);
  assert.equal(await page.locator('#live-fetches script, #live-fetches img').count(), 0);
  assert.deepEqual(problems, [`failed: http://127.0.0.1:${demo.adminPort}/api/fetches/live net::ERR_ABORTED`]);
  await context.close();
});

test('1 000 domains: the overview renders (timing reported, not asserted)', async (t) => {
  const big = await startDashboardDemo({ generatedDomains: 1_000 });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const problems = watch(page);
    const started = performance.now();
    await page.goto(`http://127.0.0.1:${big.adminPort}/`, { waitUntil: 'load' });
    const loadedMs = performance.now() - started;
    const navigation = await page.evaluate(() => {
      const [entry] = performance.getEntriesByType('navigation') as PerformanceNavigationTiming[];
      return { responseEnd: entry!.responseEnd, loadEventEnd: entry!.loadEventEnd };
    });
    const total = 1_000 + DEMO_DOMAINS.length + 1;
    assert.equal(await page.locator('#overview tbody tr').count(), 100);
    assert.equal(await page.locator('#shown-count').textContent(), '1 004 domains; 1–100 shown');
    // Two sorts by domain (descending after ascending), each a page drawn by the service, timed to its load event.
    const domainHeader = page.getByRole('link', { name: 'Domain', exact: true });
    const sortStarted = performance.now();
    await Promise.all([page.waitForURL(/order=asc$/, { waitUntil: 'load' }), domainHeader.click()]);
    await Promise.all([page.waitForURL(/order=desc$/, { waitUntil: 'load' }), domainHeader.click()]);
    const sortMs = performance.now() - sortStarted;
    assert.equal(await page.locator('#overview tbody tr td a').first().textContent(), RETIRING_DOMAIN);
    // The last page holds the rest, in the same order.
    await Promise.all([page.waitForURL(/page=11$/), page.getByRole('link', { name: 'Last' }).click()]);
    assert.equal(await page.locator('#overview tbody tr').count(), total - 1_000);
    assert.equal(await page.locator('#shown-count').textContent(), '1 004 domains; 1 001–1 004 shown');
    const report =
      `overview of ${total} domains, first page of 100: load event after ${navigation.loadEventEnd.toFixed(0)} ms ` +
      `(HTML received after ${navigation.responseEnd.toFixed(0)} ms; ${loadedMs.toFixed(0)} ms as the test saw it); two sorts ${sortMs.toFixed(0)} ms to their pages' load events`;
    t.diagnostic(report);
    console.log(report);
    assert.deepEqual(problems, []);
    await context.close();
  } finally {
    await big.stop();
  }
});
