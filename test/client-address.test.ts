import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { EXAMPLE_COM_POLICY, policyApp, TWO_DOMAINS } from './support/apps.js';
import { issueTestCertificate, type TestCertificate } from './support/certificates.js';
import { rawHttpsRequest } from './support/raw-client.js';
import { LOOPBACK_LISTEN, startTestService, writeTestConfig, type TestService } from './support/service.js';

const POLICY_PATH = '/.well-known/mta-sts.txt';
const PROXY = '10.0.0.1';
const TRUSTED = ['10.0.0.0/8', '2001:db8:ffff::/48'];

type Headers = Record<string, string | string[]>;

/** The `ip` the fetch log records for one request from `peer` with these headers, through a service that trusts TRUSTED. */
async function loggedAddress(headers: Headers, peer = PROXY): Promise<string> {
  const { app, log } = await policyApp({ trustProxy: TRUSTED });
  const response = await app.inject({
    url: POLICY_PATH,
    headers: { host: 'mta-sts.example.com', ...headers },
    remoteAddress: peer,
  });
  assert.equal(response.body, EXAMPLE_COM_POLICY);
  return String(log.events('policy_fetch')[0]!.ip);
}

async function assertAddresses(cases: [Headers, string, string?][]): Promise<void> {
  for (const [headers, want, peer] of cases) {
    assert.equal(await loggedAddress(headers, peer), want, `${JSON.stringify(headers)} from ${peer ?? PROXY}`);
  }
}

test('X-Forwarded-For: the right-most address that is not a trusted proxy, only if it is an IP address', async () => {
  await assertAddresses([
    // Not from a trusted proxy: the header is the client's own text.
    [{ 'x-forwarded-for': '203.0.113.9' }, '198.51.100.7', '198.51.100.7'],
    [{ 'x-forwarded-for': '203.0.113.9' }, '203.0.113.9'],
    // What a client wrote on the left is skipped; the walk stops at the first untrusted hop.
    [{ 'x-forwarded-for': '198.51.100.66, 203.0.113.9' }, '203.0.113.9'],
    [{ 'x-forwarded-for': '198.51.100.66, 203.0.113.9, 10.0.0.2' }, '203.0.113.9'],
    // Not an IP address: the nearest known address instead (the peer, or the last trusted hop).
    [{ 'x-forwarded-for': 'not-an-ip' }, PROXY],
    [{ 'x-forwarded-for': '203.0.113.9, not-an-ip' }, PROXY],
    [{ 'x-forwarded-for': 'not-an-ip, 10.0.0.2' }, '10.0.0.2'],
    [{ 'x-forwarded-for': 'unknown, 10.0.0.2' }, '10.0.0.2'],
    [{ 'x-forwarded-for': '' }, PROXY],
    [{ 'x-forwarded-for': '203.0.113.9\u0007' }, PROXY],
    // Every hop trusted: the one nearest the client.
    [{ 'x-forwarded-for': '10.0.0.3, 10.0.0.2' }, '10.0.0.3'],
    // Ports, brackets, IPv4-mapped and upper-case IPv6 are normalised as the socket's address is.
    [{ 'x-forwarded-for': '203.0.113.9:4711' }, '203.0.113.9'],
    [{ 'x-forwarded-for': '[2001:DB8:CAFE::17]:4711' }, '2001:db8:cafe::17'],
    [{ 'x-forwarded-for': '2001:DB8:CAFE::17' }, '2001:db8:cafe::17'],
    [{ 'x-forwarded-for': '::ffff:203.0.113.9' }, '203.0.113.9'],
    [{ 'x-forwarded-for': '203.0.113.9:port' }, PROXY],
    // Several field lines are one list, in order.
    [{ 'x-forwarded-for': ['198.51.100.66', '203.0.113.9'] }, '203.0.113.9'],
    [{ 'x-forwarded-for': ['203.0.113.9', '10.0.0.2'] }, '203.0.113.9'],
    // A trusted IPv6 proxy, and a peer address seen as IPv4-mapped IPv6 on a dual-stack socket.
    [{ 'x-forwarded-for': '203.0.113.9' }, '203.0.113.9', '2001:db8:ffff::1'],
    [{ 'x-forwarded-for': '203.0.113.9' }, '203.0.113.9', '::ffff:10.0.0.1'],
  ]);
});

