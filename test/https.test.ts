import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { issueTestCertificate, type TestCertificate } from './support/certificates.js';
import { fetchPolicy } from './support/fetch-policy.js';
import { rawHttpRequest, rawHttpsRequest, trickle } from './support/raw-client.js';
import { freePorts } from './support/ports.js';
import { LogCapture, LOOPBACK_LISTEN, startTestService, writeTestConfig, type TestService } from './support/service.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { buildApp } from '../src/server/app.js';
import { inactivityTimeoutOf } from '../src/net/open-connections.js';
import { createLogger } from '../src/log/logger.js';
import { Service } from '../src/service/service.js';

const COM_POLICY =
  'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.mail.protection.outlook.com\r\nmax_age: 1209600\r\n';
const ORG_POLICY = 'version: STSv1\r\nmode: testing\r\nmx: mx1.example.org\r\nmax_age: 604800\r\n';

let running: TestService;
let comCert: TestCertificate;
let orgCert: TestCertificate;
const caFor = (host: string) => (host.endsWith('example.org') ? orgCert : comCert).caPem;

before(async () => {
  const { dir } = await writeTestConfig('');
  comCert = await issueTestCertificate(`${dir}/com`, ['mta-sts.example.com']);
  orgCert = await issueTestCertificate(`${dir}/org`, ['mta-sts.example.org']);
  running = await startTestService(`
domains:
  example.com: { mode: enforce, mx: [mail.example.com, "*.mail.protection.outlook.com"], max_age: 1209600 }
  example.org: { mx: [mx1.example.org] }
tls:
  source: files
  certificates:
    - { cert: ${comCert.certPath}, key: ${comCert.keyPath} }
    - { cert: ${orgCert.certPath}, key: ${orgCert.keyPath} }
${LOOPBACK_LISTEN}`);
});

after(() => running.service.stop());

const policyRequest = (host: string, extra = '') =>
  `GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`;

