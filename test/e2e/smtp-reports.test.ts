import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SqliteTlsReportStore } from '../../src/storage/sqlite-tls-report-store.js';
import type { TestCertificate } from '../support/certificates.js';
import {
  REPORT_ADDRESS,
  SMTP_HOST,
  smtpTestCertificate,
  startStoringReceiver,
  type RunningReceiver,
} from '../support/smtp-receiver.js';
import { jsonBody, reportMessage, rfcExampleReport } from '../support/tls-reports.js';

// Reports sent by Debian's swaks, an SMTP client independent of this code base, to the receiver
// in front of the real intake and SQLite store: over STARTTLS verified for the policy host and
// without it, the RFC 8460 §5.3 message and swaks's own multipart/mixed with a JSON attachment,
// and a relay attempt.

let certificate: TestCertificate;
let receiver: RunningReceiver & { store: SqliteTlsReportStore };
let dir: string;

before(async () => {
  const made = await smtpTestCertificate();
  certificate = made.files;
  receiver = await startStoringReceiver(made.served);
  dir = await mkdtemp(join(tmpdir(), 'mta-sts-swaks-'));
  await writeFile(join(dir, 'ca.pem'), certificate.caPem);
});

after(async () => {
  await receiver?.receiver.stop();
  await receiver?.store.close();
});

/** swaks with `args` after the server and envelope; its transcript and exit status (24 and up: the server refused). */
function swaks(to: string, args: string[]): Promise<{ code: number; transcript: string }> {
  const command = ['--server', '127.0.0.1', '--port', String(receiver.port), '--ehlo', 'sender.example'];
  const envelope = ['--from', 'noreply-smtp-tls-reporting@reporter.example', '--to', to];
  return new Promise((resolve, reject) =>
    execFile('swaks', [...command, ...envelope, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error);
      resolve({ code: typeof error?.code === 'number' ? error.code : 0, transcript: stdout + stderr });
    }),
  );
}

const storedIds = async () => (await receiver.store.policyResults({ sinceDay: '2000-01-01' })).map((result) => result.reportId);

test('swaks over STARTTLS, verified against the test CA for the policy host: the RFC 8460 §5.3 message with a gzip report is stored', async () => {
  const report = rfcExampleReport({ domain: 'example.com', reportId: randomUUID() });
  const file = join(dir, 'gzip.eml');
  await writeFile(file, reportMessage(report, { to: REPORT_ADDRESS }));
  const tls = ['--tls', '--tls-verify', '--tls-ca-path', join(dir, 'ca.pem'), '--tls-sni', SMTP_HOST];
  const { code, transcript } = await swaks(REPORT_ADDRESS, [...tls, '--data', `@${file}`]);
  assert.equal(code, 0, transcript);
  assert.match(transcript, /=== TLS started with cipher TLSv1\.[23]/);
  assert.match(transcript, /=== TLS peer DN="\/CN=mta-sts\.example\.com"/);
  assert.match(transcript, /<~ +250 2\.6\.0 report stored \(1\)/);
  assert.ok((await storedIds()).includes(report['report-id']));
});

test('swaks without STARTTLS, its own multipart/mixed with the report as a plain-JSON attachment: stored', async () => {
  const report = rfcExampleReport({ domain: 'example.org', reportId: randomUUID() });
  const file = join(dir, 'report.json');
  await writeFile(file, jsonBody(report));
  const name = `reporter.example!example.org!1459468800!1459555199!${report['report-id']}.json`;
  const attach = ['--attach-type', 'application/tlsrpt+json', '--attach-name', name, '--attach', `@${file}`];
  const { code, transcript } = await swaks('tlsrpt@mta-sts.example.org', ['--body', 'A TLS report.', ...attach]);
  assert.equal(code, 0, transcript);
  assert.doesNotMatch(transcript, /TLS started/);
  assert.match(transcript, /<- +250 2\.6\.0 report stored \(1\)/);
  assert.ok((await storedIds()).includes(report['report-id']));
});

test('swaks trying to relay: 550 5.7.1 at RCPT, nothing stored', async () => {
  const before = await storedIds();
  const { code, transcript } = await swaks('someone@gmail.com', ['--quit-after', 'RCPT']);
  assert.notEqual(code, 0, transcript);
  assert.match(transcript, /<\*\* +550 5\.7\.1 relay denied/);
  assert.deepEqual(await storedIds(), before);
});
