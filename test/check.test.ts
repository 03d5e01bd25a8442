import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import { runChecks } from '../src/cli/check.js';
import { CHECK_IDS } from '../src/health/check-result.js';
import { cliInProcess, cliProcess } from './support/cli.js';
import { publishHealthyDomain, servedIds, startCheckSetup, type CheckSetup } from './support/check-setup.js';
import { selfSignedPair } from './support/test-ca.js';
import { rfcExampleReport } from './support/tls-reports.js';

/**
 * `mta-sts-server check` against real parts on loopback: the service serving the policies over
 * HTTPS, SMTP servers with and without STARTTLS, and a DNS server the tests write the records of.
 * One domain per case; the checks run once for all of them.
 */

const DAY_MS = 86_400_000;
/** --timeout: what a silent MX costs; long enough for a TLS handshake on a busy machine. */
const TIMEOUT_S = 4;
// Each MX behaviour on an address of its own, all on one port.
const GOOD = '127.0.0.10';
const NO_STARTTLS = '127.0.0.11';
const EXPIRED = '127.0.0.12';
const SELF_SIGNED = '127.0.0.13';
const WILDCARD = '127.0.0.14';
const SILENT = '127.0.0.15';

const DOMAINS = `  good.example: { mode: enforce, mx: [mx.good.example] }
  stale.example: { mode: testing, mx: [mx.stale.example] }
  alias.example: { mode: enforce, mx: [mx.good.example] }
  missing.example: { mode: enforce, mx: [mx.good.example] }
  two.example: { mode: enforce, mx: [mx.good.example] }
  uncovered.example: { mode: enforce, mx: [mx1.uncovered.example] }
  trial.example: { mode: testing, mx: [mx1.trial.example, mx9.trial.example] }
  deep.example: { mode: enforce, mx: ["*.deep.example"] }
  notls.example: { mode: enforce, mx: [mx.notls.example] }
  mismatch.example: { mode: enforce, mx: [mx.mismatch.example] }
  expired.example: { mode: enforce, mx: [mx.expired.example] }
  selfsigned.example: { mode: enforce, mx: [mx.selfsigned.example] }
  silent.example: { mode: enforce, mx: [mx.silent.example] }
  ending.example: { mode: testing, mx: [mx.good.example] }
  ready.example: { mode: testing, mx: [mx.good.example] }
`;

let setup: CheckSetup;
let report: { checked_at: string; domains: DomainJson[] };
let text: string;
let exitCode: number;
let seconds: number;

interface CheckJson {
  id: string;
  status: string;
  message: string;
  details: Record<string, unknown>;
}
interface DomainJson {
  domain: string;
  mode: string;
  status: string;
  checks: CheckJson[];
  enforce_readiness: { ready: boolean; blockers: string[] } | null;
  retired: boolean;
  delete_after: string | null;
}

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function check(args: Parameters<typeof runChecks>[1]) {
  const out = new Sink();
  const err = new Sink();
  const code = await runChecks(setup.args[1]!, args, out, err);
  return { code, stdout: out.text, stderr: err.text };
}

const flags = () => ({
  resolver: `127.0.0.1:${setup.dns.port}`,
  caFile: setup.caPath,
  smtpPort: String(setup.smtpPort),
  httpsPort: String(setup.running.httpsPort),
});

