import assert from 'node:assert/strict';
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:tls';
import { test } from 'node:test';
import { issueTestCertificate } from './support/certificates.js';
import { LOOPBACK_LISTEN, startTestService, writeTestConfig, type TestService } from './support/service.js';

const HOST = 'mta-sts.example.com';

/** Serial number of the certificate a new TLS connection gets. */
function servedSerial(running: TestService, ca: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: running.httpsPort, servername: HOST, ca }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on('error', reject);
  });
}

function readyz(running: TestService): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: running.httpPort, path: '/readyz', headers: { host: HOST } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

/** Installs a certificate the way certbot or a secret mount does: new files renamed into place. */
async function install(from: { certPath: string; keyPath: string }, to: { cert: string; key: string }): Promise<void> {
  await copyFile(from.keyPath, `${to.key}.tmp`);
  await copyFile(from.certPath, `${to.cert}.tmp`);
  await rename(`${to.key}.tmp`, to.key);
  await rename(`${to.cert}.tmp`, to.cert);
}

test('files: rotated without a restart, a broken replacement keeps the working certificate', async () => {
  const { dir } = await writeTestConfig('');
  const first = await issueTestCertificate(`${dir}/ca1`, [HOST]);
  const second = await issueTestCertificate(`${dir}/ca2`, [HOST]);
  const live = { cert: `${dir}/live/fullchain.pem`, key: `${dir}/live/privkey.pem` };
  await mkdir(`${dir}/live`);
  await install(first, live);
  const running = await startTestService(
    `domains:\n  example.com: { mode: none }\ntls: { source: files, certificates: [{ cert: ${live.cert}, key: ${live.key} }] }\n${LOOPBACK_LISTEN}`,
  );
  const trust = [first.caPem, second.caPem];
  try {
    assert.equal(await servedSerial(running, trust), first.serialNumber.toUpperCase());
    assert.equal(await readyz(running), 200);

    await install(second, live);
    await running.log.waitFor((line) => line.event === 'certificate_loaded' && line.serial === second.serialNumber.toUpperCase());
    assert.equal(await servedSerial(running, trust), second.serialNumber.toUpperCase());

    // The rotation's two renames may have been seen one at a time (a new key beside the old
    // certificate, rejected until the certificate followed): only errors from here on count.
    const seen = running.log.lines.length;
    await writeFile(live.cert, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
    const rejected = await running.log.waitFor(
      (line) => line.event === 'certificate_error' && running.log.lines.indexOf(line) >= seen,
    );
    assert.match(String(rejected.error), new RegExp(`^${live.cert}: the first certificate does not parse`));
    assert.equal(await servedSerial(running, trust), second.serialNumber.toUpperCase());
    assert.equal(await readyz(running), 200);
    assert.doesNotMatch(JSON.stringify(running.log.lines), /PRIVATE KEY/);
  } finally {
    await running.service.stop();
  }
});

test('files: a missing certificate is reported and picked up once it appears', async () => {
  const { dir } = await writeTestConfig('');
  const certificate = await issueTestCertificate(`${dir}/ca`, [HOST]);
  const live = { cert: `${dir}/live/fullchain.pem`, key: `${dir}/live/privkey.pem` };
  await mkdir(`${dir}/live`);
  const running = await startTestService(
    `domains:\n  example.com: { mode: none }\ntls: { source: files, certificates: [{ cert: ${live.cert}, key: ${live.key} }] }\n${LOOPBACK_LISTEN}`,
  );
  try {
    const missing = await running.log.waitFor((line) => line.event === 'certificate_error');
    assert.equal(missing.error, `${live.cert}: cannot read: no such file`);
    await running.log.waitFor((line) => line.event === 'certificate_missing' && line.host === HOST);
    assert.equal(await readyz(running), 503);

    await install(certificate, live);
    await running.log.waitFor((line) => line.event === 'certificate_loaded');
    assert.equal(await servedSerial(running, [certificate.caPem]), certificate.serialNumber.toUpperCase());
    assert.equal(await readyz(running), 200);
  } finally {
    await running.service.stop();
  }
});
