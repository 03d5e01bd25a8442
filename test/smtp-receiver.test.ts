import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import nodemailer from 'nodemailer';
import { ReportStoreUnavailableError, type IntakeOutcome, type IntakePath } from '../src/reports/intake.js';
import type { SmtpLimits } from '../src/reports/smtp-receiver.js';
import type { ServedCertificate } from '../src/tls/certificate.js';
import type { TestCertificate } from './support/certificates.js';
import { reportsTestConfig, startTestService } from './support/service.js';
import { SmtpDialog } from './support/smtp-dialog.js';
import {
  REPORT_ADDRESS,
  SMTP_HOST,
  smtpTestCertificate,
  startReceiver,
  startStoringReceiver,
  type RunningReceiver,
} from './support/smtp-receiver.js';
import { reportMessage, rfcExampleReport } from './support/tls-reports.js';

// The receiver with real SMTP clients (nodemailer, and a raw dialogue for what nodemailer would
// not send), real STARTTLS and real sockets on loopback. Behind it the real intake and SQLite
// report store, or, to choose the intake's answer, a recording stand-in of the ReportIntake
// interface. swaks, and the whole service, are in test/e2e/smtp-reports.test.ts.

let certificate: TestCertificate;
let served: ServedCertificate;

before(async () => {
  ({ files: certificate, served } = await smtpTestCertificate());
});

/** A report of the RFC 8460 Appendix B example for example.com, new each time (its own report id). */
const newReport = () => rfcExampleReport({ domain: 'example.com', reportId: randomUUID() });

const STORED: IntakeOutcome = {
  outcome: 'stored',
  reports: [
    {
      organization: 'Company-X',
      reportId: 'r',
      policyDomains: ['example.com'],
      start: '2016-04-01T00:00:00Z',
      end: '2016-04-01T23:59:59Z',
      successfulSessions: 5326,
      failedSessions: 303,
    },
  ],
};

/** What the receiver handed to the intake; the answer comes from `answer`, the test's choice. */
class RecordingIntake {
  readonly received: { message: Buffer; via: IntakePath }[] = [];
  private arrivals: (() => void)[] = [];
  answer: (message: Buffer) => Promise<IntakeOutcome> = async () => STORED;

  receiveMessage(message: Buffer, via: IntakePath): Promise<IntakeOutcome> {
    this.received.push({ message, via });
    for (const arrived of this.arrivals.splice(0)) arrived();
    return this.answer(message);
  }

  /** Resolves once the intake has been called `count` times in all. */
  async calls(count: number): Promise<void> {
    while (this.received.length < count) await new Promise<void>((resolve) => this.arrivals.push(resolve));
  }
}

const running: RunningReceiver[] = [];

async function startRecordingReceiver(options: { limits?: Partial<SmtpLimits>; extraRecipients?: string[] } = {}) {
  const intake = new RecordingIntake();
  const started = await startReceiver(served, intake, options);
  running.push(started);
  return { ...started, intake };
}

after(async () => {
  await Promise.all(running.map(({ receiver }) => receiver.stop()));
});

/** A report message whose report part is `body` as it is (a gzip bomb, say). */
function messageWithReportPart(body: Buffer): Buffer {
  const message = reportMessage(newReport(), { to: REPORT_ADDRESS }).toString();
  const [head, rest] = message.split('Content-Disposition: attachment');
  const partEnd = rest!.indexOf('\r\n\r\n') + 4;
  const [, tail] = rest!.slice(partEnd).split(/\r\n\r\n(?=------=_Boundary--)/);
  const base64 = body
    .toString('base64')
    .match(/.{1,76}/g)!
    .join('\r\n');
  return Buffer.from(`${head}Content-Disposition: attachment${rest!.slice(0, partEnd)}${base64}\r\n\r\n${tail}`);
}