before(async () => {
  setup = await startCheckSetup(
    DOMAINS,
    async (ca) => [
      {
        address: GOOD,
        tls: await ca.issue([
          'mx.good.example',
          'mx.stale.example',
          'mx1.uncovered.example',
          'mx2.uncovered.example',
          'mx1.trial.example',
          'mx2.trial.example',
        ]),
      },
      { address: NO_STARTTLS },
      {
        address: EXPIRED,
        tls: await ca.issue(['mx.expired.example'], {
          notBefore: new Date(Date.now() - 100 * DAY_MS),
          notAfter: new Date(Date.now() - DAY_MS),
        }),
      },
      { address: SELF_SIGNED, tls: await selfSignedPair(['mx.selfsigned.example']) },
      { address: WILDCARD, tls: await ca.issue(['*.deep.example']) },
    ],
    [SILENT],
  );
  const good = (host: string) => ({ host, address: GOOD });
  publishHealthyDomain(setup, 'good.example', [good('mx.good.example')]);
  publishHealthyDomain(setup, 'stale.example', [good('mx.stale.example')]);
  setup.dns.setTxt('_mta-sts.stale.example', ['v=STSv1; id=20240101000000']);
  // The STS record through a CNAME, as a DNS host that keeps records of many domains does it.
  publishHealthyDomain(setup, 'alias.example', [good('mx.good.example')]);
  setup.dns.remove('_mta-sts.alias.example');
  setup.dns.setCname('_mta-sts.alias.example', '_mta-sts.records.example');
  setup.dns.setTxt('_mta-sts.records.example', ['v=spf1 -all', `v=STSv1; id=${setup.ids.get('alias.example')};`]);
  publishHealthyDomain(setup, 'missing.example', [good('mx.good.example')]);
  setup.dns.remove('_mta-sts.missing.example');
  setup.dns.remove('_smtp._tls.missing.example');
  publishHealthyDomain(setup, 'two.example', [good('mx.good.example')]);
  setup.dns.setTxt('_mta-sts.two.example', [`v=STSv1; id=${setup.ids.get('two.example')}`, 'v=STSv1; id=older']);
  publishHealthyDomain(setup, 'uncovered.example', [good('mx1.uncovered.example'), good('mx2.uncovered.example')]);
  publishHealthyDomain(setup, 'trial.example', [good('mx1.trial.example'), good('mx2.trial.example')]);
  publishHealthyDomain(setup, 'deep.example', [
    { host: 'c.deep.example', address: WILDCARD },
    { host: 'a.b.deep.example', address: WILDCARD },
  ]);
  publishHealthyDomain(setup, 'notls.example', [{ host: 'mx.notls.example', address: NO_STARTTLS }]);
  publishHealthyDomain(setup, 'mismatch.example', [good('mx.mismatch.example')]);
  publishHealthyDomain(setup, 'expired.example', [{ host: 'mx.expired.example', address: EXPIRED }]);
  publishHealthyDomain(setup, 'selfsigned.example', [{ host: 'mx.selfsigned.example', address: SELF_SIGNED }]);
  publishHealthyDomain(setup, 'silent.example', [{ host: 'mx.silent.example', address: SILENT }]);
  // ending.example served testing; now mode none by hand: its records can go once testing leaves the caches.
  const configPath = setup.args[1]!;
  await writeFile(
    configPath,
    (await readFile(configPath, 'utf8')).replace(
      'ending.example: { mode: testing, mx: [mx.good.example] }',
      'ending.example: { mode: none }',
    ),
  );
  await setup.running.service.reload();
  setup.ids = await servedIds(configPath);
  publishHealthyDomain(setup, 'ending.example', []);
  publishHealthyDomain(setup, 'ready.example', [good('mx.good.example')]);
  // A TLS report for stale.example with failures enforce would bounce, stored as `reports import` stores it.
  const reportPath = join(setup.running.dir, 'report.json');
  await writeFile(
    reportPath,
    JSON.stringify(rfcExampleReport({ domain: 'stale.example', day: new Date().toISOString().slice(0, 10) })),
  );
  const imported = await cliInProcess(['reports', 'import', '--config', setup.args[1]!, reportPath]);
  assert.equal(imported.code, 0, imported.stderr);

  const started = Date.now();
  const json = await check({ ...flags(), json: true, timeout: String(TIMEOUT_S) });
  seconds = (Date.now() - started) / 1000;
  exitCode = json.code;
  report = JSON.parse(json.stdout);
  text = (await check({ ...flags(), json: false, timeout: String(TIMEOUT_S) })).stdout;
});

