import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect } from 'node:tls';
import { openBackends } from '../../src/storage/backends.js';
import { caIdOf } from '../../src/tls/acme/acme-issuer.js';
import { DNS_TYPE, TestDnsServer } from '../support/dns-server.js';
import { fetchPolicy } from '../support/fetch-policy.js';
import { serveProcess, type JsonLogProcess } from '../support/json-log-process.js';
import { TestPebble } from '../support/pebble.js';
import { freePorts } from '../support/ports.js';

// Two replicas sharing one state directory, as on a shared volume: A (127.0.0.1) places the
// order, while the policy host's DNS names only B (127.0.0.2), so pebble's HTTP-01 validation
// reaches the replica that did not place the order. B answers it from storage, and then serves
// the certificate A stored. The whole of 127/8 is loopback on Linux: same ports, two addresses.

const HOST = 'mta-sts.example.com';
const A = '127.0.0.1';
const B = '127.0.0.2';

let dns: TestDnsServer;
let pebble: TestPebble;
let httpPort: number;
let httpsPort: number;

before(async () => {
  dns = await TestDnsServer.start();
  dns.setA(HOST, [B]);
  [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  pebble = await TestPebble.start({ dnsPort: dns.port, httpPort });
});

after(async () => {
  await pebble?.stop();
  await dns?.close();
});

/** The one config both replicas run, but for the address each listens on. */
const configFor = (address: string, stateDir: string) => `
domains:
  example.com: { mode: enforce, mx: [mail.example.com] }
listen: { address: ${address}, https: ${httpsPort}, http: ${httpPort} }
admin: { enabled: false }
${pebble.tlsYaml()}
state_dir: ${stateDir}
`;

function servedCertificate(address: string, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port: httpsPort, servername: HOST, ca }, () => {
      resolve(new X509Certificate(socket.getPeerCertificate().raw));
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('HTTP-01 with two replicas sharing the state directory: the validation reaches the replica that did not order, which answers it from storage', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mta-sts-replicas-'));
  const stateDir = join(dir, 'state');
  const configs = [join(dir, 'a.yaml'), join(dir, 'b.yaml')] as const;
  await writeFile(configs[0], configFor(A, stateDir));
  await writeFile(configs[1], configFor(B, stateDir));
  // A third party (a replica creating the ACME account, say) holds the account lock, so A takes
  // the order lock and then waits, until B is up and waiting for that order lock in turn.
  const account = await openBackends({ stateDir }).storage.lock(`account-${caIdOf({ directory: pebble.directoryUrl })}`);
  let a: JsonLogProcess | undefined;
  let b: JsonLogProcess | undefined;
  try {
    a = serveProcess(configs[0]);
    await a.waitFor('certificate_order', (line) => line.event === 'certificate_order' && line.host === HOST, 15_000);
    b = serveProcess(configs[1]);
    await b.waitForEvent('service_started').catch((error: Error) => assert.fail(`${error.message}\n${JSON.stringify(b!.lines)}`));
    await b.waitFor('certificate_pending', (line) => line.event === 'certificate_pending' && line.host === HOST, 15_000);
    await account.release();

    const outcome = await a.waitFor(
      'certificate_loaded or certificate_error',
      (line) => (line.event === 'certificate_loaded' || line.event === 'certificate_error') && line.host === HOST,
      60_000,
    );
    assert.equal(outcome.event, 'certificate_loaded', `A's order failed: ${JSON.stringify(outcome)}\n${pebble.output}`);
    assert.equal(outcome.from_storage, false);
    // B had the order lock after A: it took A's certificate from storage instead of ordering.
    const adopted = await b.waitFor(
      'certificate_loaded',
      (line) => line.event === 'certificate_loaded' && line.host === HOST,
      30_000,
    );
    assert.equal(adopted.from_storage, true);
    assert.equal(adopted.serial, outcome.serial);
    assert.equal(b.lines.filter((line) => line.event === 'certificate_order').length, 0);
    assert.equal(pebble.orderCount(), 1);
    // Pebble found the host by the test's DNS server, which names B alone: its HTTP-01 request went to B.
    assert.ok(dns.queries.some((query) => query.name === HOST && query.type === DNS_TYPE.A));

    const root = await pebble.issuingRootPem();
    const [fromA, fromB] = await Promise.all([servedCertificate(A, root), servedCertificate(B, root)]);
    assert.equal(fromB.serialNumber, fromA.serialNumber);
    assert.equal(fromB.subjectAltName, `DNS:${HOST}`);
    const policy = await fetchPolicy({ address: B, port: httpsPort, host: HOST, ca: root });
    assert.equal(policy.status, 200);
  } finally {
    await account.release();
    await Promise.all([a?.kill(), b?.kill()]);
  }
});
