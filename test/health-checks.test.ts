import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Writable } from 'node:stream';
import { runChecks } from '../src/cli/check.js';
import { DnsLookup } from '../src/health/dns-lookup.js';
import { checkPolicyHost } from '../src/health/policy-host-checks.js';
import { readStsRecord } from '../src/health/sts-record-checks.js';
import { trustAnchors } from '../src/health/tls-peer.js';
import { readTlsRptRecord } from '../src/health/tlsrpt-check.js';
import { parsePolicyText } from '../src/policy/policy-text.js';
import { renderPolicy } from '../src/policy/policy.js';
import { PolicySet, type ServedPolicy } from '../src/policy/policy-set.js';
import { parseMxPattern, type MxPattern } from '../src/policy/mx-pattern.js';
import { TestDnsServer } from './support/dns-server.js';
import { writeTestConfig } from './support/service.js';
import { TestCa } from './support/test-ca.js';

const DAY_MS = 86_400_000;
const mx = (text: string): MxPattern => (parseMxPattern(text) as { ok: true; pattern: MxPattern }).pattern;

test('sts record (RFC 8461 §3.1): one v=STSv1 record with one id of 1 to 32 letters and digits; extensions allowed', () => {
  assert.deepEqual(readStsRecord(['v=spf1 -all', 'v=STSv1; id=20240101T0000']), {
    ok: true,
    id: '20240101T0000',
    record: 'v=STSv1; id=20240101T0000',
  });
  assert.equal(readStsRecord(['v=STSv1;id=abc;']).ok, true, 'no space and a trailing ";" are allowed');
  assert.equal(readStsRecord(['v=STSv1; id=abc; ext_1=value']).ok, true, 'an extension is ignored');
  const problem = (values: string[]) => {
    const read = readStsRecord(values);
    return read.ok ? '' : read.problem;
  };
  assert.equal(problem(['v=STSv10; id=abc']), 'no TXT record begins with v=STSv1');
  assert.equal(
    problem([`v=STSv1; id=${'a'.repeat(33)}`]),
    `record v=STSv1; id=${'a'.repeat(33)}: field id=${'a'.repeat(33)} does not parse`,
  );
  assert.equal(problem(['v=STSv1; id=a; id=b']), 'record v=STSv1; id=a; id=b has more than one id (1 to 32 letters and digits)');
  assert.equal(problem(['v=STSv1']), 'record v=STSv1 has no id (1 to 32 letters and digits)');
  // A record is attacker input: a terminal escape in it is shown escaped, and cut.
  assert.equal(problem(['v=STSv1; id=\u001b[2J']), 'record v=STSv1; id=\\u001b[2J: field id=\\u001b[2J does not parse');
  assert.match(
    problem(['v=STSv1; id=a', `v=STSv1; id=${'b'.repeat(500)}`]),
    /^2 TXT records begin with v=STSv1 \(v=STSv1; id=a \| v=STSv1; id=b{188}…\(\+312\)\)/,
  );
});

test('TLSRPT record (RFC 8460 §3): one v=TLSRPTv1 record, rua of mailto: and https: URIs', () => {
  assert.deepEqual(readTlsRptRecord(['v=TLSRPTv1; rua=mailto:tls@example.com,https://reports.example.com/tlsrpt']), {
    ok: true,
    rua: ['mailto:tls@example.com', 'https://reports.example.com/tlsrpt'],
    record: 'v=TLSRPTv1; rua=mailto:tls@example.com,https://reports.example.com/tlsrpt',
  });
  const problem = (values: string[]) => {
    const read = readTlsRptRecord(values);
    return read.ok ? '' : read.problem;
  };
  assert.equal(
    problem(['v=TLSRPTv1; rua=ftp://example.com/x']),
    'record v=TLSRPTv1; rua=ftp://example.com/x: ftp://example.com/x is not a mailto: or https: URI',
  );
  assert.equal(problem(['v=TLSRPTv1;']), 'record v=TLSRPTv1; has no rua');
  assert.equal(
    problem(['v=TLSRPTv1; rua=mailto:a@example.com', 'v=TLSRPTv1; rua=mailto:b@example.com']),
    '2 TXT records begin with v=TLSRPTv1; senders ignore them all',
  );
});

test('policy text (RFC 8461 §3.2): what the service renders parses back; LF endings and unknown keys accepted; the rest named', () => {
  const policy = { mode: 'enforce' as const, mx: [mx('mail.example.com'), mx('*.mx.example.com')], maxAge: 604_800 };
  assert.deepEqual(parsePolicyText(renderPolicy(policy)), { ok: true, policy });
  assert.deepEqual(parsePolicyText('version: STSv1\nmode: none\nmax_age: 86400\nfuture_key: x\n'), {
    ok: true,
    policy: { mode: 'none', mx: [], maxAge: 86_400 },
  });
  const reason = (body: string) => {
    const parsed = parsePolicyText(body);
    return parsed.ok ? '' : parsed.reason;
  };
  assert.equal(reason('mode: enforce\nmx: a.example\nmax_age: 1\n'), 'version is not STSv1');
  assert.equal(
    reason('version: STSv1\nmode: enforced\nmx: a.example\nmax_age: 1\n'),
    'mode is not one of enforce, testing, none',
  );
  assert.equal(reason('version: STSv1\nmode: enforce\nmax_age: 1\n'), 'mode enforce names no mx');
  assert.equal(
    reason('version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n'),
    'max_age is not a number of seconds from 0 to 31557600',
  );
  assert.equal(
    reason('version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 1\n'),
    'mx "*.*.example.com" may use "*" only as the whole left-most label, as in "*.mail.example.com"',
  );
  assert.equal(reason('<html>\n'), 'line "<html>" is not "key: value"');
});