after(() => setup?.stop());

const domain = (name: string) => report.domains.find((entry) => entry.domain === name)!;
const result = (name: string, id: string) => domain(name).checks.find((entry) => entry.id === id)!;
const statuses = (name: string) => Object.fromEntries(domain(name).checks.map((entry) => [entry.id, entry.status]));

test('--json: checked_at, and per domain its mode, worst status and the eight checks in their fixed order', () => {
  assert.deepEqual(Object.keys(report), ['checked_at', 'domains']);
  assert.ok(!Number.isNaN(Date.parse(report.checked_at)));
  assert.equal(report.domains.length, 15);
  for (const entry of report.domains) {
    assert.deepEqual(Object.keys(entry), ['domain', 'mode', 'status', 'checks', 'enforce_readiness', 'retired', 'delete_after']);
    assert.deepEqual(
      entry.checks.map((item) => item.id),
      [...CHECK_IDS],
    );
    for (const item of entry.checks) assert.deepEqual(Object.keys(item), ['id', 'status', 'message', 'details']);
    const worst = entry.checks.some((item) => item.status === 'fail')
      ? 'fail'
      : entry.checks.some((item) => item.status === 'warn')
        ? 'warn'
        : 'ok';
    assert.equal(entry.status, worst, entry.domain);
  }
  assert.equal(exitCode, 1, 'a check failed');
});

test('a domain that does everything right: every check ok', () => {
  assert.deepEqual(
    statuses('good.example'),
    Object.fromEntries(CHECK_IDS.map((id) => [id, 'ok'])),
    JSON.stringify(domain('good.example').checks, null, 1),
  );
  assert.equal(domain('good.example').enforce_readiness, null, 'readiness is for testing domains');
  assert.match(result('good.example', 'policy_fetch').message, /mode enforce, the served policy/);
  assert.match(result('good.example', 'policy_certificate').message, /^8[89] days left/);
});

test('sts_txt: missing, two v=STSv1 records, and a record found through a CNAME', () => {
  assert.equal(result('missing.example', 'sts_txt').status, 'fail');
  assert.match(
    result('missing.example', 'sts_txt').message,
    /no TXT record at _mta-sts\.missing\.example: senders see no MTA-STS policy; publish _mta-sts\.missing\.example\. 3600 IN TXT "v=STSv1; id=/,
  );
  assert.equal(result('two.example', 'sts_txt').status, 'fail');
  assert.match(result('two.example', 'sts_txt').message, /2 TXT records begin with v=STSv1/);
  assert.equal(result('alias.example', 'sts_txt').status, 'ok');
  assert.equal(result('alias.example', 'sts_txt_id').status, 'ok');
});

test('sts_txt_id: a stale id names both ids and the record to publish', () => {
  const stale = result('stale.example', 'sts_txt_id');
  const served = setup.ids.get('stale.example')!;
  assert.equal(stale.status, 'fail');
  assert.equal(
    stale.message,
    `the record's id 20240101000000 is not the served policy's ${served}: senders keep their cached policy; publish _mta-sts.stale.example. 3600 IN TXT "v=STSv1; id=${served}"`,
  );
  assert.equal(result('stale.example', 'sts_txt').status, 'ok');
});

test('mx_covered: an MX in no pattern fails under enforce, warns under testing; a wildcard covers one label only', () => {
  const enforce = result('uncovered.example', 'mx_covered');
  assert.equal(enforce.status, 'fail');
  assert.match(
    enforce.message,
    /^mx2\.uncovered\.example is in no mx pattern \(mx1\.uncovered\.example\): senders that enforce refuse/,
  );
  const testing = result('trial.example', 'mx_covered');
  assert.equal(testing.status, 'warn');
  assert.deepEqual(testing.details.uncovered, ['mx2.trial.example']);
  assert.deepEqual(testing.details.unused_patterns, ['mx9.trial.example']);
  // RFC 8461 §4.1: *.deep.example covers c.deep.example, not a.b.deep.example.
  const deep = result('deep.example', 'mx_covered');
  assert.equal(deep.status, 'fail');
  assert.deepEqual(deep.details.uncovered, ['a.b.deep.example']);
});

