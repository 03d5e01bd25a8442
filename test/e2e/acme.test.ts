import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { TestDnsServer } from '../support/dns-server.js';
import { fetchPolicy } from '../support/fetch-policy.js';
import { TestPebble } from '../support/pebble.js';
import { freePorts } from '../support/ports.js';
import { startTestService, startTestServiceAt, type TestService } from '../support/service.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

// End to end against a real ACME CA (Debian's pebble): HTTP-01 through the service's own port-80 listener.

let dns: TestDnsServer;
let pebble: TestPebble;
let httpPort: number;
/** The HTTPS port of the TLS-ALPN-01 test's service: pebble validates there. */
let httpsPort: number;

/** The clock the maintenance loop reads; tests move it forward to make renewals due. */
let clockOffsetMs = 0;
const timing = { now: () => Date.now() + clockOffsetMs, checkIntervalMs: 300, minRetryMs: 300, maxRetryMs: 1_000 };

before(async () => {
  dns = await TestDnsServer.start();
  for (const host of ['mta-sts.example.com', 'mta-sts.example.org', 'mta-sts.example.net', 'mta-sts.example.io'])
    dns.setA(host, ['127.0.0.1']);
  [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  pebble = await TestPebble.start({ dnsPort: dns.port, httpPort, tlsPort: httpsPort });
});

after(async () => {
  await pebble?.stop();
  dns?.close();
});

const configFor = (domains: string[], challenge = 'http-01', https = 0) => `
domains:
${domains.map((domain) => `  ${domain}: { mode: enforce, mx: [mail.${domain}] }`).join('\n')}
listen: { address: 127.0.0.1, https: ${https}, http: ${httpPort} }
admin: { port: 0 }
${pebble.tlsYaml(challenge)}
state_dir: state
`;

const loadedFor = (running: TestService, host: string, after = 0) =>
  running.log.waitFor(
    (line) => line.event === 'certificate_loaded' && line.host === host && running.log.lines.indexOf(line) >= after,
    30_000,
  );

function servedCertificate(running: TestService, host: string, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: running.httpsPort, servername: host, ca }, () => {
      resolve(new X509Certificate(socket.getPeerCertificate().raw));
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('a fresh start obtains a certificate per host, trusted through pebble’s root; a restart orders nothing', async () => {
  const running = await startTestService(configFor(['example.com', 'example.org']), { acmeTiming: timing });
  let restarted: TestService | undefined;
  try {
    await loadedFor(running, 'mta-sts.example.com');
    await loadedFor(running, 'mta-sts.example.org');
    const root = await pebble.issuingRootPem();
    const policy = await fetchPolicy({ port: running.httpsPort, host: 'mta-sts.example.com', ca: root });
    assert.deepEqual(policy, {
      status: 200,
      body: 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n',
    });
    const certificate = await servedCertificate(running, 'mta-sts.example.org', root);
    assert.equal(certificate.subjectAltName, 'DNS:mta-sts.example.org');
    assert.equal((await certificate.publicKey.export({ format: 'jwk' })).crv, 'P-256');
    assert.doesNotMatch(JSON.stringify(running.log.lines), /PRIVATE KEY/);

    const listed = spawnSync(process.execPath, [MAIN, 'certs', '--json', '--config', running.configPath], { encoding: 'utf8' });
    const rows = (
      JSON.parse(listed.stdout) as {
        certificates: { host: string; issuer: string; days_left: number; next_renewal: string; last_error: null }[];
      }
    ).certificates;
    assert.deepEqual(
      rows.map((row) => [
        row.host,
        row.issuer.startsWith('CN=Pebble Intermediate CA'),
        row.days_left > 1000,
        Date.parse(row.next_renewal) > Date.now(),
        row.last_error,
      ]),
      [
        ['mta-sts.example.com', true, true, true, null],
        ['mta-sts.example.org', true, true, true, null],
      ],
    );

    const orders = pebble.orderCount();
    assert.equal(orders, 2);
    await running.service.stop();
    restarted = await startTestServiceAt(running.dir, running.configPath, { acmeTiming: timing });
    const again = await servedCertificate(restarted, 'mta-sts.example.org', root);
    assert.equal(again.serialNumber, certificate.serialNumber);
    // Nothing to wait for: a restart that orders nothing is seen over a few 300 ms maintenance rounds.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(pebble.orderCount(), orders);
    assert.equal(restarted.log.events('certificate_order').length, 0);
    // Expiry is visible in the log at start: one line per stored certificate.
    assert.deepEqual(
      restarted.log
        .events('certificate_status')
        .flatMap((line) => line.names as string[])
        .sort(),
      ['mta-sts.example.com', 'mta-sts.example.org'],
    );
  } finally {
    await (restarted ?? running).service.stop().catch(() => undefined);
  }
});

test('a host that cannot validate fails alone; a domain added by reload gets its certificate', async () => {
  const started = Date.now();
  const running = await startTestService(configFor(['example.com', 'unresolvable.example']), { acmeTiming: timing });
  try {
    await loadedFor(running, 'mta-sts.example.com');
    const failure = await running.log.waitFor(
      (line) => line.event === 'certificate_error' && line.host === 'mta-sts.unresolvable.example',
      30_000,
    );
    assert.equal(typeof failure.detail, 'string');
    // The retry is planned at least 3/4 of minRetryMs after the failure; the line's own time
    // comes after the status is stored, which a loaded machine may take longer than that for.
    assert.ok(Date.parse(String(failure.next_attempt)) > started + 0.75 * timing.minRetryMs);
    assert.equal(running.service.listeners.readiness().hostsWithoutCertificate, 1);

    const before = running.log.lines.length;
    await writeFile(running.configPath, configFor(['example.com', 'unresolvable.example', 'example.net']));
    await loadedFor(running, 'mta-sts.example.net', before);
    const policy = await fetchPolicy({ port: running.httpsPort, host: 'mta-sts.example.net', ca: await pebble.issuingRootPem() });
    assert.equal(policy.status, 200);
  } finally {
    await running.service.stop();
  }
});

test('renewal swaps the certificate under a live keep-alive connection; a CA outage keeps the old one', async () => {
  const running = await startTestService(configFor(['example.com']), { acmeTiming: timing });
  const host = 'mta-sts.example.com';
  let keepAlive: TLSSocket | undefined;
  try {
    await loadedFor(running, host);
    const firstRoot = await pebble.issuingRootPem();
    const first = await servedCertificate(running, host, firstRoot);

    // A client keeps a connection open across the renewal.
    keepAlive = connect({ host: '127.0.0.1', port: running.httpsPort, servername: host, ca: firstRoot });
    await new Promise((resolve) => keepAlive!.once('secureConnect', resolve));
    let received = '';
    keepAlive.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const get = `GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

    // The CA is down when the renewal comes due: the failure is logged, the old certificate stays.
    await pebble.pause();
    const beforeOutage = running.log.lines.length;
    clockOffsetMs = new Date(first.validTo).getTime() - Date.now() - 60_000;
    const failure = await running.log.waitFor(
      (line) => line.event === 'certificate_error' && line.host === host && running.log.lines.indexOf(line) >= beforeOutage,
      30_000,
    );
    assert.equal(failure.serving_previous, true);
    assert.equal((await servedCertificate(running, host, firstRoot)).serialNumber, first.serialNumber);

    // Back up (with a new root, as pebble makes one per start): the retry succeeds and is swapped in.
    const beforeRecovery = running.log.lines.length;
    await pebble.restart();
    await loadedFor(running, host, beforeRecovery);
    const secondRoot = await pebble.issuingRootPem();
    const second = await servedCertificate(running, host, secondRoot);
    assert.notEqual(second.serialNumber, first.serialNumber);

    keepAlive.write(get);
    await once(keepAlive, 'data');
    assert.match(received, /^HTTP\/1\.1 200 OK\r\n/);
  } finally {
    clockOffsetMs = 0;
    keepAlive?.destroy();
    await running.service.stop();
  }
});

test('TLS-ALPN-01 on the HTTPS listener, for hosts where port 80 cannot be opened', async () => {
  // A host of its own: an order of an earlier test's service, still in flight at its stop, cannot be counted here.
  const host = 'mta-sts.example.io';
  const httpValidations = () => pebble.output.split(`Attempting to validate w/ HTTP: http://${host}:`).length - 1;
  const running = await startTestService(configFor(['example.io'], 'tls-alpn-01', httpsPort), { acmeTiming: timing });
  try {
    await loadedFor(running, host);
    const policy = await fetchPolicy({ port: running.httpsPort, host, ca: await pebble.issuingRootPem() });
    assert.equal(policy.status, 200);
    assert.equal(running.log.lines.filter((line) => line.event === 'certificate_order').length, 1);
    // Validated on the HTTPS port: pebble never fetched a token for this host from a port-80 listener.
    assert.equal(httpValidations(), 0);
  } finally {
    await running.service.stop();
  }
});

test('External Account Binding from the environment; the HMAC key never reaches the log', async () => {
  const eab = { kid: 'kid-mta-sts-test', hmacKey: randomBytes(32).toString('base64url') };
  const [eabHttpPort] = (await freePorts(1)) as [number];
  const eabPebble = await TestPebble.start({ dnsPort: dns.port, httpPort: eabHttpPort, eab });
  process.env.MTA_STS_ACME_EAB_KID = eab.kid;
  process.env.MTA_STS_ACME_EAB_HMAC_KEY = eab.hmacKey;
  const config = configFor(['example.com'])
    .replace(`http: ${httpPort}`, `http: ${eabHttpPort}`)
    .replace(pebble.directoryUrl, eabPebble.directoryUrl);
  let running: TestService | undefined;
  try {
    running = await startTestService(config, { acmeTiming: timing });
    await loadedFor(running, 'mta-sts.example.com');
    assert.match(eabPebble.output, /There are now 1 accounts/);
    assert.doesNotMatch(JSON.stringify(running.log.lines), new RegExp(eab.hmacKey));
  } finally {
    delete process.env.MTA_STS_ACME_EAB_KID;
    delete process.env.MTA_STS_ACME_EAB_HMAC_KEY;
    await running?.service.stop();
    await eabPebble.stop();
  }
});
