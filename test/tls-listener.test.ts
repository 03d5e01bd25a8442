import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { loadCertificate, type ServedCertificate } from '../src/tls/certificate.js';
import { EXAMPLE_COM_POLICY, EXAMPLE_ORG_POLICY, listening, policies, policyApp } from './support/apps.js';
import { issueTestCertificate } from './support/certificates.js';
import { rawHttpsRequest, type RawResponse } from './support/raw-client.js';
import { writeTestConfig } from './support/service.js';
import { COM, ORG } from './support/tls-fixtures.js';

// The policy listener over real TLS in this process (buildApp with a certificate selector, as
// the service's Listeners build it): which certificate a handshake gets, and whether a request
// on that connection may be answered for its Host (RFC 9110 §15.5.20).

/** A certificate for `hosts` from its own test CA, ready to serve, and that CA. */
async function certificateFor(hosts: string[]): Promise<{ served: ServedCertificate; caPem: string }> {
  const { dir } = await writeTestConfig('');
  const issued = await issueTestCertificate(join(dir, 'certificate'), hosts);
  const [cert, key] = await Promise.all([readFile(issued.certPath, 'utf8'), readFile(issued.keyPath, 'utf8')]);
  return { served: loadCertificate(cert, key, issued.certPath), caPem: issued.caPem };
}

/**
 * The HTTPS listener with one certificate covering both policy hosts, selected by the name
 * mta-sts.example.com, and one covering only mta-sts.example.org, selected by that name; one for
 * all tests, as a running service has one.
 */
async function startTlsListener() {
  const [both, orgOnly] = await Promise.all([certificateFor([COM, ORG]), certificateFor([ORG])]);
  const byName = new Map([
    [COM, both.served],
    [ORG, orgOnly.served],
  ]);
  const { app, log } = await policyApp({ tls: { certificateFor: (name) => byName.get(name) } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const ca = [both.caPem, orgOnly.caPem];
  /** Sends `request` on a connection with this SNI (none when undefined); a certificate of ours is checked against the test CAs. */
  const send = (servername: string | undefined, request: string): Promise<RawResponse> =>
    rawHttpsRequest(
      port,
      request,
      servername !== undefined && byName.has(servername.toLowerCase())
        ? { servername, ca }
        : { rejectUnauthorized: false, ...(servername && { servername }) },
    );
  return { app, port, log, send };
}

let listener: Awaited<ReturnType<typeof startTlsListener>>;
before(async () => {
  listener = await startTlsListener();
});
after(() => listener.app.close());

const policyRequest = (host: string, method = 'GET') =>
  `${method} /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: tls-listener-test\r\nConnection: close\r\n\r\n`;

/** Completes a handshake with these options; the negotiated ALPN protocol and cipher, or the handshake's error. */
function handshake(port: number, options: ConnectionOptions): Promise<{ alpn: string | false; cipher: string } | Error> {
  return new Promise((resolve) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => {
      resolve({ alpn: socket.alpnProtocol ?? false, cipher: socket.getCipher().name });
      socket.end();
    });
    socket.on('error', resolve);
  });
}

test('a client without SNI, or with a name we do not serve, gets the neutral certificate that names no domain', async () => {
  const { port, send } = listener;
  for (const servername of [undefined, 'unknown.example']) {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername && { servername }) });
    await once(socket, 'secureConnect');
    const certificate = socket.getPeerCertificate();
    socket.destroy();
    assert.equal(certificate.subject?.CN, 'mta-sts-server', String(servername));
    assert.equal(certificate.subjectaltname, undefined, String(servername));
    assert.doesNotMatch(JSON.stringify(certificate), /example\.(com|org)/, String(servername));
  }
  // A policy host's name gets its own certificate, which the test CA vouches for (send checks it).
  assert.equal((await send(ORG, policyRequest(ORG))).certificate.subjectaltname, `DNS:${ORG}`);
});

test('421 when the connection’s certificate does not cover the Host (RFC 9110 §15.5.20); 200 when it does', async () => {
  const { send, log } = listener;
  const answers: [string | undefined, string, string, number, string][] = [
    // SNI and Host the same, and the certificate selected for it.
    [COM, COM, 'GET', 200, EXAMPLE_COM_POLICY],
    // A certificate selected for one name that covers the other host too (a `files` certificate may cover several).
    [COM, ORG, 'GET', 200, EXAMPLE_ORG_POLICY],
    // SNI in another case: the name is looked up in lower case.
    ['MTA-STS.Example.COM', ORG, 'GET', 200, EXAMPLE_ORG_POLICY],
    // The certificate selected by the SNI does not cover the Host.
    [ORG, COM, 'GET', 421, '421 misdirected request\n'],
    // No SNI, or a name we do not serve: the neutral certificate covers no policy host.
    [undefined, COM, 'GET', 421, '421 misdirected request\n'],
    ['unknown.example', COM, 'GET', 421, '421 misdirected request\n'],
    [undefined, COM, 'HEAD', 421, ''],
    // Misdirected before any other judgement: not 405 for another method.
    [undefined, ORG, 'POST', 421, '421 misdirected request\n'],
    // A host we do not serve is 404 on any connection: no certificate is owed for it.
    [undefined, 'mta-sts.example.net', 'GET', 404, '404 not found\n'],
  ];
  const earlier = log.events('policy_fetch').length;
  const elapsed: number[] = [];
  for (const [servername, host, method, status, body] of answers) {
    const what = `SNI ${servername}, ${method} for ${host}`;
    const sentAt = performance.now();
    const answer = await send(servername, policyRequest(host, method));
    elapsed.push(performance.now() - sentAt);
    assert.equal(answer.status, status, what);
    assert.equal(answer.body, body, what);
    assert.equal(answer.headers['content-type'], 'text/plain; charset=utf-8', what);
    assert.equal(answer.headers['strict-transport-security'], 'max-age=31536000', what);
  }
  // A misdirected request is logged like one for a host we do not serve; the TLS version is the connection's.
  assert.deepEqual(
    log
      .events('policy_fetch')
      .slice(earlier)
      .map((line) => [line.host, line.domain, line.status, line.policy_id, line.tls]),
    answers.map(([, host, , status]) => [
      host,
      status === 200 ? host.replace('mta-sts.', '') : null,
      status,
      status === 200 ? policies().forHost(host)!.id : null,
      'TLSv1.3',
    ]),
  );
  // Each line's response time is the server's share of the round trip the client saw.
  log
    .events('policy_fetch')
    .slice(earlier)
    .forEach((line, i) =>
      assert.ok(Number(line.response_ms) >= 0 && Number(line.response_ms) <= elapsed[i]!, `${line.response_ms} ms`),
    );
});