test('X-Forwarded-For: only the right-most part of a long line is read', async () => {
  await assertAddresses([
    [{ 'x-forwarded-for': `${'9'.repeat(20_000)}, 203.0.113.9` }, '203.0.113.9'],
    // Past the last 1024 characters nothing is read: the nearest trusted hop, not what a client wrote further left.
    [{ 'x-forwarded-for': `198.51.100.66,${' '.repeat(5000)}, 10.0.0.2` }, '10.0.0.2'],
    // 40 trusted hops: the walk ends at its bound of 32, on a trusted hop.
    [{ 'x-forwarded-for': `198.51.100.66, ${Array(40).fill('10.0.0.2').join(', ')}` }, '10.0.0.2'],
  ]);
});

test('Forwarded (RFC 7239): for= with quoting, IPv6 in brackets, ports, unknown and obfuscated nodes', async () => {
  await assertAddresses([
    [{ forwarded: 'for=203.0.113.9' }, '198.51.100.7', '198.51.100.7'],
    [{ forwarded: 'for=203.0.113.9' }, '203.0.113.9'],
    [{ forwarded: 'For=203.0.113.9;proto=https;by=10.0.0.1' }, '203.0.113.9'],
    [{ forwarded: 'proto=https ; for="203.0.113.9:4711"' }, '203.0.113.9'],
    [{ forwarded: 'for="[2001:db8:cafe::17]:4711"' }, '2001:db8:cafe::17'],
    [{ forwarded: 'for="[2001:DB8:CAFE::17]"' }, '2001:db8:cafe::17'],
    [{ forwarded: 'for="203.0.113.9:_hidden"' }, '203.0.113.9'],
    [{ forwarded: 'for=unknown' }, PROXY],
    [{ forwarded: 'for=_gazonk' }, PROXY],
    [{ forwarded: 'for="_gazonk:4711"' }, PROXY],
    // An IPv6 address must be quoted (":" is not a token character), an IPv4 port too.
    [{ forwarded: 'for=[2001:db8:cafe::17]' }, PROXY],
    [{ forwarded: 'for=203.0.113.9:4711' }, PROXY],
    [{ forwarded: 'for="[2001:db8:cafe::17"' }, PROXY],
    // Several elements and field lines, read from the right past trusted proxies.
    [{ forwarded: 'for=198.51.100.66, for=203.0.113.9' }, '203.0.113.9'],
    [{ forwarded: 'for=203.0.113.9, for=10.0.0.2;by=10.0.0.1' }, '203.0.113.9'],
    [{ forwarded: ['for=198.51.100.66', 'for=203.0.113.9'] }, '203.0.113.9'],
    [{ forwarded: 'for=203.0.113.9,, ,' }, '203.0.113.9'],
    // Commas and semicolons inside quoted strings do not split elements.
    [{ forwarded: 'by="a,b;c";for=203.0.113.9' }, '203.0.113.9'],
    [{ forwarded: 'for=203.0.113.9;by="a, for=10.0.0.2"' }, '203.0.113.9'],
    [{ forwarded: 'for=203.0.113.9;by="a\\", for=10.0.0.2"' }, '203.0.113.9'],
    [{ forwarded: 'for=10.0.0.2, for=203.0.113.9;by="a\\", for=198.51.100.66"' }, '203.0.113.9'],
    [{ forwarded: 'for=203.0.113.9;by="a\\\\", for=10.0.0.2' }, '203.0.113.9'],
    // A quote left open by a client on its own line does not swallow the proxy's line.
    [{ forwarded: ['for="198.51.100.66', 'for=203.0.113.9'] }, '203.0.113.9'],
    // The hop nearest us is not readable: the nearest known address.
    [{ forwarded: 'for=203.0.113.9, proto=https' }, PROXY],
    [{ forwarded: 'for=203.0.113.9;for=198.51.100.66' }, PROXY],
    [{ forwarded: 'for="203.0.113.9' }, PROXY],
    [{ forwarded: 'for=203.0.113.9 junk' }, PROXY],
  ]);
});

test('Forwarded: a long line is read from the right, quoted strings included, up to a bound', async () => {
  await assertAddresses([
    [{ forwarded: `for=198.51.100.66;by="${'x,'.repeat(5000)}", for=203.0.113.9` }, '203.0.113.9'],
    [{ forwarded: `for=198.51.100.66, ${Array(40).fill('for=10.0.0.2').join(', ')}` }, '10.0.0.2'],
    [{ forwarded: `for=198.51.100.66;by="${'x'.repeat(5000)}", for=10.0.0.2` }, '10.0.0.2'],
    [{ forwarded: `for=203.0.113.9;by="${'x'.repeat(5000)}"` }, PROXY],
  ]);
});

