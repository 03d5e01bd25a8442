import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFetchLog, type PolicyFetch } from '../src/fetches/fetch-log.js';
import { ProviderClassifier } from '../src/fetches/providers.js';
import { jsonMilliseconds, jsonString } from '../src/log/log-line.js';
import { createLogger } from '../src/log/logger.js';
import { loggable } from '../src/text/printable.js';
import { googleFetch } from './support/policy-fetches.js';

// The policy_fetch line is written from JSON text built per request rather than by pino's
// log.info(object): byte for byte what pino writes for the README's fields, whatever a client sends.

const classifier = ProviderClassifier.fromData(
  {
    providers: {
      google: { name: 'Google', user_agents: ['^Google-SMTP-STS'], ranges: ['209.85.128.0/17'], ptr_domains: ['google.com'] },
    },
  },
  'test providers',
);

/** Every line written to it, as text. */
function rawLines() {
  const lines: string[] = [];
  return { lines, write: (line: string) => void lines.push(line) };
}

const fetch = (overrides: Partial<PolicyFetch>): PolicyFetch =>
  googleFetch({ policyId: '20261201T000000', responseMs: 0.012_345_6, ...overrides });

const FETCHES: PolicyFetch[] = [
  fetch({}),
  // A claim the address does not back, from an address no range covers.
  fetch({ ip: '198.51.100.7', ua: 'Google-SMTP-STS/1.0 (like nobody)' }),
  // Nothing for a host we do not serve, over plain HTTP.
  fetch({ host: 'mta-sts.other.example', domain: null, policyId: null, status: 404, tls: null, method: 'HEAD' }),
  // What JSON must escape, what a terminal acts on, text beyond the bound, and text that is not ASCII.
  fetch({ ua: 'quote " backslash \\ tab \t newline \n esc \u001b[31m csi \u009b bidi \u202e' }),
  fetch({ ua: `ünïcödé ☃ 🚀 ${'x'.repeat(300)}`, host: 'mta-sts.xn--bcher-kva.example' }),
  fetch({ ip: '2001:db8::1', responseMs: 12.3456789, status: 405, method: 'DELETE', policyId: null }),
];

test('policy_fetch lines are the bytes pino writes for the same fields, time aside', () => {
  const written = rawLines();
  const record = createFetchLog(createLogger('info', written), () => classifier);
  const byPino = rawLines();
  const pinoLog = createLogger('info', byPino);
  for (const one of FETCHES) {
    record(one);
    const verdict = classifier.classify(one.ip, one.ua);
    // The README's fields, in its order.
    pinoLog.info({
      event: 'policy_fetch',
      domain: one.domain,
      host: loggable(one.host),
      ip: one.ip,
      ua: loggable(one.ua),
      provider: verdict.provider,
      provider_evidence: verdict.evidence,
      provider_claimed: verdict.claimed ?? null,
      method: one.method,
      status: one.status,
      policy_id: one.policyId,
      tls: one.tls,
      response_ms: Math.round(one.responseMs * 1000) / 1000,
    });
  }
  const withoutTime = (line: string) => line.replace(/"time":"[^"]*"/, '"time":"T"');
  assert.equal(written.lines.length, FETCHES.length);
  assert.deepEqual(written.lines.map(withoutTime), byPino.lines.map(withoutTime));
  // The host and user agent were cut and escaped before they reached the line (src/text/printable.ts).
  const escaped = JSON.parse(written.lines[3]!) as { ua: string };
  assert.equal(escaped.ua, 'quote " backslash \\\\ tab \\u0009 newline \\u000a esc \\u001b[31m csi \\u009b bidi \\u202e');
  assert.match((JSON.parse(written.lines[4]!) as { ua: string }).ua, /^ünïcödé ☃ 🚀 x+…\(\+\d+\)$/);
});

test('policy_fetch lines follow the logger’s level, and need the service’s own logger', () => {
  const quiet = rawLines();
  const logger = createLogger('warn', quiet);
  const record = createFetchLog(logger, () => classifier);
  record(fetch({}));
  assert.deepEqual(quiet.lines, []);
  // A reload changes the level of the running logger.
  logger.level = 'info';
  record(fetch({}));
  assert.equal(quiet.lines.length, 1);
  // A child's bindings would belong in the line: it is refused rather than written without them.
  assert.throws(() => createFetchLog(logger.child({ listener: 'https' }), () => classifier), /made by createLogger/);
});

test('the line’s JSON text is what JSON.stringify writes, for every character and any duration', () => {
  const texts = [null, '', 'example.com', 'Google-SMTP-STS', '"', '\\', 'a"b\\c', '\u0000\u001f\u007f', 'ü', '☃', '🚀', '\ud800'];
  for (let code = 0; code <= 0xffff; code++) texts.push(`x${String.fromCharCode(code)}y`);
  for (const text of texts) assert.equal(jsonString(text), JSON.stringify(text), `${JSON.stringify(text)}`);
  const durations = [0, -0, 0.0004, 0.0005, 0.001, 0.0123456, 0.999, 1, 1.5, 12.3456789, 999.9995, 2_147_483.647, 2_147_483.648];
  for (let micros = 0; micros < 3_000_000; micros += 7) durations.push(micros / 1000, micros / 1000 + 0.000_4);
  durations.push(1e12, -1, Number.NaN, Number.POSITIVE_INFINITY);
  for (const ms of durations) assert.equal(jsonMilliseconds(ms), JSON.stringify(Math.round(ms * 1000) / 1000), `${ms}`);
});

test('a request like the one before: the same line but its own response time; anything else, or a new provider list, is judged again', () => {
  const written = rawLines();
  let providers = classifier;
  const record = createFetchLog(createLogger('info', written), () => providers);
  const fromGoogle = fetch({ ip: '209.85.128.5', ua: 'Google-SMTP-STS' });
  record(fromGoogle);
  record({ ...fromGoogle, responseMs: 1.5 });
  record({ ...fromGoogle, ua: 'curl/8' });
  record({ ...fromGoogle, ua: 'curl/8', status: 404, domain: null, policyId: null });
  providers = ProviderClassifier.fromData({ providers: {} }, 'no providers');
  record({ ...fromGoogle, ua: 'curl/8', status: 404, domain: null, policyId: null });
  const shown = written.lines.map((line) => {
    const { provider, provider_evidence, ua, status, response_ms } = JSON.parse(line) as Record<string, unknown>;
    return [provider, provider_evidence, ua, status, response_ms];
  });
  assert.deepEqual(shown, [
    ['google', 'ua+ip', 'Google-SMTP-STS', 200, 0.012],
    ['google', 'ua+ip', 'Google-SMTP-STS', 200, 1.5],
    ['google', 'ip', 'curl/8', 200, 0.012],
    ['google', 'ip', 'curl/8', 404, 0.012],
    ['unknown', 'none', 'curl/8', 404, 0.012],
  ]);
});
