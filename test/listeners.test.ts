import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { connect } from 'node:tls';
import { parseConfigText } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { StartError } from '../src/config/start-error.js';
import { createFetchLog } from '../src/fetches/fetch-log.js';
import { ProviderClassifier, SHIPPED_PROVIDERS_FILE } from '../src/fetches/providers.js';
import { createLogger } from '../src/log/logger.js';
import { ServiceMetrics } from '../src/metrics/service-metrics.js';
import { trustedProxies } from '../src/net/trust-proxy.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { createReportIntake } from '../src/reports/intake.js';
import { Listeners } from '../src/server/listeners.js';
import { openBackends } from '../src/storage/backends.js';
import { loadCertificate, type ServedCertificate } from '../src/tls/certificate.js';
import { TWO_DOMAINS } from './support/apps.js';
import { issueTestCertificate } from './support/certificates.js';
import { LogCapture, writeTestConfig } from './support/service.js';
import { msUntil } from './support/deadline.js';
import { rawHttpsRequest } from './support/raw-client.js';
import { COM, ORG } from './support/tls-fixtures.js';

// The service's listeners in process, built from a config as the service builds them: which
// setting a bind failure names, the service_started line, SNI selection and a prompt stop.

/** Listeners from this config text (after the domains), not started; stopped when the test ends. */
async function listenersFor(
  t: TestContext,
  yaml: string,
  options: {
    certificateFor?: (host: string) => ServedCertificate | undefined;
    challenge?: (host: string) => ServedCertificate | undefined;
    /** Changes the loaded config, for what the schema would refuse. */
    edit?: (config: Config) => void;
  } = {},
) {
  const loaded = parseConfigText(`${TWO_DOMAINS}${yaml}`, 'listeners.yaml');
  assert.ok(loaded.ok, JSON.stringify(loaded));
  const { config } = loaded;
  options.edit?.(config);
  const set = new PolicySet(config.domains);
  const log = new LogCapture();
  const logger = createLogger('info', log);
  const { dir } = await writeTestConfig('');
  const store = await openBackends({ stateDir: dir }).openTlsReportStore('read-write');
  const domains = () => new Set(['example.com', 'example.org']);
  const classifier = await ProviderClassifier.fromFile(SHIPPED_PROVIDERS_FILE);
  const listeners = new Listeners({
    log: logger,
    listen: config.listen,
    admin: config.admin,
    policies: () => set,
    trustProxy: trustedProxies([]),
    recordFetch: createFetchLog(logger, () => classifier),
    certificates: {
      certificateFor: options.certificateFor ?? (() => undefined),
      challengeCertificate: options.challenge ?? (() => undefined),
      keyAuthorization: async () => undefined,
    },
    metrics: new ServiceMetrics({ policies: () => set, certificateFor: () => undefined }),
    connectionLimits: { keepAliveTimeoutMs: 60_000, inactivityTimeoutMs: 60_000 },
    smtpReports: config.reports.smtp.enabled
      ? {
          settings: config.reports.smtp,
          intake: createReportIntake({ store, domains, log: logger, maxReportBytes: 65_536 }),
          domains,
          admitLine: () => true,
        }
      : undefined,
  });
  t.after(async () => {
    await listeners.stop();
    await store.close();
  });
  return { listeners, log, set, config };
}