test('through the real intake and store: stored once (a retry is a duplicate), a gzip bomb and a report for a domain not served refused 550 5.6.0 and kept as rejected', async () => {
  const started = await startStoringReceiver(served);
  running.push(started);
  const { port, store } = started;
  const report = newReport();
  const send = (raw: Buffer) =>
    transport(port, 'starttls').sendMail({ envelope: { from: 'noreply@reporter.example', to: [REPORT_ADDRESS] }, raw });
  assert.match((await send(reportMessage(report, { to: REPORT_ADDRESS }))).response, /^250 2\.6\.0 report stored/);
  assert.match((await send(reportMessage(report, { to: REPORT_ADDRESS }))).response, /^250 2\.6\.0 report already stored/);
  const stored = await store.policyResults({ sinceDay: '2000-01-01' });
  assert.deepEqual(
    stored.map(({ reportId, via, successfulSessions, failedSessions }) => ({
      reportId,
      via,
      successfulSessions,
      failedSessions,
    })),
    [{ reportId: report['report-id'], via: 'smtp', successfulSessions: 5326, failedSessions: 303 }],
  );

  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  await assert.rejects(send(messageWithReportPart(bomb)), (error: { response?: string }) => {
    assert.match(error.response!, /^550 5\.6\.0 report rejected: .*inflates to more than 1048576 bytes/);
    return true;
  });
  const elsewhere = rfcExampleReport({ domain: 'example.net', reportId: randomUUID() });
  await assert.rejects(send(reportMessage(elsewhere, { to: REPORT_ADDRESS })), (error: { response?: string }) => {
    assert.match(error.response!, /^550 5\.6\.0 report rejected: .*example\.net/);
    return true;
  });
  assert.equal((await store.rejected({ sinceDay: '2000-01-01' })).length, 2);
  assert.equal((await store.policyResults({ sinceDay: '2000-01-01' })).length, 1);
});

function transport(port: number, tls: 'starttls' | 'plain') {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    name: 'sender.example',
    ...(tls === 'starttls'
      ? // Verified against the test CA for the policy host's name: only the policy host's certificate passes.
        { requireTLS: true, tls: { ca: certificate.caPem, servername: SMTP_HOST, rejectUnauthorized: true } }
      : { ignoreTLS: true }),
  });
}

function sendReport(port: number, tls: 'starttls' | 'plain', encoding: 'gzip' | 'json', to = REPORT_ADDRESS) {
  const raw = reportMessage(newReport(), { to, json: encoding === 'json' });
  return transport(port, tls).sendMail({ envelope: { from: 'noreply-smtp-tls-reporting@company-x.example', to: [to] }, raw });
}

/** EHLO, MAIL and RCPT by hand; the RCPT reply. */
async function rcpt(dialog: SmtpDialog, recipient: string) {
  assert.equal((await dialog.command('EHLO sender.example')).code, 250);
  assert.equal((await dialog.command('MAIL FROM:<reports@sender.example>')).code, 250);
  return dialog.command(`RCPT TO:<${recipient}>`);
}