/** HTTPS servers on loopback, each answering the policy path its own way, with a certificate of its own. */
let ca: TestCa;
let dns: TestDnsServer;
const servers: Server[] = [];
const served: ServedPolicy = [
  ...new PolicySet([
    { name: 'example.com', policy: { mode: 'enforce', mx: [mx('mail.example.com')], maxAge: 86_400 }, tlsRptRua: [] },
  ]).policies,
][0]!;

before(async () => {
  ca = await TestCa.create();
  dns = await TestDnsServer.start();
  dns.setA('mta-sts.example.com', ['127.0.0.1']);
});

after(async () => {
  for (const server of servers) server.close();
  await dns.close();
});

async function policyServer(
  answer: { status?: number; type?: string; body?: string; location?: string },
  daysLeft = 90,
): Promise<number> {
  const pair = await ca.issue(['mta-sts.example.com'], { notAfter: new Date(Date.now() + daysLeft * DAY_MS + 3_600_000) });
  const server = createServer({ cert: pair.cert, key: pair.key }, (_request, response) => {
    response.writeHead(answer.status ?? 200, {
      'content-type': answer.type ?? 'text/plain',
      ...(answer.location && { location: answer.location }),
    });
    response.end(answer.body ?? served.body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

const environment = (httpsPort: number, publicAddresses: string[] = []) => ({
  dns: new DnsLookup([{ address: '127.0.0.1', port: dns.port }], 2_000),
  ca: trustAnchors([ca.pem]),
  httpsPort,
  smtpPort: 25,
  timeoutMs: 2_000,
  publicAddresses,
  ehloName: 'check.example',
  now: () => Date.now(),
});

const byId = async (port: number, answer?: Parameters<typeof policyServer>[0], publicAddresses?: string[]) => {
  const results = await checkPolicyHost(served, environment(answer ? await policyServer(answer) : port, publicAddresses));
  return Object.fromEntries(results.map((result) => [result.id, result]));
};

test('policy_fetch as a strict sender: a redirect, another media type, another body and a 404 each fail', async () => {
  const ok = await byId(0, {});
  assert.equal(ok.policy_fetch!.status, 'ok', ok.policy_fetch!.message);
  const cases: [Parameters<typeof policyServer>[0], RegExp][] = [
    [
      { status: 301, location: 'https://elsewhere.example/' },
      /HTTP 301: a redirect, which senders do not follow \(RFC 8461 §3\.3\)$/,
    ],
    [{ type: 'text/html' }, /media type "text\/html", not text\/plain$/],
    [
      { body: 'version: STSv1\r\nmode: testing\r\nmx: mail.example.com\r\nmax_age: 86400\r\n' },
      /is not the policy this service serves/,
    ],
    [{ status: 404 }, /HTTP 404, not 200$/],
  ];
  for (const [answer, message] of cases) {
    const result = (await byId(0, answer)).policy_fetch!;
    assert.equal(result.status, 'fail', JSON.stringify(answer));
    assert.match(result.message, message);
  }
});

test('policy_certificate: ok above 14 days, warn at 14 or fewer, fail below 3', async () => {
  for (const [days, status] of [
    [20, 'ok'],
    [10, 'warn'],
    [2, 'fail'],
  ] as const) {
    const result = (await checkPolicyHost(served, environment(await policyServer({}, days))))[2]!;
    assert.equal(result.id, 'policy_certificate');
    assert.equal(result.status, status, `${days} days: ${result.message}`);
    assert.equal(result.details.days_left, days);
  }
});

test('policy_host_dns warns when the policy host points at none of health.public_addresses', async () => {
  const port = await policyServer({});
  assert.equal((await byId(port, undefined, ['127.0.0.1'])).policy_host_dns!.status, 'ok');
  const elsewhere = (await byId(port, undefined, ['192.0.2.10'])).policy_host_dns!;
  assert.equal(elsewhere.status, 'warn');
  assert.equal(elsewhere.message, "mta-sts.example.com resolves to 127.0.0.1, none of this server's addresses (192.0.2.10)");
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

test('check takes health.resolver and health.public_addresses from the config when no option is given', async () => {
  const { dir, configPath } = await writeTestConfig('');
  await writeFile(
    configPath,
    `domains:\n  example.com: { mode: enforce, mx: [mail.example.com], max_age: 86400 }\nstate_dir: state\nhealth: { resolver: ["127.0.0.1:${dns.port}"], public_addresses: [192.0.2.10] }\n`,
  );
  const out = new Sink();
  const code = await runChecks(
    configPath,
    { json: false, timeout: '1', httpsPort: String(await policyServer({})), caFile: join(dir, 'none.pem') },
    out,
    new Sink(),
  );
  assert.equal(code, 2, 'an unreadable --ca-file is a bad argument');
  await writeFile(join(dir, 'ca.pem'), ca.pem);
  const run = await runChecks(
    configPath,
    { json: false, timeout: '1', httpsPort: String(await policyServer({})), caFile: join(dir, 'ca.pem') },
    out,
    new Sink(),
  );
  assert.equal(run, 1);
  assert.match(out.text, new RegExp(`^Checked at .*, DNS through 127\\.0\\.0\\.1:${dns.port}\\n`));
  assert.match(
    out.text,
    /\n {2}policy_host_dns +warn +mta-sts\.example\.com resolves to 127\.0\.0\.1, none of this server's addresses \(192\.0\.2\.10\)\n/,
  );
  assert.match(out.text, /\n {2}policy_fetch +ok /);
});
