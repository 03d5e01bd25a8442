import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { connect, type PeerCertificate } from 'node:tls';
import { EXAMPLE_COM_POLICY, EXAMPLE_ORG_POLICY } from './support/apps.js';
import { rawHttpsRequest } from './support/raw-client.js';
import { LOOPBACK_LISTEN, startTestService, writeTestConfig } from './support/service.js';
import { openBackends } from '../src/storage/backends.js';
import { SelfSignedIssuer } from '../src/tls/self-signed.js';
import {
  ACCEPTED_TLS12_SUITES,
  COM,
  NET,
  ORG,
  REFUSED_TLS12_SUITES,
  startMixedKeyServers,
  TLS13_SUITES,
  type KeyType,
  UNCOVERED,
  type MixedKeyServers,
} from './support/tls-fixtures.js';

let servers: MixedKeyServers;
let running: MixedKeyServers['running'];

before(async () => {
  servers = await startMixedKeyServers();
  running = servers.running;
});

after(() => servers.stop());

const policyRequest = (host: string) => `GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

/** A policy request with this SNI (none when undefined) and Host; the certificate is not verified, it is looked at. */
const fetchWith = (servername: string | undefined, host: string) =>
  rawHttpsRequest(running.httpsPort, policyRequest(host), { rejectUnauthorized: false, ...(servername && { servername }) });

function assertNeutral(certificate: PeerCertificate, what: string): void {
  assert.equal(certificate.subject?.CN, 'mta-sts-server', what);
  assert.equal(certificate.subjectaltname, undefined, what);
  assert.doesNotMatch(JSON.stringify(certificate), /example\.(com|org|net)/, what);
}

test('a client without SNI, or with a name we do not serve, gets a neutral certificate that names no domain', async () => {
  for (const servername of [undefined, 'unknown.example', 'example.com']) {
    const response = await fetchWith(servername, 'unknown.example');
    assertNeutral(response.certificate, `SNI ${servername}`);
    assert.equal(response.status, 404);
  }
  // Our names still get their own certificates, whatever the case of the SNI.
  assert.equal((await fetchWith('MTA-STS.Example.ORG', ORG)).certificate.subjectaltname, `DNS:${COM}, DNS:${ORG}`);
});

test('no TLS session is resumed: a client that offers the one it was given gets a full handshake, and its policy', async () => {
  // A sender fetches a policy again days later (RFC 8461 §3.3): the server keeps no session for it.
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    const tls = { servername: COM, ca: servers.ecdsa.caPem, minVersion: version, maxVersion: version };
    const first = await rawHttpsRequest(running.httpsPort, policyRequest(COM), tls);
    assert.ok(first.session, `${version}: the server handed out a session to offer`);
    const second = await rawHttpsRequest(running.httpsPort, policyRequest(COM), { ...tls, session: first.session });
    assert.equal(second.sessionReused, false, version);
    assert.equal(second.status, 200, version);
    assert.equal(second.certificate.subjectaltname, `DNS:${COM}, DNS:${ORG}`, version);
  }
});

test('an RSA certificate is served for its name, not the neutral ECDSA one, to clients that prefer ECDSA', async () => {
  // Node's SNI callback adds the chosen certificate beside the listener's default one; the server's preference must pick it.
  // OpenSSL's own client order, which Postfix uses: ECDSA suites and signature algorithms first.
  const preferEcdsa = {
    ciphers: 'TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256',
    sigalgs: 'ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256:rsa_pkcs1_sha256',
  };
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    for (const preference of [{}, preferEcdsa]) {
      const response = await rawHttpsRequest(running.httpsPort, policyRequest(NET), {
        servername: NET,
        ca: servers.rsa.caPem,
        minVersion: version,
        maxVersion: version,
        ...preference,
      });
      assert.equal(response.certificate.subjectaltname, `DNS:${NET}`, `${version}, ${JSON.stringify(preference)}`);
      assert.equal(response.status, 200);
    }
  }
});

test('self-signed: the one certificate that lists every host is never shown to a client without SNI', async () => {
  const selfSigned = await startTestService(
    `domains:\n  example.com: { mode: none }\n  example.org: { mode: none }\n${LOOPBACK_LISTEN}`,
  );
  try {
    const response = await rawHttpsRequest(selfSigned.httpsPort, policyRequest(COM), { rejectUnauthorized: false });
    assertNeutral(response.certificate, 'no SNI');
    const ca = await readFile(`${selfSigned.dir}/state/self-signed/ca.pem`, 'utf8');
    const named = await rawHttpsRequest(selfSigned.httpsPort, policyRequest(COM), { servername: COM, ca });
    assert.equal(named.status, 200);
  } finally {
    await selfSigned.service.stop();
  }
});

test('421 Misdirected Request when the connection’s certificate does not cover the Host (RFC 9110 §15.5.20)', async () => {
  const cases: [string | undefined, string, number, string][] = [
    [COM, COM, 200, EXAMPLE_COM_POLICY],
    // One certificate covers both names: a request for the other is served on the same connection.
    [COM, ORG, 200, EXAMPLE_ORG_POLICY],
    [ORG, 'MTA-STS.example.com:443', 200, EXAMPLE_COM_POLICY],
    [COM, NET, 421, '421 misdirected request\n'],
    [NET, COM, 421, '421 misdirected request\n'],
    [undefined, COM, 421, '421 misdirected request\n'],
    ['unknown.example', ORG, 421, '421 misdirected request\n'],
    // SNI and Host agree, but no certificate covers the host yet: the neutral one was served.
    [UNCOVERED, UNCOVERED, 421, '421 misdirected request\n'],
    // Not a policy host of ours: nothing to misdirect.
    [COM, 'unknown.example', 404, '404 not found\n'],
  ];
  const before = running.log.events('policy_fetch').length;
  for (const [servername, host, status, body] of cases) {
    const response = await fetchWith(servername, host);
    assert.equal(response.status, status, `SNI ${servername}, Host ${host}`);
    assert.equal(response.body, body, `SNI ${servername}, Host ${host}`);
  }
  await running.log.waitFor(() => running.log.events('policy_fetch').length === before + cases.length);
  // Logged as requests that fetched no policy: no domain, no policy id.
  const misdirected = running.log
    .events('policy_fetch')
    .slice(before)
    .filter((line) => line.status === 421);
  assert.deepEqual(
    misdirected.map((line) => [line.host, line.domain, line.policy_id]),
    [
      [NET, null, null],
      [COM, null, null],
      [COM, null, null],
      [ORG, null, null],
      [UNCOVERED, null, null],
    ],
  );
});

/** The suite negotiated with the server at `port`, or the error that ended the handshake. */
function negotiate(port: number, suite: string, key: KeyType, options: { sni: boolean; tls13?: boolean }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(
      {
        host: '127.0.0.1',
        port,
        ...(options.sni && { servername: key === 'rsa' ? NET : COM }),
        rejectUnauthorized: false,
        ...(options.tls13
          ? { minVersion: 'TLSv1.3', ciphers: suite }
          : // SECLEVEL=0 lets this client offer every suite, so that only the server can refuse one.
            { maxVersion: 'TLSv1.2', ciphers: `${suite}:@SECLEVEL=0` }),
      },
      () => {
        resolve(socket.getCipher().name);
        socket.destroy();
      },
    );
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(`refused (${error.code})`));
  });
}

test('TLS 1.2: only ECDHE with AES-GCM or ChaCha20-Poly1305; CBC, SHA-1 MACs, CCM8, ARIA, static RSA and DHE are refused', async () => {
  for (const { suite, key, why } of REFUSED_TLS12_SUITES) {
    // The client offers it and a server that allows it negotiates it...
    assert.equal(
      await negotiate(servers.permissivePort, suite, key, { sni: true }),
      suite,
      `${suite} (${why}) against the permissive server`,
    );
    // ...the policy listener refuses it, with SNI and without.
    assert.match(await negotiate(running.httpsPort, suite, key, { sni: true }), /^refused /, `${suite} (${why})`);
    assert.match(await negotiate(running.httpsPort, suite, key, { sni: false }), /^refused /, `${suite} (${why}), no SNI`);
  }
  for (const { suite, key } of ACCEPTED_TLS12_SUITES) {
    assert.equal(await negotiate(running.httpsPort, suite, key, { sni: true }), suite);
  }
  assert.equal(
    await negotiate(running.httpsPort, 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ecdsa', { sni: false }),
    'ECDHE-ECDSA-AES128-GCM-SHA256',
  );
});

test('TLS 1.3 keeps its default suites', async () => {
  for (const suite of TLS13_SUITES) {
    assert.equal(await negotiate(running.httpsPort, suite, 'ecdsa', { sni: true, tls13: true }), suite);
    assert.equal(await negotiate(running.httpsPort, suite, 'rsa', { sni: true, tls13: true }), suite);
  }
});

test('replicas sharing the storage share one self-signed CA: one makes it, under a lock, the other uses it', async () => {
  const { dir } = await writeTestConfig('');
  const replicas = [0, 1].map(() => new SelfSignedIssuer(openBackends({ stateDir: dir }).storage));
  const [first, second] = await Promise.all(replicas.map((issuer) => issuer.certificatesFor([COM])));
  const ca = new X509Certificate(await readFile(`${dir}/self-signed/ca.pem`));
  for (const certificates of [first!, second!]) {
    assert.equal(certificates.length, 1);
    const leaf = new X509Certificate(await readFile(`${dir}/${certificates[0]!.origin}`));
    assert.ok(leaf.verify(ca.publicKey), 'signed by the one stored CA');
  }
  assert.equal((await stat(`${dir}/self-signed/ca-key.pem`)).mode & 0o777, 0o600);
  assert.equal((await stat(`${dir}/self-signed/leaf-key.pem`)).mode & 0o777, 0o600);
});
