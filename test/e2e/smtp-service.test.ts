import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import nodemailer from 'nodemailer';
import { cliProcess } from '../support/cli.js';
import { serveProcess, type JsonLogProcess } from '../support/json-log-process.js';
import { freePorts } from '../support/ports.js';
import { reportsTestConfig, writeTestConfig } from '../support/service.js';
import { SmtpDialog } from '../support/smtp-dialog.js';
import { reportMessage, rfcExampleReport } from '../support/tls-reports.js';

// The service as it runs in production (its own process, `serve`), with reports.smtp enabled:
// a sender's session cut by a crash and retried, a stop in the middle of a message, and the
// result in `mta-sts-server reports --json`.

const REPORT_ADDRESS = 'tlsrpt@mta-sts.example.com';
const processes: JsonLogProcess[] = [];

after(async () => {
  await Promise.all(processes.map((running) => running.kill()));
});

/** A config with the receiver on a fixed loopback port, so that a restarted service is where the sender retries. */
async function smtpConfig(): Promise<{ configPath: string; port: number }> {
  const [port] = await freePorts(1);
  const { configPath } = await writeTestConfig(reportsTestConfig(`smtp: { enabled: true, address: 127.0.0.1, port: ${port} }`));
  return { configPath, port: port! };
}

async function serve(configPath: string): Promise<JsonLogProcess> {
  const running = serveProcess(configPath);
  processes.push(running);
  await running.waitForEvent('service_started');
  return running;
}

/** A session up to the middle of the message: the DATA is being received when this returns. */
async function halfSent(port: number, message: Buffer): Promise<{ dialog: SmtpDialog; rest: Buffer }> {
  const { dialog } = await SmtpDialog.open(port);
  assert.equal((await dialog.command('EHLO sender.example')).code, 250);
  assert.equal((await dialog.command('MAIL FROM:<noreply@reporter.example>')).code, 250);
  assert.equal((await dialog.command(`RCPT TO:<${REPORT_ADDRESS}>`)).code, 250);
  assert.equal((await dialog.command('DATA')).code, 354);
  const half = Math.floor(message.length / 2);
  dialog.write(message.subarray(0, half));
  return { dialog, rest: Buffer.concat([message.subarray(half), Buffer.from('.\r\n')]) };
}

function send(port: number, message: Buffer) {
  return nodemailer
    .createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, name: 'sender.example' })
    .sendMail({ envelope: { from: 'noreply@reporter.example', to: [REPORT_ADDRESS] }, raw: message });
}

/** `mta-sts-server reports --json`, the domains it lists. */
async function reportsJson(configPath: string) {
  const result = await cliProcess(['reports', '--json', '--since', '4000d', '--config', configPath]);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { domains: Record<string, unknown>[] }).domains;
}

test('killed while a report is being received: after a restart the sender retries and it is stored exactly once', async () => {
  const { configPath, port } = await smtpConfig();
  const reportId = randomUUID();
  const message = reportMessage(rfcExampleReport({ domain: 'example.com', reportId }), { to: REPORT_ADDRESS });
  const first = await serve(configPath);
  const { dialog } = await halfSent(port, message);
  first.child.kill('SIGKILL');
  await first.exited;
  await dialog.closed;

  const second = await serve(configPath);
  assert.match((await send(port, message)).response, /^250 2\.6\.0 report stored/);
  // The 250 lost on the way (the sender's view): it sends again, and the report is not counted twice.
  assert.match((await send(port, message)).response, /^250 2\.6\.0 report already stored/);
  second.child.kill('SIGTERM');
  assert.equal((await second.exited).code, 0);

  const [domain] = await reportsJson(configPath);
  assert.deepEqual(
    [domain!.domain, domain!.reports, domain!.successful_sessions, domain!.failed_sessions],
    ['example.com', 1, 5326, 303],
  );
  assert.deepEqual(domain!.organizations, [
    { organization: 'Company-X', reports: 1, successful_sessions: 5326, failed_sessions: 303 },
  ]);
});

test('SIGTERM in the middle of a message: the message is received and stored (250), then 421, and the service exits 0', async () => {
  const { configPath, port } = await smtpConfig();
  const message = reportMessage(rfcExampleReport({ domain: 'example.com', reportId: randomUUID() }), {
    to: REPORT_ADDRESS,
    json: true,
  });
  const running = await serve(configPath);
  const idle = await SmtpDialog.open(port);
  assert.equal((await idle.dialog.command('EHLO sender.example')).code, 250);
  const { dialog, rest } = await halfSent(port, message);
  running.child.kill('SIGTERM');
  assert.match((await idle.dialog.reply()).text, /^421 /, 'a session between messages is told at once');
  dialog.write(rest);
  assert.match((await dialog.reply()).text, /^250 2\.6\.0 report stored/);
  assert.match((await dialog.reply()).text, /^421 /);
  assert.equal((await running.exited).code, 0);
  const stopped = running.lines.find((line) => line.event === 'service_stopped');
  assert.ok(stopped, 'service_stopped');
  assert.equal((await reportsJson(configPath))[0]!.reports, 1);
});