test('both headers: used when they name the same client; when they disagree, the proxy’s own address', async () => {
  await assertAddresses([
    [{ 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9' }, '203.0.113.9'],
    [{ 'x-forwarded-for': '198.51.100.66, 203.0.113.9', forwarded: 'for="203.0.113.9:4711"' }, '203.0.113.9'],
    // nginx appends to X-Forwarded-For and passes a client's Forwarded on untouched (and other proxies the reverse).
    [{ 'x-forwarded-for': '203.0.113.9', forwarded: 'for=198.51.100.66' }, PROXY],
    [{ 'x-forwarded-for': '198.51.100.66', forwarded: 'for=203.0.113.9' }, PROXY],
  ]);
});

let running: TestService;
let comCert: TestCertificate;

before(async () => {
  const { dir } = await writeTestConfig('');
  comCert = await issueTestCertificate(`${dir}/com`, ['mta-sts.example.com', 'mta-sts.example.org']);
  running = await startTestService(`${TWO_DOMAINS}
tls:
  source: files
  certificates: [{ cert: ${comCert.certPath}, key: ${comCert.keyPath} }]
${LOOPBACK_LISTEN}`);
});

after(() => running.service.stop());

/** One policy request over real HTTPS from 127.0.0.1; resolves with the status and the fetch log line. */
async function fetchOverHttps(headers: string, { sni = true } = {}) {
  const before = running.log.events('policy_fetch').length;
  const response = await rawHttpsRequest(
    running.httpsPort,
    `GET ${POLICY_PATH} HTTP/1.1\r\nHost: mta-sts.example.com\r\n${headers}Connection: close\r\n\r\n`,
    sni ? { servername: 'mta-sts.example.com', ca: comCert.caPem } : { rejectUnauthorized: false },
  );
  await running.log.waitFor(() => running.log.events('policy_fetch').length > before);
  return { status: response.status, body: response.body, line: running.log.events('policy_fetch')[before]! };
}

test('HTTPS fast path: proxy headers from a peer that is not a trusted proxy change nothing', async () => {
  const { status, body, line } = await fetchOverHttps(
    'X-Forwarded-For: 203.0.113.9\r\nForwarded: for=203.0.113.9\r\nX-Forwarded-Host: mta-sts.example.org\r\n',
  );
  assert.equal(status, 200);
  assert.equal(body, EXAMPLE_COM_POLICY);
  assert.equal(line.ip, '127.0.0.1');
  assert.equal(line.host, 'mta-sts.example.com');
});

test('HTTPS through a trusted proxy: its forwarded address, Host’s policy, and no certificate check', async () => {
  await writeTrustProxy(['127.0.0.1']);
  try {
    const forwarded = await fetchOverHttps(
      'X-Forwarded-For: 198.51.100.66, 203.0.113.9\r\nX-Forwarded-Host: mta-sts.example.org\r\n',
    );
    assert.equal(forwarded.body, EXAMPLE_COM_POLICY);
    assert.deepEqual(
      [forwarded.line.ip, forwarded.line.host, forwarded.line.domain],
      ['203.0.113.9', 'mta-sts.example.com', 'example.com'],
    );
    assert.equal((await fetchOverHttps('X-Forwarded-For: not-an-ip\r\n')).line.ip, '127.0.0.1');
    assert.equal((await fetchOverHttps('Forwarded: for="[2001:db8:cafe::17]:4711"\r\n')).line.ip, '2001:db8:cafe::17');
    // nginx sends no SNI upstream by default: a trusted proxy's connection is not held to the certificate.
    const withoutSni = await fetchOverHttps('X-Forwarded-For: 203.0.113.9\r\n', { sni: false });
    assert.equal(withoutSni.status, 200);
    assert.equal(withoutSni.line.ip, '203.0.113.9');
  } finally {
    await writeTrustProxy([]);
  }
  assert.equal((await fetchOverHttps('X-Forwarded-For: 203.0.113.9\r\n')).line.ip, '127.0.0.1');
});

/** trust_proxy applies on reload, without a restart. */
async function writeTrustProxy(entries: string[]): Promise<void> {
  const text = await readFile(running.configPath, 'utf8');
  await writeFile(running.configPath, `${text.replace(/\ntrust_proxy: .*\n/, '\n')}trust_proxy: ${JSON.stringify(entries)}\n`);
  const applied = running.log.events('config_reloaded').length;
  await running.service.reload();
  assert.equal(running.log.events('config_reloaded').length, applied + 1, 'the config with the new trust_proxy was applied');
}