test('mx_starttls: each MX separately; not offered, name mismatch (one-label wildcard), expired, self-signed, silent', () => {
  const hosts = (name: string) =>
    result(name, 'mx_starttls').details.hosts as { host: string; status: string; message: string }[];
  assert.deepEqual(
    hosts('good.example').map((host) => [host.host, host.status]),
    [['mx.good.example', 'ok']],
  );
  assert.match(hosts('notls.example')[0]!.message, /ehlo: STARTTLS is not offered/);
  assert.match(
    hosts('mismatch.example')[0]!.message,
    /^the certificate is not valid for mx\.mismatch\.example \(its names: mx\.good\.example, /,
  );
  assert.deepEqual(
    hosts('deep.example').map((host) => [host.host, host.status, host.message]),
    [
      ['c.deep.example', 'ok', hosts('deep.example')[0]!.message],
      ['a.b.deep.example', 'fail', 'the certificate is not valid for a.b.deep.example (its names: *.deep.example)'],
    ],
  );
  assert.equal(hosts('expired.example')[0]!.message, 'the certificate has expired');
  assert.equal(hosts('selfsigned.example')[0]!.message, 'the certificate is self-signed');
  assert.match(hosts('silent.example')[0]!.message, /greeting: no answer within 4000 ms/);
  for (const name of ['notls.example', 'mismatch.example', 'expired.example', 'selfsigned.example', 'silent.example']) {
    assert.equal(result(name, 'mx_starttls').status, 'fail', name);
  }
  // Everything runs side by side: the silent MX's timeout is the longest wait, the rest is work.
  assert.ok(seconds < 3 * TIMEOUT_S, `all 15 domains in ${seconds} s: a silent MX costs its timeout, no more`);
});

test('tlsrpt_txt: missing is a warning', () => {
  assert.equal(result('missing.example', 'tlsrpt_txt').status, 'warn');
  assert.equal(result('good.example', 'tlsrpt_txt').message, 'v=TLSRPTv1; rua=mailto:tlsrpt@good.example');
});

test('enforce readiness: uncovered MX and blocking failures in stored TLS reports; ready when neither', () => {
  assert.deepEqual(domain('trial.example').enforce_readiness, {
    ready: false,
    blockers: ['MX mx2.trial.example is in no mx pattern'],
  });
  assert.deepEqual(domain('stale.example').enforce_readiness, {
    ready: false,
    blockers: [
      'TLS reports: starttls-not-supported at mx2.mail.stale.example: 200 sessions',
      'TLS reports: certificate-expired at mx1.mail.stale.example: 100 sessions',
      'TLS reports: validation-failure at mx-backup.mail.stale.example: 3 sessions',
    ],
  });
  assert.deepEqual(domain('ready.example').enforce_readiness, { ready: true, blockers: [] });
  assert.match(text, /stale\.example: FAIL \(mode testing, policy id [0-9a-f]+\)/);
  assert.match(text, / {2}Enforce readiness: not ready\n {4}- MX mx2\.trial\.example is in no mx pattern\n/);
  assert.match(
    text,
    /\nready\.example: OK \(mode testing, [^\n]+\n(?: {2}[^\n]+\n){10} {2}Enforce readiness: ready \(every MX covered, with valid STARTTLS; no blocking failures in stored TLS reports\)\n/,
  );
});

test('mode none set by hand: the date after which the records can be deleted, as dns prints it', async () => {
  const ending = domain('ending.example');
  assert.equal(ending.mode, 'none');
  assert.equal(ending.status, 'ok', JSON.stringify(ending.checks, null, 1));
  assert.ok(ending.delete_after !== null);
  const line = text.split('\n').find((row) => row.includes('safe to delete after'))!;
  const dns = await cliInProcess(['dns', '--config', setup.args[1]!, '--domain', 'ending.example']);
  assert.ok(dns.stdout.includes(line.trim()), `${line} in\n${dns.stdout}`);
});

test('the table: a row per check, a row per MX under mx_starttls', () => {
  assert.match(text, /^Checked at \d{4}-\d\d-\d\d \d\d:\d\d UTC, DNS through 127\.0\.0\.1:\d+\n/);
  assert.match(
    text,
    /\ndeep\.example: FAIL \(mode enforce, policy id [0-9a-f]+\)\n {2}CHECK +STATUS +RESULT\n {2}sts_txt +ok +v=STSv1; id=/,
  );
  assert.match(
    text,
    /\n {2}mx_starttls +fail +1 of 2 MX hosts with a problem: a\.b\.deep\.example\n {4}c\.deep\.example +ok +STARTTLS, certificate valid for 8[89] more days\n {4}a\.b\.deep\.example +fail/,
  );
});

test('a resolver that never answers: each check fails with the timeout, in bounded time', async () => {
  setup.dns.setBlackHole(true);
  try {
    const started = Date.now();
    const run = await check({ ...flags(), json: true, timeout: '0.3', domain: 'good.example' });
    const elapsed = Date.now() - started;
    assert.equal(run.code, 1);
    const checks = (JSON.parse(run.stdout) as typeof report).domains[0]!.checks;
    assert.match(checks[0]!.message, /^no DNS answer for _mta-sts\.good\.example within 300 ms/);
    assert.equal(
      checks.find((item) => item.id === 'policy_host_dns')!.message,
      'no DNS answer for mta-sts.good.example within 300 ms: senders cannot fetch the policy',
    );
    assert.ok(elapsed < 3_000, `${elapsed} ms`);
  } finally {
    setup.dns.setBlackHole(false);
  }
});

test('exit codes as a process: 0 when nothing failed, 1 when a check failed, 2 for bad arguments or config', async () => {
  const good = await cliProcess(['check', ...setup.args, '--domain', 'good.example', '--json']);
  assert.equal(good.code, 0, good.stderr);
  assert.equal((JSON.parse(good.stdout) as typeof report).domains[0]!.status, 'ok');
  const failing = await cliProcess(['check', ...setup.args, '--domain', 'stale.example']);
  assert.equal(failing.code, 1, failing.stderr);
  const bad = await cliProcess(['check', ...setup.args, '--smtp-port', '0', '--timeout', 'soon', '--resolver', 'dns.example']);
  assert.equal(bad.code, 2);
  assert.equal(
    bad.stderr,
    '--resolver dns.example is not a DNS server address; write IP or IP:PORT ([IPv6]:PORT)\n' +
      '--smtp-port 0 is not a port number (1 to 65535)\n' +
      '--timeout soon is not a number of seconds from 0.1 to 300\n',
  );
  const unknown = await cliInProcess(['check', ...setup.args, '--domain', 'nowhere.example']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, `nowhere.example is not a domain in ${setup.args[1]}\n`);
});

test('--help: the options, with what each is for', async () => {
  const help = await cliInProcess(['check', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: mta-sts-server check \[options\]\n/);
  for (const option of [
    '--domain NAME',
    '--json',
    '--resolver IP\\[:PORT\\]',
    '--ca-file PEM',
    '--smtp-port N',
    '--https-port N',
    '--timeout S',
  ]) {
    assert.match(help.stdout, new RegExp(`\\n {6}${option} `));
  }
  assert.match((await cliInProcess(['--help'])).stdout, /\n {2}check +check each domain from the outside/);
});