test('a policy host whose certificate is missing (its first order pending) is 421 even when SNI and Host agree', async (t) => {
  const [both] = await Promise.all([certificateFor([COM, ORG])]);
  const { app } = await policyApp({ tls: { certificateFor: (name) => (name === COM ? both.served : undefined) } });
  const port = await listening(app, t);
  const answer = await rawHttpsRequest(port, policyRequest(ORG), { servername: ORG, rejectUnauthorized: false });
  assert.equal(answer.status, 421);
  assert.equal(answer.certificate.subject?.CN, 'mta-sts-server');
});

test('an absolute-form target over TLS: its authority names the host (RFC 9112 §3.2.2), held to the certificate as well', async () => {
  const { send } = listener;
  const absolute = (target: string, host: string) => `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
  const served = await send(ORG, absolute(`https://${ORG}/.well-known/mta-sts.txt`, COM));
  assert.equal(served.status, 200);
  assert.equal(served.body, EXAMPLE_ORG_POLICY);
  const misdirected = await send(ORG, absolute(`https://${COM}/.well-known/mta-sts.txt`, ORG));
  assert.equal(misdirected.status, 421);
  const withQuery = await send(COM, absolute(`https://${COM}/.well-known/mta-sts.txt?x=1`, COM));
  assert.equal(withQuery.body, EXAMPLE_COM_POLICY);
  // None of these requests named a user agent: the fetch log says "".
  assert.deepEqual(
    listener.log
      .events('policy_fetch')
      .slice(-3)
      .map((line) => [line.host, line.status, line.ua]),
    [
      [ORG, 200, ''],
      [COM, 421, ''],
      [COM, 200, ''],
    ],
  );
  // One line per fetch, from the fetch log, also for those Fastify routed: its own per-request lines are off.
  assert.deepEqual(
    listener.log.lines.filter((line) => 'reqId' in line),
    [],
  );
});

test('ALPN: http/1.1 for every client, acme-tls/1 for a TLS-ALPN-01 validation (RFC 8737 §4)', async () => {
  const { port } = listener;
  assert.deepEqual(await handshake(port, { servername: COM, ALPNProtocols: ['acme-tls/1'] }), {
    alpn: 'acme-tls/1',
    // The server's order (src/tls/server-settings.ts), not the client's: Node's client lists TLS_AES_256_GCM_SHA384 first.
    cipher: 'TLS_AES_128_GCM_SHA256',
  });
  assert.equal(
    ((await handshake(port, { servername: COM, ALPNProtocols: ['h2', 'http/1.1'] })) as { alpn: string }).alpn,
    'http/1.1',
  );
  assert.equal(((await handshake(port, { servername: COM })) as { alpn: unknown }).alpn, false);
  const h2Only = await handshake(port, { servername: COM, ALPNProtocols: ['h2'] });
  assert.ok(h2Only instanceof Error, 'a client that speaks only HTTP/2 is refused in the handshake');
});

test('the strict TLS settings apply: TLS 1.2 with ECDHE and AES-GCM or ChaCha20 only, nothing older than 1.2', async () => {
  const { port } = listener;
  const tls12 = (ciphers: string) => handshake(port, { servername: COM, maxVersion: 'TLSv1.2', ciphers });
  assert.deepEqual(await tls12('ECDHE-ECDSA-AES128-GCM-SHA256'), { alpn: false, cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
  assert.deepEqual(await tls12('ECDHE-ECDSA-CHACHA20-POLY1305'), { alpn: false, cipher: 'ECDHE-ECDSA-CHACHA20-POLY1305' });
  assert.ok((await tls12('ECDHE-ECDSA-AES128-SHA')) instanceof Error, 'CBC with a SHA-1 MAC is refused');
  const tls11 = await handshake(port, {
    servername: COM,
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1.1',
    ciphers: 'ALL:@SECLEVEL=0',
  });
  assert.ok(tls11 instanceof Error, 'TLS 1.1 is refused');
});

test('through a trusted proxy (nginx sends no SNI upstream) the policy is served without a certificate check', async (t) => {
  const { served } = await certificateFor([COM]);
  const { app, log } = await policyApp({
    trustProxy: ['127.0.0.1'],
    tls: { certificateFor: (name) => (name === COM ? served : undefined) },
  });
  const port = await listening(app, t);
  const proxied = await rawHttpsRequest(
    port,
    `GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${ORG}\r\nX-Forwarded-For: 104.47.10.20\r\nConnection: close\r\n\r\n`,
    { rejectUnauthorized: false },
  );
  assert.equal(proxied.status, 200);
  assert.equal(proxied.body, EXAMPLE_ORG_POLICY);
  assert.deepEqual(
    log.events('policy_fetch').map((line) => [line.ip, line.status]),
    [['104.47.10.20', 200]],
  );
});