/** A port taken on `address` by another server for the rest of the test. */
async function takenPort(t: TestContext, address: string): Promise<number> {
  const server: Server = createServer();
  server.listen(0, address);
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

const LOOPBACK = `listen: { address: 127.0.0.1, https: 0, http: 0 }
admin: { enabled: false }
reports: { smtp: { enabled: false } }
`;

test('a port in use fails the start with the setting that chose it, and stop() then closes what had started', async (t) => {
  const port = await takenPort(t, '127.0.0.1');
  const port6 = await takenPort(t, '::1');
  const cases: [string, string, string, string][] = [
    [
      `listen: { address: 127.0.0.1, https: ${port}, http: 0 }\nadmin: { enabled: false }\n`,
      'listen.https',
      '127.0.0.1',
      `127.0.0.1:${port}`,
    ],
    [
      `listen: { address: 127.0.0.1, https: 0, http: ${port} }\nadmin: { enabled: false }\n`,
      'listen.http',
      '127.0.0.1',
      `127.0.0.1:${port}`,
    ],
    [
      `listen: { address: "::1", https: ${port6}, http: 0 }\nadmin: { enabled: false }\n`,
      'listen.https',
      '::1',
      `[::1]:${port6}`,
    ],
    [
      `listen: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { address: 127.0.0.1, port: ${port} }\n`,
      'admin.port',
      '127.0.0.1',
      `127.0.0.1:${port}`,
    ],
    [
      `listen: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { enabled: false }\nreports: { smtp: { enabled: true, address: 127.0.0.1, port: ${port} } }\n`,
      'reports.smtp.port',
      '127.0.0.1',
      `127.0.0.1:${port}`,
    ],
  ];
  for (const [yaml, setting, address, where] of cases) {
    const { listeners } = await listenersFor(t, yaml);
    const failure = await listeners.start().then(
      () => assert.fail(`${setting}: started`),
      (error: unknown) => error,
    );
    assert.ok(failure instanceof StartError, setting);
    const taken = Number(where.slice(where.lastIndexOf(':') + 1));
    assert.equal(failure.message, `${setting}: cannot listen on ${where}: another program uses port ${taken}`);
    assert.deepEqual(failure.fields, { setting, address, port: taken, code: 'EADDRINUSE' });
    await listeners.stop();
    assert.equal(listeners.httpsAddress, null, `${setting}: the policy listener is closed again`);
  }
});

test('an address this machine does not have names the address setting of that listener', async (t) => {
  // 192.0.2.1 is TEST-NET-1 (RFC 5737): no interface here has it.
  const cases: [string, string][] = [
    ['listen: { address: 192.0.2.1, https: 0, http: 0 }\nadmin: { enabled: false }\n', 'listen.address'],
    [
      'listen: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { address: 192.0.2.1, port: 0, token: admin-token-0123456789 }\n',
      'admin.address',
    ],
    [
      'listen: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { enabled: false }\nreports: { smtp: { enabled: true, address: 192.0.2.1, port: 0 } }\n',
      'reports.smtp.address',
    ],
  ];
  for (const [yaml, setting] of cases) {
    const { listeners } = await listenersFor(t, yaml);
    const failure = await listeners.start().then(
      () => assert.fail(`${setting}: started`),
      (error: unknown) => error,
    );
    assert.ok(failure instanceof StartError, setting);
    assert.equal(failure.message, `${setting}: 192.0.2.1 is not an address of this machine`);
    assert.deepEqual(failure.fields, { setting, address: '192.0.2.1', port: 0, code: 'EADDRNOTAVAIL' });
  }
});

test('a bind error the messages do not know is passed on as it is', async (t) => {
  // The config refuses such a port; a caller that passes one gets Node's own error.
  const { listeners } = await listenersFor(t, LOOPBACK, { edit: (config) => (config.listen.https = 70_000) });
  const failure = await listeners.start().then(
    () => assert.fail('started'),
    (error: unknown) => error,
  );
  assert.ok(!(failure instanceof StartError));
  assert.equal((failure as NodeJS.ErrnoException).code, 'ERR_SOCKET_BAD_PORT');
});

test('service_started names every listener and the records to publish, up to the limit', async (t) => {
  const { listeners, log, set, config } = await listenersFor(
    t,
    'listen: { address: 127.0.0.1, https: 0, http: 0 }\nadmin: { address: 127.0.0.1, port: 0 }\nreports: { smtp: { enabled: true, address: 127.0.0.1, port: 0 } }\n',
  );
  await listeners.start();
  listeners.announce(set, 2);
  listeners.announce(set, 1);
  listeners.announce(new PolicySet(config.domains.filter((domain) => domain.name === 'example.org')), 5);
  const [both, over, one] = log.events('service_started');
  const loopback = (address: AddressInfo | undefined) => ({ address: '127.0.0.1', family: 'IPv4', port: address!.port });
  const id = (domain: string) => [...set.policies].find((served) => served.domain === domain)!.id;
  assert.deepEqual(both, {
    ...both,
    https: loopback(listeners.httpsAddress),
    http: loopback(listeners.httpAddress),
    admin: loopback(listeners.adminAddress),
    smtp: loopback(listeners.smtpAddress),
    domains: 2,
    publish: [
      `${'_mta-sts.example.com.'.padEnd(40)} 3600 IN TXT   "v=STSv1; id=${id('example.com')}"`,
      `${'_mta-sts.example.org.'.padEnd(40)} 3600 IN TXT   "v=STSv1; id=${id('example.org')}"`,
    ],
    msg: 'serving 2 MTA-STS policies',
  });
  assert.equal(over!.publish, undefined);
  assert.equal(over!.domains, 2);
  assert.equal(one!.msg, 'serving 1 MTA-STS policy');
  for (const port of [
    listeners.httpsAddress.port,
    listeners.httpAddress.port,
    listeners.adminAddress!.port,
    listeners.smtpAddress!.port,
  ])
    assert.notEqual(port, 0);
});

/** A certificate for `hosts` from its own test CA, ready to serve. */
async function servedCertificate(hosts: string[]) {
  const { dir } = await writeTestConfig('');
  const issued = await issueTestCertificate(join(dir, 'certificate'), hosts);
  return loadCertificate(await readFile(issued.certPath, 'utf8'), await readFile(issued.keyPath, 'utf8'), issued.certPath);
}

test('SNI: a pending TLS-ALPN-01 challenge takes the handshake for its host, others get their certificate or the neutral one', async (t) => {
  const [hosts, challenge] = await Promise.all([servedCertificate([COM, ORG]), servedCertificate([COM])]);
  const { listeners } = await listenersFor(t, LOOPBACK, {
    certificateFor: (host) => (host === COM || host === ORG ? hosts : undefined),
    challenge: (host) => (host === COM ? challenge : undefined),
  });
  await listeners.start();
  const servedTo = async (servername: string | undefined) => {
    const socket = connect({
      host: '127.0.0.1',
      port: listeners.httpsAddress.port,
      rejectUnauthorized: false,
      ALPNProtocols: ['acme-tls/1'],
      ...(servername && { servername }),
    });
    await once(socket, 'secureConnect');
    const certificate = socket.getPeerCertificate();
    socket.destroy();
    return certificate;
  };
  assert.equal((await servedTo(COM)).serialNumber, challenge.serialNumber);
  assert.equal((await servedTo(ORG)).serialNumber, hosts.serialNumber);
  assert.equal((await servedTo(undefined)).subject?.CN, 'mta-sts-server');
});

test('stop() closes idle keep-alive connections at once rather than waiting out their timeout', async (t) => {
  const { listeners } = await listenersFor(t, LOOPBACK);
  await listeners.start();
  const request = 'GET /healthz HTTP/1.1\r\nHost: mta-sts.example.com\r\n\r\n';
  const idle = [
    connect({ host: '127.0.0.1', port: listeners.httpsAddress.port, rejectUnauthorized: false }),
    createConnection({ host: '127.0.0.1', port: listeners.httpAddress.port }),
  ];
  for (const socket of idle) {
    socket.on('error', () => undefined);
    socket.write(request);
    await once(socket, 'data');
  }
  // The connections' keep-alive and inactivity timeouts are 60 s.
  await msUntil(Promise.all([listeners.stop(), ...idle.map((socket) => once(socket, 'close'))]), 10_000);
});

test('listening on "::" serves IPv4 clients too, and logs them by their IPv4 address', async (t) => {
  const { listeners, log } = await listenersFor(t, 'listen: { address: "::", https: 0, http: 0 }\nadmin: { enabled: false }\n');
  await listeners.start();
  assert.equal(listeners.httpsAddress.address, '::');
  for (const host of ['127.0.0.1', '::1']) {
    const answer = await rawHttpsRequest(
      listeners.httpsAddress.port,
      'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: mta-sts.example.com\r\nConnection: close\r\n\r\n',
      { host, rejectUnauthorized: false },
    );
    // No SNI: the neutral certificate does not cover the host.
    assert.equal(answer.status, 421, host);
  }
  assert.deepEqual(
    log.events('policy_fetch').map((line) => line.ip),
    ['127.0.0.1', '::1'],
  );
});
