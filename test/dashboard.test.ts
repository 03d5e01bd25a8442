import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { DashboardSources } from '../src/dashboard/dashboard-sources.js';
import { LiveFetches } from '../src/fetches/live-fetches.js';
import type { PolicyFetch } from '../src/fetches/fetch-log.js';
import { ProviderClassifier, SHIPPED_PROVIDERS_FILE } from '../src/fetches/providers.js';
import type { DomainCheck } from '../src/health/domain-check.js';
import { createLogger } from '../src/log/logger.js';
import { ServiceMetrics } from '../src/metrics/service-metrics.js';
import { buildAdminApp } from '../src/server/admin-app.js';
import { policies } from './support/apps.js';
import { msUntil } from './support/deadline.js';
import { LOOPBACK_LISTEN, startTestService } from './support/service.js';

const TOKEN = 'dashboard-token-0123456789';
const HOSTILE = '<script>alert(1)</script>';

function policyFetch(overrides: Partial<PolicyFetch> = {}): PolicyFetch {
  return {
    host: 'mta-sts.example.com',
    domain: 'example.com',
    ip: '192.0.2.1',
    ua: 'Google-SMTP-STS',
    method: 'GET',
    status: 200,
    policyId: 'abc',
    tls: 'TLSv1.3',
    responseMs: 1,
    ...overrides,
  };
}

/** The admin app over two domains, with stores that cannot be opened (as with statistics off) unless a test gives its own. */
async function adminApp(options: { token?: string; live?: LiveFetches; checks?: DomainCheck[] } = {}) {
  const set = policies();
  const live = options.live ?? new LiveFetches(10, 2);
  const classifier = await ProviderClassifier.fromFiles([SHIPPED_PROVIDERS_FILE]);
  const sources: DashboardSources = {
    policies: () => set,
    classifier: () => classifier,
    certificateFor: () => undefined,
    certificateRow: async (host) => ({
      host,
      issuer: null,
      not_after: null,
      days_left: null,
      next_renewal: null,
      last_error: null,
    }),
    openFetchStatistics: () => Promise.reject(new Error('statistics are off')),
    openTlsReportStore: () => Promise.reject(new Error('no TLS reports yet')),
    healthChecks: () => (options.checks ?? []).map((report) => ({ checkedAt: new Date('2026-12-01T10:00:00Z'), report })),
    receivers: { smtp: false, https: false },
    live,
  };
  const app = await buildAdminApp({
    logger: createLogger('silent'),
    metrics: new ServiceMetrics({ policies: () => set, certificateFor: () => undefined }),
    token: options.token,
    dashboard: sources,
  });
  return { app, live };
}

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('with a token: HTTP Basic (any user name, the token as password) and Bearer get in; nothing else does, and 401 asks for Basic', async () => {
  const { app } = await adminApp({ token: TOKEN });
  for (const authorization of [basic('admin', TOKEN), basic('', TOKEN), `Bearer ${TOKEN}`, `bearer ${TOKEN}`]) {
    for (const url of ['/', '/api/domains', '/metrics']) {
      const answer = await app.inject({ url, headers: { authorization } });
      assert.equal(answer.statusCode, 200, `${authorization} ${url}`);
    }
  }
  const refusals = [
    undefined,
    basic('admin', 'wrong-token-0123456789x'),
    basic(TOKEN, ''),
    `Basic ${Buffer.from(TOKEN).toString('base64')}`,
    `Bearer ${TOKEN}x`,
    TOKEN,
    `Digest ${TOKEN}`,
  ];
  for (const authorization of refusals) {
    for (const url of ['/', '/domains/example.com', '/api/domains', '/api/fetches/live', '/assets/dashboard.js']) {
      const answer = await app.inject({ url, headers: authorization === undefined ? {} : { authorization } });
      assert.equal(answer.statusCode, 401, `${authorization} ${url}`);
      assert.equal(answer.headers['www-authenticate'], 'Basic realm="mta-sts-server"');
      assert.equal(answer.body, '401 unauthorized\n');
    }
  }
});

test('a token with spaces works as Bearer and as Basic password', async () => {
  const spaced = 'a token with spaces 0123';
  const { app } = await adminApp({ token: spaced });
  for (const authorization of [`Bearer ${spaced}`, basic('admin', spaced)]) {
    assert.equal((await app.inject({ url: '/api/domains', headers: { authorization } })).statusCode, 200, authorization);
  }
  assert.equal((await app.inject({ url: '/api/domains', headers: { authorization: `Bearer ${spaced} ` } })).statusCode, 401);
});