test('nodemailer over STARTTLS, verified for the policy host: a gzip report is handed to the intake whole and answered 250 once stored', async () => {
  const { port, intake } = await startRecordingReceiver();
  const info = await sendReport(port, 'starttls', 'gzip');
  assert.match(info.response, /^250 2\.6\.0 report stored/);
  assert.deepEqual(info.accepted, [REPORT_ADDRESS]);
  assert.equal(intake.received.length, 1);
  assert.equal(intake.received[0]!.via, 'smtp');
  const message = intake.received[0]!.message.toString('latin1');
  assert.match(message, /Content-Type: multipart\/report; report-type="tlsrpt"/);
  assert.match(message, /Content-Type: application\/tlsrpt\+gzip/);
  assert.match(message, /filename="reporter\.example!example\.com!1479168000!1479254399!/);
});

test('nodemailer without STARTTLS: a plain-JSON report is taken as well', async () => {
  const { port, intake } = await startRecordingReceiver();
  const info = await sendReport(port, 'plain', 'json');
  assert.match(info.response, /^250 /);
  assert.match(intake.received[0]!.message.toString('latin1'), /Content-Type: application\/tlsrpt\+json/);
});

test('EHLO offers STARTTLS and SIZE with the limit, no AUTH; without SNI the neutral certificate, TLS below 1.2 refused', async () => {
  const { port } = await startRecordingReceiver({ limits: { maxMessageBytes: 4096 } });
  const { dialog, greeting } = await SmtpDialog.open(port);
  assert.match(greeting.text, /^220 mx\.test ESMTP/);
  const ehlo = await dialog.command('EHLO sender.example');
  assert.ok(ehlo.lines.includes('STARTTLS'), ehlo.text);
  assert.ok(ehlo.lines.includes('SIZE 4096'), ehlo.text);
  assert.ok(!ehlo.lines.some((line) => line.startsWith('AUTH')), ehlo.text);
  assert.equal((await dialog.command('AUTH PLAIN AGxvZ2luAHBhc3N3b3Jk')).code, 500);
  const { certificate: neutral } = await dialog.startTls({ rejectUnauthorized: false });
  assert.equal(neutral.subject.CN, 'mta-sts-server', 'a client without SNI learns no configured domain');
  assert.equal((await dialog.command('EHLO sender.example')).code, 250);
  dialog.end();

  const old = await SmtpDialog.open(port);
  await old.dialog.command('EHLO sender.example');
  await assert.rejects(old.dialog.startTls({ rejectUnauthorized: false, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }));
  old.dialog.destroy();
});

test('never a relay: other domains get 550 5.7.1 at RCPT, other mailboxes of ours 550 5.1.1; listed recipients and domains added by a reload are taken', async () => {
  const { port, domains, intake, log } = await startRecordingReceiver({ extraRecipients: ['TLS-Reports@Reports.Example.net'] });
  const refusals: [string, RegExp][] = [
    ['someone@gmail.com', /^550 5\.7\.1 relay denied/],
    ['tlsrpt@example.com', /^550 5\.7\.1 relay denied/],
    ['tlsrpt@mta-sts.example.net', /^550 5\.7\.1 relay denied/],
    ['tlsrpt@mta-sts.example.com@gmail.com', /^5\d\d /],
    ['postmaster@mta-sts.example.com', /^550 5\.1\.1 no such user/],
    ['other@reports.example.net', /^550 5\.1\.1 no such user/],
    ['tlsrpt@mta-sts.example.io', /^550 5\.7\.1 relay denied/],
  ];
  for (const [recipient, expected] of refusals) {
    const { dialog } = await SmtpDialog.open(port);
    const reply = await rcpt(dialog, recipient);
    assert.match(reply.text, expected, recipient);
    // With no recipient accepted, nothing can be sent on.
    assert.equal((await dialog.command('DATA')).code, 503, recipient);
    dialog.end();
  }
  for (const recipient of ['TLSRPT@MTA-STS.Example.COM', 'tlsrpt@mta-sts.example.org', 'tls-reports@reports.example.net']) {
    const { dialog } = await SmtpDialog.open(port);
    assert.equal((await rcpt(dialog, recipient)).code, 250, recipient);
    dialog.end();
  }
  domains.add('example.io');
  const { dialog } = await SmtpDialog.open(port);
  assert.equal((await rcpt(dialog, 'tlsrpt@mta-sts.example.io')).code, 250);
  dialog.end();
  assert.equal(intake.received.length, 0);
  const refused = log.events('smtp_recipient_refused');
  assert.deepEqual(refused.map((line) => [line.recipient, line.reason]).slice(0, 2), [
    ['someone@gmail.com', 'relay_denied'],
    ['tlsrpt@example.com', 'relay_denied'],
  ]);
  assert.equal(refused.find((line) => line.recipient === 'postmaster@mta-sts.example.com')?.reason, 'no_such_user');
});

test('a recipient with bidirectional controls is logged escaped', async () => {
  const { port, log } = await startRecordingReceiver();
  const { dialog } = await SmtpDialog.open(port);
  assert.equal((await dialog.command('EHLO sender.example')).code, 250);
  assert.equal((await dialog.command('MAIL FROM:<a@sender.example> SMTPUTF8')).code, 250);
  const evil = `${'\u202e'.repeat(3)}${'x'.repeat(200)}@evil.example`;
  assert.equal((await dialog.command(`RCPT TO:<${evil}>`)).code, 550);
  dialog.end();
  const line = await log.waitFor((entry) => entry.event === 'smtp_recipient_refused');
  const recipient = String(line.recipient);
  assert.ok(recipient.startsWith('\\u202e\\u202e\\u202e'), recipient.slice(0, 40));
  assert.ok(!recipient.includes('\u202e'));
});

test('the intake decides the reply: duplicate 250, rejected 550 5.6.0 with the reason, store unavailable 451 4.3.0 (and a retry is then stored)', async () => {
  const { port, intake, log } = await startRecordingReceiver();
  intake.answer = async () => ({ outcome: 'duplicate', reports: STORED.reports });
  assert.match((await sendReport(port, 'plain', 'gzip')).response, /^250 2\.6\.0 report already stored/);

  intake.answer = async () => ({ outcome: 'rejected', reason: 'invalid JSON at position 17\r\n250 fake' });
  await assert.rejects(sendReport(port, 'plain', 'gzip'), (error: { responseCode?: number; response?: string }) => {
    assert.equal(error.responseCode, 550);
    assert.match(error.response!, /^550 5\.6\.0 report rejected: invalid JSON at position 17\\u000d\\u000a250 fake$/);
    return true;
  });

  let unavailable = true;
  intake.answer = async () => {
    if (unavailable) throw new ReportStoreUnavailableError('database is locked');
    return STORED;
  };
  await assert.rejects(sendReport(port, 'plain', 'gzip'), (error: { responseCode?: number; response?: string }) => {
    assert.equal(error.responseCode, 451);
    assert.match(error.response!, /^451 4\.3\.0 /);
    return true;
  });
  assert.equal((await log.waitFor((line) => line.event === 'smtp_message_deferred')).error, 'database is locked');
  unavailable = false;
  assert.match((await sendReport(port, 'plain', 'gzip')).response, /^250 2\.6\.0 report stored/);

  // Any other failure in the intake is not a reason to lose the report either: the sender retries.
  intake.answer = async () => {
    throw new TypeError('a bug');
  };
  await assert.rejects(sendReport(port, 'plain', 'gzip'), (error: { responseCode?: number }) => error.responseCode === 451);
});

test('250 comes only after the intake has stored the report', async () => {
  const { port, intake } = await startRecordingReceiver();
  let store!: () => void;
  intake.answer = () => new Promise((resolve) => (store = () => resolve(STORED)));
  const { dialog } = await SmtpDialog.open(port);
  assert.equal((await rcpt(dialog, REPORT_ADDRESS)).code, 250);
  assert.equal((await dialog.command('DATA')).code, 354);
  dialog.write(Buffer.concat([reportMessage(newReport(), { to: REPORT_ADDRESS }), Buffer.from('.\r\n')]));
  await intake.calls(1);
  // A whole session on another connection while the store is busy: the first client has no answer yet.
  const other = await SmtpDialog.open(port);
  assert.equal((await other.dialog.command('NOOP')).code, 250);
  other.dialog.end();
  assert.equal(dialog.hasUnreadReply, false, 'no reply while the report is not stored');
  store();
  assert.match((await dialog.reply()).text, /^250 2\.6\.0 report stored/);
  dialog.end();
});

test('a 50 MB message: refused at MAIL when it says its SIZE, read and answered 552 when it does not, never handed on; the session goes on', async () => {
  const { port, intake, log } = await startRecordingReceiver();
  const bytes = 50 * 1024 * 1024;
  const { dialog } = await SmtpDialog.open(port);
  assert.equal((await dialog.command('EHLO sender.example')).code, 250);
  assert.equal((await dialog.command(`MAIL FROM:<reports@sender.example> SIZE=${bytes}`)).code, 552);
  assert.equal((await dialog.command('MAIL FROM:<reports@sender.example>')).code, 250);
  assert.equal((await dialog.command(`RCPT TO:<${REPORT_ADDRESS}>`)).code, 250);
  assert.equal((await dialog.command('DATA')).code, 354);
  const line = `${'A'.repeat(998)}\r\n`;
  const block = Buffer.from(line.repeat(1024));
  for (let sent = 0; sent < bytes; sent += block.length) {
    if (!dialog.write(block)) await dialog.drained();
  }
  dialog.write('.\r\n');
  assert.match((await dialog.reply()).text, /^552 5\.3\.4 message larger than the limit of 10485760 bytes/);
  assert.equal(intake.received.length, 0);
  assert.equal((await log.waitFor((entry) => entry.event === 'smtp_message_refused')).reason, 'too_big');
  assert.equal((await dialog.command('RSET')).code, 250, 'the session is still usable');
  dialog.end();
});

test('connections per address: one more is answered 421 and closed; a closed one makes room', async () => {
  const { port, log } = await startRecordingReceiver({ limits: { connectionsPerAddress: 2 } });
  const first = await SmtpDialog.open(port);
  const second = await SmtpDialog.open(port);
  const third = await SmtpDialog.open(port);
  assert.match(third.greeting.text, /^421 4\.7\.0 too many connections from your address \(at most 2\)/);
  await third.dialog.closed;
  assert.equal((await log.waitFor((line) => line.event === 'smtp_session_refused')).reason, 'connections_per_address');
  first.dialog.end();
  await first.dialog.closed;
  // The server has to see the close first: wait on it through a session that is still open.
  assert.equal((await second.dialog.command('NOOP')).code, 250);
  const fourth = await SmtpDialog.open(port);
  assert.match(fourth.greeting.text, /^220 /);
  second.dialog.end();
  fourth.dialog.end();
});

test('a silent client is closed after the idle timeout; a busy one after the session time limit', async () => {
  const { port } = await startRecordingReceiver({ limits: { idleTimeoutMs: 300, sessionTimeoutMs: 1_500 } });
  const silent = await SmtpDialog.open(port);
  assert.equal((await silent.dialog.reply()).code, 421);
  await silent.dialog.closed;

  const busy = await SmtpDialog.open(port);
  let reply = await busy.dialog.command('EHLO sender.example');
  let commands = 0;
  // NOOP after NOOP, each well inside the idle timeout, until the session limit ends it.
  while (reply.code === 250) {
    reply = await busy.dialog.command('NOOP');
    commands++;
  }
  assert.match(reply.text, /^421 4\.4\.2 session time limit reached/);
  assert.ok(commands > 10, `${commands} commands`);
  await busy.dialog.closed;
});

test('stop: a session between messages is answered 421 at once; a report being stored gets its 250 first, then 421', async () => {
  const { port, intake, receiver } = await startRecordingReceiver();
  let store!: () => void;
  intake.answer = () => new Promise((resolve) => (store = () => resolve(STORED)));
  const idle = await SmtpDialog.open(port);
  assert.equal((await idle.dialog.command('EHLO sender.example')).code, 250);
  const sending = await SmtpDialog.open(port);
  assert.equal((await rcpt(sending.dialog, REPORT_ADDRESS)).code, 250);
  assert.equal((await sending.dialog.command('DATA')).code, 354);
  sending.dialog.write(Buffer.concat([reportMessage(newReport(), { to: REPORT_ADDRESS, json: true }), Buffer.from('.\r\n')]));
  await intake.calls(1);

  const stopped = receiver.stop();
  assert.match((await idle.dialog.reply()).text, /^421 4\.3\.2 shutting down/);
  await idle.dialog.closed;
  store();
  assert.match((await sending.dialog.reply()).text, /^250 2\.6\.0 report stored/);
  assert.match((await sending.dialog.reply()).text, /^421 /);
  await sending.dialog.closed;
  await stopped;
});

test('in the service: reports.smtp enabled listens (smtp in service_started), stores a report, and takes the domains a reload adds', async () => {
  const running = await startTestService(reportsTestConfig('smtp: { enabled: true, address: 127.0.0.1, port: 0 }'));
  try {
    const started = running.log.events('service_started')[0]!;
    const { port } = started.smtp as { port: number };
    const report = rfcExampleReport({ domain: 'example.com', reportId: randomUUID() });
    const sent = await transport(port, 'plain').sendMail({
      envelope: { from: 'noreply@reporter.example', to: [REPORT_ADDRESS] },
      raw: reportMessage(report, { to: REPORT_ADDRESS }),
    });
    assert.match(sent.response, /^250 2\.6\.0 report stored/);
    const stored = await running.log.waitFor((line) => line.event === 'tlsrpt_report');
    assert.deepEqual([stored.via, stored.report_id], ['smtp', report['report-id']]);

    const { dialog } = await SmtpDialog.open(port);
    assert.match((await rcpt(dialog, 'tlsrpt@mta-sts.example.net')).text, /^550 5\.7\.1 /);
    await writeFile(
      running.configPath,
      reportsTestConfig('smtp: { enabled: true, address: 127.0.0.1, port: 0 }').replace(
        'domains:\n',
        'domains:\n  example.net: { mx: [mail.example.net] }\n',
      ),
    );
    await running.service.reload();
    assert.equal((await dialog.command('RCPT TO:<tlsrpt@mta-sts.example.net>')).code, 250, 'the same session, after the reload');
    dialog.end();
  } finally {
    await running.service.stop();
  }
});