test('exact policy bytes over real HTTPS with each host’s own certificate (SNI)', async () => {
  for (const [host, body, certificate] of [
    ['mta-sts.example.com', COM_POLICY, () => comCert],
    ['mta-sts.example.org', ORG_POLICY, () => orgCert],
  ] as const) {
    const response = await rawHttpsRequest(running.httpsPort, policyRequest(host), { servername: host, ca: caFor(host) });
    assert.equal(response.status, 200, host);
    assert.equal(response.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(response.headers['content-length'], String(body.length));
    assert.equal(response.body, body);
    assert.equal(response.certificate.subjectaltname, `DNS:${host}`);
    assert.equal(response.certificate.serialNumber, certificate().serialNumber.toUpperCase());
  }
});

test('HEAD gets the headers and no body; other methods and paths 404/405', async () => {
  const host = 'mta-sts.example.com';
  const tls = { servername: host, ca: caFor(host) };
  const head = await rawHttpsRequest(
    running.httpsPort,
    `HEAD /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    tls,
  );
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(COM_POLICY.length));
  assert.equal(head.body, '');
  const post = await rawHttpsRequest(
    running.httpsPort,
    `POST /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    tls,
  );
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  const otherPath = await rawHttpsRequest(
    running.httpsPort,
    `GET /index.html HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    tls,
  );
  assert.equal(otherPath.status, 404);
  assert.equal(otherPath.body, '404 not found\n');
  const otherHost = await rawHttpsRequest(running.httpsPort, policyRequest('mta-sts.example.net'), {
    ...tls,
    servername: 'mta-sts.example.net',
    rejectUnauthorized: false,
  });
  assert.equal(otherHost.status, 404);
});

const absoluteFormRequest = (target: string, host: string) =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

test('an absolute-form target names the host and Host is ignored (RFC 9112 §3.2.2); a malformed one gets 400', async () => {
  const org = { servername: 'mta-sts.example.org', ca: orgCert.caPem };
  const before = running.log.events('policy_fetch').length;
  const served = await rawHttpsRequest(
    running.httpsPort,
    absoluteFormRequest('https://MTA-STS.example.org/.well-known/mta-sts.txt', 'mta-sts.example.com'),
    org,
  );
  assert.equal(served.status, 200);
  assert.equal(served.body, ORG_POLICY);

  const notOurs = await rawHttpsRequest(
    running.httpsPort,
    absoluteFormRequest('https://other.example/.well-known/mta-sts.txt', 'mta-sts.example.org'),
    org,
  );
  assert.equal(notOurs.status, 404);
  assert.equal(notOurs.body, '404 not found\n');

  // The org connection's certificate does not cover example.com: the target's host is judged, not Host.
  const misdirected = await rawHttpsRequest(
    running.httpsPort,
    absoluteFormRequest('https://mta-sts.example.com/.well-known/mta-sts.txt', 'mta-sts.example.org'),
    org,
  );
  assert.equal(misdirected.status, 421);

  await running.log.waitFor(() => running.log.events('policy_fetch').length === before + 3);
  assert.deepEqual(
    running.log
      .events('policy_fetch')
      .slice(before)
      .map((line) => [line.host, line.domain, line.status]),
    [
      ['mta-sts.example.org', 'example.org', 200],
      ['other.example', null, 404],
      ['mta-sts.example.com', null, 421],
    ],
  );

  for (const target of [
    'https://user@mta-sts.example.org/.well-known/mta-sts.txt',
    'https:////.well-known/mta-sts.txt',
    'ftp://mta-sts.example.org/.well-known/mta-sts.txt',
  ]) {
    const malformed = await rawHttpsRequest(running.httpsPort, absoluteFormRequest(target, 'mta-sts.example.org'), org);
    assert.equal(malformed.status, 400, target);
    assert.doesNotMatch(malformed.body, /STSv1/);
  }
});

test('TLS 1.1 and older are refused; TLS 1.2 and 1.3 are served', async () => {
  const attempt = (minVersion: 'TLSv1' | 'TLSv1.2', maxVersion: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3') =>
    new Promise<string>((resolve) => {
      // SECLEVEL=0 lets this client offer old protocols, so only the server can refuse them.
      const socket: TLSSocket = connect(
        {
          host: '127.0.0.1',
          port: running.httpsPort,
          servername: 'mta-sts.example.com',
          ca: comCert.caPem,
          minVersion,
          maxVersion,
          ciphers: 'DEFAULT:@SECLEVEL=0',
        },
        () => {
          resolve(socket.getProtocol() ?? 'none');
          socket.end();
        },
      );
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
    });
  assert.match(await attempt('TLSv1', 'TLSv1.1'), /^error /);
  assert.equal(await attempt('TLSv1.2', 'TLSv1.2'), 'TLSv1.2');
  assert.equal(await attempt('TLSv1.2', 'TLSv1.3'), 'TLSv1.3');
});

test('a client without SNI completes the handshake, with a certificate that covers no policy host: 421', async () => {
  const response = await rawHttpsRequest(running.httpsPort, policyRequest('mta-sts.example.org'), { rejectUnauthorized: false });
  assert.equal(response.certificate.subject.CN, 'mta-sts-server');
  assert.equal(response.status, 421);
  assert.doesNotMatch(response.body, /STSv1/);
});

test('ambiguous or malformed requests get 400, not a policy', async () => {
  const tls = { servername: 'mta-sts.example.com', ca: comCert.caPem };
  const twoHosts = await rawHttpsRequest(
    running.httpsPort,
    'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nHost: mta-sts.example.org\r\nConnection: close\r\n\r\n',
    tls,
  );
  assert.equal(twoHosts.status, 400);
  assert.doesNotMatch(twoHosts.body, /STSv1/);
  const badBytes = await rawHttpsRequest(
    running.httpsPort,
    'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nX-Bad: a\x01b\r\nConnection: close\r\n\r\n',
    tls,
  );
  assert.equal(badBytes.status, 400);
  const noHost = await rawHttpsRequest(
    running.httpsPort,
    'GET /.well-known/mta-sts.txt HTTP/1.1\r\nConnection: close\r\n\r\n',
    tls,
  );
  assert.equal(noHost.status, 400);
  // The fast path judges Host as Fastify does.
  const userinfoHost = await rawHttpsRequest(running.httpsPort, policyRequest('mta-sts.example.com@evil.example'), tls);
  assert.equal(userinfoHost.status, 400);
  assert.doesNotMatch(userinfoHost.body, /STSv1/);
  const overHttp = await rawHttpRequest(
    running.httpPort,
    'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
  );
  assert.equal(overHttp.status, 400);
});

test('the fetch log line records the TLS version and an absent user agent as ""', async () => {
  const before = running.log.events('policy_fetch').length;
  await rawHttpsRequest(running.httpsPort, policyRequest('mta-sts.example.org'), {
    servername: 'mta-sts.example.org',
    ca: orgCert.caPem,
    maxVersion: 'TLSv1.2',
  });
  const line = await running.log.waitFor(
    (entry) => entry.event === 'policy_fetch' && running.log.events('policy_fetch').indexOf(entry) >= before,
  );
  assert.equal(line.ua, '');
  assert.equal(line.tls, 'TLSv1.2');
  assert.equal(line.ip, '127.0.0.1');
  assert.equal(line.domain, 'example.org');
  assert.equal(line.status, 200);
});

/** Shorter than the defaults, so that the tests of what they cut off take seconds. */
const SHORT_LIMITS = { headersTimeoutMs: 2_000, inactivityTimeoutMs: 1_000 };

/** A service like the file's, with SHORT_LIMITS. */
const startWithShortLimits = () =>
  startTestService(`domains:\n  example.com: { mode: none }\n${LOOPBACK_LISTEN}`, { connectionLimits: SHORT_LIMITS });

test('slow and silent clients are cut off at the inactivity timeout and do not stop normal fetches meanwhile', async () => {
  const limited = await startWithShortLimits();
  try {
    const ca = await readFile(`${limited.dir}/state/self-signed/ca.pem`, 'utf8');
    const lifetimes: Promise<{ lastSentAt: number; closedAt: number }>[] = [];
    for (let i = 0; i < 200; i++) {
      const socket = connect({ host: '127.0.0.1', port: limited.httpsPort, servername: 'mta-sts.example.com', ca });
      socket.on('error', () => undefined);
      socket.resume(); // read whatever the server says before it closes, as a real client would
      let lastSentAt = 0;
      // Half send part of their headers and stall; the other half connect and say nothing.
      socket.on('secureConnect', () => {
        if (i % 2 === 0) socket.write('GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nX-Slow: ');
        lastSentAt = Date.now();
      });
      lifetimes.push(once(socket, 'close').then(() => ({ lastSentAt, closedAt: Date.now() })));
    }
    const { body } = await fetchPolicy({ port: limited.httpsPort, host: 'mta-sts.example.com', ca });
    assert.equal(body, 'version: STSv1\r\nmode: none\r\nmax_age: 604800\r\n');
    // Closed by the server once each had been quiet for the inactivity timeout, not by anything this test did.
    const quiet = (await Promise.all(lifetimes)).map(({ lastSentAt, closedAt }) => closedAt - lastSentAt);
    assert.ok(Math.min(...quiet) >= SHORT_LIMITS.inactivityTimeoutMs - 50, `closed after ${Math.min(...quiet)} ms of silence`);
  } finally {
    await limited.service.stop();
  }
});

test('a client trickling its headers faster than the inactivity timeout is still cut off at the headers timeout', async () => {
  const limited = await startWithShortLimits();
  try {
    const ca = await readFile(`${limited.dir}/state/self-signed/ca.pem`, 'utf8');
    const socket = connect({ host: '127.0.0.1', port: limited.httpsPort, servername: 'mta-sts.example.com', ca });
    await once(socket, 'secureConnect');
    // One byte every 300 ms, well within the 1 s inactivity timeout: sent whole, it would take 21 s.
    const request = policyRequest('mta-sts.example.com');
    const { response, sent, elapsedMs: elapsed } = await trickle(socket, request, 300);
    assert.ok(sent < request.length, `the whole request went through in ${elapsed} ms: no headers timeout`);
    assert.match(response, /^HTTP\/1\.1 408 /);
    // Node checks the deadline every second: cut off between 2 and 3 s after the first byte, with room for a busy machine.
    assert.ok(
      elapsed >= SHORT_LIMITS.headersTimeoutMs && elapsed < 3 * SHORT_LIMITS.headersTimeoutMs,
      `cut off ${elapsed} ms after the first byte; the headers timeout is ${SHORT_LIMITS.headersTimeoutMs} ms`,
    );
  } finally {
    await limited.service.stop();
  }
});

test('by default both listeners allow 10 s for headers, 30 s per request, 5 s idle keep-alive and 10 s of silence', async () => {
  const common = {
    logger: createLogger('silent'),
    policies: () => new PolicySet([]),
    readiness: () => ({ ready: true, hostsWithoutCertificate: 0 }),
    trustProxy: () => false,
  };
  const apps = [
    await buildApp({ ...common, listener: 'https', recordFetch: () => undefined }),
    await buildApp({ ...common, listener: 'http', keyAuthorization: async () => undefined, httpsPort: 443 }),
  ];
  for (const app of apps) {
    const { headersTimeout, requestTimeout, keepAliveTimeout } = app.server;
    // The README's "Connection limits" promises these numbers.
    assert.deepEqual(
      { headersTimeout, requestTimeout, keepAliveTimeout, inactivityTimeout: inactivityTimeoutOf(app.server) },
      { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, inactivityTimeout: 10_000 },
    );
    await app.close();
  }
});

test('IPv6 and IPv4 are both served when listening on "::"', async () => {
  const dual = await startTestService(`
domains:
  example.com: { mode: none }
listen: { address: "::", https: 0, http: 0 }
admin: { port: 0 }
state_dir: state
`);
  try {
    const caPem = await readFile(`${dual.dir}/state/self-signed/ca.pem`, 'utf8');
    for (const host of ['127.0.0.1', '::1']) {
      const { body } = await fetchPolicy({ port: dual.httpsPort, host: 'mta-sts.example.com', ca: caPem, address: host });
      assert.equal(body, 'version: STSv1\r\nmode: none\r\nmax_age: 604800\r\n', host);
    }
    const ips = dual.log.events('policy_fetch').map((line) => line.ip);
    assert.deepEqual(ips, ['127.0.0.1', '::1']);
  } finally {
    await dual.service.stop();
  }
});

test('a port already in use fails the start with its error and leaves nothing listening', async () => {
  const listenOn = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve(server));
    });
  const busy = await listenOn(0);
  const [httpsPort] = await freePorts(1);
  const busyPort = (busy.address() as AddressInfo).port;
  const { configPath } = await writeTestConfig(
    `domains:\n  example.com: { mode: none }\nlisten: { address: 127.0.0.1, https: ${httpsPort}, http: ${busyPort} }\nadmin: { port: 0 }\nstate_dir: state\n`,
  );
  try {
    await assert.rejects(Service.start({ configPath, logDestination: new LogCapture() }), { code: 'EADDRINUSE' });
    // The HTTPS listener opened before the failure was closed again: its port is free.
    (await listenOn(httpsPort!)).close();
  } finally {
    busy.close();
  }
});