test('without a token (loopback): the pages and the API answer without credentials', async () => {
  const { app } = await adminApp();
  assert.equal((await app.inject({ url: '/' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/api/domains' })).statusCode, 200);
});

test('the overview takes q, sort, order and page from its address; anything else in them is 400 naming the parameter', async () => {
  const { app } = await adminApp();
  const filtered = await app.inject({ url: '/?q=EXAMPLE.ORG&sort=fetches&order=desc&page=1' });
  assert.equal(filtered.statusCode, 200);
  assert.deepEqual(
    [...filtered.body.matchAll(/<tr><td><a href="\/domains\/([^"]+)">/g)].map((match) => match[1]),
    ['example.org'],
  );
  for (const [query, named] of [
    ['sort=bogus', 'querystring/sort'],
    ['order=up', 'querystring/order'],
    ['page=0', 'querystring/page'],
    ['page=two', 'querystring/page'],
    [`q=${'x'.repeat(254)}`, 'querystring/q'],
  ]) {
    const refused = await app.inject({ url: `/?${query}` });
    assert.equal(refused.statusCode, 400, query);
    assert.match(JSON.parse(refused.body).message, new RegExp(`^${named} `), query);
  }
});

test('pages: a strict Content-Security-Policy, no inline script or style, the two assets from the package', async () => {
  const { app } = await adminApp();
  for (const url of ['/', '/domains/example.com', '/live']) {
    const page = await app.inject({ url });
    assert.equal(page.statusCode, 200, url);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(
      page.headers['content-security-policy'],
      "default-src 'none';script-src 'self';style-src 'self';img-src 'self' data:;connect-src 'self';base-uri 'none';form-action 'self';frame-ancestors 'none'",
    );
    assert.match(page.body, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    assert.deepEqual(page.body.match(/<script[^>]*>/g), ['<script src="/assets/dashboard.js" defer>'], url);
    assert.doesNotMatch(page.body, /<style|\sstyle=|\son[a-z]+=/i, url);
    assert.doesNotMatch(page.body, /https?:\/\/(?!127\.)/, url);
  }
  const script = await app.inject({ url: '/assets/dashboard.js' });
  assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.match(script.body, /EventSource/);
  const style = await app.inject({ url: '/assets/dashboard.css' });
  assert.equal(style.headers['content-type'], 'text/css; charset=utf-8');
  assert.match(style.body, /--ok: #009E73/);
});

test('outside text is escaped everywhere: a user agent and a Host on the live page, a check message, a name in a 404', async () => {
  const live = new LiveFetches(10, 2);
  live.attributed(policyFetch({ ua: HOSTILE }), { provider: 'unknown', claimed: false });
  live.attributed(policyFetch({ host: `mta-sts.${HOSTILE}`, domain: null, status: 421, policyId: null, ua: '"><img src=x>' }), {
    provider: 'unknown',
    claimed: false,
  });
  const check: DomainCheck = {
    domain: 'example.com',
    mode: 'enforce',
    status: 'fail',
    checks: [{ id: 'sts_txt', status: 'fail', message: `the TXT record is ${HOSTILE}`, details: {} }],
  };
  const { app } = await adminApp({ live, checks: [check] });

  const livePage = (await app.inject({ url: '/live' })).body;
  assert.ok(livePage.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), livePage);
  assert.ok(livePage.includes('mta-sts.&lt;script&gt;'));
  assert.ok(livePage.includes('&quot;&gt;&lt;img src=x&gt;'));
  const domainPage = (await app.inject({ url: '/domains/example.com' })).body;
  assert.ok(domainPage.includes('the TXT record is &lt;script&gt;alert(1)&lt;/script&gt;'));
  const missing = await app.inject({ url: `/domains/${encodeURIComponent(HOSTILE)}` });
  assert.equal(missing.statusCode, 404);
  assert.ok(missing.body.includes('&lt;script&gt;alert(1)&lt;/script&gt; is not a domain this service serves'));
  for (const body of [livePage, domainPage, missing.body]) assert.doesNotMatch(body, /<script>|<img/);
  // The API gives the text as it came, as JSON: a script reading it decides how to show it.
  const api = JSON.parse((await app.inject({ url: '/api/fetches' })).body) as { fetches: { user_agent: string }[] };
  assert.equal(api.fetches[0]!.user_agent, HOSTILE);
});

test('a domain not served is 404 on its page and in the API; a served one is found in any case', async () => {
  const { app } = await adminApp();
  assert.equal((await app.inject({ url: '/domains/example.net' })).statusCode, 404);
  assert.equal((await app.inject({ url: '/domains/not..a.name' })).statusCode, 404);
  const api = await app.inject({ url: '/api/domains/example.net' });
  assert.equal(api.statusCode, 404);
  assert.deepEqual(JSON.parse(api.body), { error: 'not a domain this service serves' });
  const found = JSON.parse((await app.inject({ url: '/api/domains/Example.COM' })).body) as {
    domain: string;
    policy_text: string;
  };
  assert.equal(found.domain, 'example.com');
  assert.match(found.policy_text, /^version: STSv1\r\nmode: enforce\r\n/);
});

test('stores that cannot be read: the overview says why and shows the rest', async () => {
  const { app } = await adminApp();
  const overview = JSON.parse((await app.inject({ url: '/api/domains' })).body) as {
    statistics_problem: string;
    reports_problem: string;
    domains: { domain: string; fetches: number | null; tls_failed_sessions: number | null; mode: string }[];
  };
  assert.equal(overview.statistics_problem, 'statistics are off');
  assert.equal(overview.reports_problem, 'no TLS reports yet');
  assert.deepEqual(
    overview.domains.map((row) => [row.domain, row.mode, row.fetches, row.tls_failed_sessions]),
    [
      ['example.com', 'enforce', null, null],
      ['example.org', 'testing', null, null],
    ],
  );
  assert.match((await app.inject({ url: '/' })).body, /not shown<\/span> statistics are off/);
});

test('the live feed keeps the last fetches in a bounded ring and feeds a bounded number of listeners', () => {
  const live = new LiveFetches(3, 2);
  for (let index = 1; index <= 5; index++)
    live.attributed(policyFetch({ ip: `192.0.2.${index}` }), { provider: 'google', claimed: false });
  assert.deepEqual(
    live.latest().map((fetch) => fetch.ip),
    ['192.0.2.3', '192.0.2.4', '192.0.2.5'],
  );
  const heard: string[] = [];
  const first = live.listen((fetch) => heard.push(`a ${fetch.ip}`));
  const second = live.listen((fetch) => heard.push(`b ${fetch.ip}`));
  assert.ok(first && second);
  assert.equal(
    live.listen(() => undefined),
    undefined,
  );
  live.attributed(policyFetch({ ip: '192.0.2.6' }), { provider: 'google', claimed: true });
  first();
  live.attributed(policyFetch({ ip: '192.0.2.7' }), { provider: 'google', claimed: false });
  assert.deepEqual(heard, ['a 192.0.2.6', 'b 192.0.2.6', 'b 192.0.2.7']);
  assert.ok(live.listen(() => undefined));
});

test('server-sent events: a fetch reaches an open stream; one stream over the bound gets 503; closing the app ends the streams', async () => {
  const { app, live } = await adminApp({ live: new LiveFetches(10, 1) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const events: string[] = [];
  const ended = new Promise<void>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/api/fetches/live' }, (response) => {
      assert.equal(response.statusCode, 200);
      assert.equal(response.headers['content-type'], 'text/event-stream; charset=utf-8');
      response.setEncoding('utf8');
      response.on('data', (text: string) => events.push(text));
      response.on('end', resolve);
    })
      .on('error', reject)
      .end();
  });
  const deadline = Date.now() + 5_000;
  while (!events.join('').includes('retry: 3000') && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const refused = await fetch(`http://127.0.0.1:${port}/api/fetches/live`);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '60');
  live.attributed(policyFetch({ ua: HOSTILE }), { provider: 'unknown', claimed: false });
  while (!events.join('').includes('event: fetch') && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const [, data] = /event: fetch\ndata: (.*)\n\n/.exec(events.join(''))!;
  assert.equal((JSON.parse(data!) as { user_agent: string }).user_agent, HOSTILE);
  await app.close();
  await ended;
});

test('the service stops at once with a live view open: the stream ends, the stop does not wait for it', async () => {
  const running = await startTestService(`domains: { example.com: { mode: none } }\n${LOOPBACK_LISTEN}`);
  const port = running.service.listeners.adminAddress!.port;
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const ended = new Promise<void>((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/api/fetches/live' }, (response) => {
      assert.equal(response.statusCode, 200);
      response.once('data', () => opened());
      response.on('end', resolve).resume();
    })
      .on('error', reject)
      .end();
  });
  await open;
  const stoppedMs = await msUntil(running.service.stop());
  assert.ok(stoppedMs < 2_000, `stopped after ${stoppedMs} ms`);
  await msUntil(ended, 1_000);
});
