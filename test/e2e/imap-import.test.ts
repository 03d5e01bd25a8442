import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { issueTestCertificate, type TestCertificate } from '../support/certificates.js';
import { startDovecot, type Dovecot } from '../support/dovecot.js';
import { MAIN } from '../support/cli.js';
import { JsonLogProcess } from '../support/json-log-process.js';
import { NetworkNamespace } from '../support/network-namespace.js';
import { reportsTestConfig, writeTestConfig } from '../support/service.js';
import { reportMessage, rfcExampleReport } from '../support/tls-reports.js';

// The IMAP importer against a real IMAP server, Debian's dovecot-imapd, in a network namespace
// of the test's own: IMAPS (993) and STARTTLS (143), IDLE, moving imported messages to the done
// folder (which it makes), a store that is unavailable for a while, a wrong password.

const CHILD = fileURLToPath(new URL('../support/imap-import-child.js', import.meta.url));

let namespace: NetworkNamespace;
let certificate: TestCertificate;
let dovecot: Dovecot;
const children: JsonLogProcess[] = [];

before(async () => {
  namespace = await NetworkNamespace.create();
  certificate = await issueTestCertificate(await mkdtemp(join(tmpdir(), 'mta-sts-imap-')), ['localhost']);
  dovecot = await startDovecot(namespace, certificate);
});

after(async () => {
  await Promise.all(children.map((child) => child.kill()));
  await dovecot?.stop();
  await namespace?.close();
});

async function startImporter(options: {
  host?: string;
  port: number;
  password?: string;
  unavailableFirst?: number;
  doneMailbox?: string;
}): Promise<JsonLogProcess> {
  const settings = {
    account: {
      host: options.host ?? 'localhost',
      port: options.port,
      user: dovecot.user,
      password: options.password ?? dovecot.password,
      mailbox: 'INBOX',
      doneMailbox: options.doneMailbox ?? 'TLSRPT-done',
    },
    ca: certificate.caPem,
    stateDir: await mkdtemp(join(tmpdir(), 'mta-sts-imap-state-')),
    unavailableFirst: options.unavailableFirst ?? 0,
    // A poll far beyond the test: new mail can only be noticed through IDLE.
    timing: { pollIntervalMs: 600_000, retryMs: 500, reconnectMinMs: 300, reconnectMaxMs: 1_000 },
  };
  const child = new JsonLogProcess(namespace.spawn(process.execPath, [CHILD, JSON.stringify(settings)], { stdio: 'pipe' }));
  children.push(child);
  return child;
}

async function stopImporter(child: JsonLogProcess): Promise<void> {
  child.child.kill('SIGTERM');
  assert.deepEqual(await child.exited, { code: 0, signal: null });
}

/** An RFC 8460 §5.3 message with the Appendix B report for example.com, whose report id is `reportId`. */
function report(reportId: string, encoding: 'gzip' | 'json'): string {
  return reportMessage(rfcExampleReport({ domain: 'example.com', reportId }), {
    to: dovecot.user,
    json: encoding === 'json',
  }).toString();
}

/** Message files in a maildir folder (new/ and cur/). */
async function messagesIn(folder: string): Promise<number> {
  const path = folder === 'INBOX' ? dovecot.folder : join(dovecot.folder, `.${folder}`);
  const counts = await Promise.all(['new', 'cur'].map((sub) => readdir(join(path, sub)).then((files) => files.length)));
  return counts[0]! + counts[1]!;
}

/** The intake's line for a stored report. */
const storedReport = (child: JsonLogProcess, reportId: string) =>
  child.waitFor(`tlsrpt_report ${reportId}`, (line) => line.event === 'tlsrpt_report' && line.report_id === reportId, 20_000);

test('IMAPS: waiting reports are imported and moved to the done folder it makes; one arriving later is noticed by IDLE', async () => {
  await dovecot.deliver(report('first', 'gzip'));
  await dovecot.deliver(report('second', 'json'));
  await dovecot.deliver('From: someone@example.net\r\nTo: tls-reports@example.com\r\nSubject: hello\r\n\r\nNot a report.\r\n');
  const importer = await startImporter({ port: 993 });
  try {
    await importer.waitForEvent('imap_connected');
    await storedReport(importer, 'first');
    await storedReport(importer, 'second');
    const imported = await importer.waitFor('imap_imported', (line) => line.event === 'imap_imported', 20_000);
    assert.deepEqual([imported.messages, imported.stored, imported.rejected], [3, 2, 1]);
    assert.equal(await messagesIn('INBOX'), 0);
    assert.equal(await messagesIn('TLSRPT-done'), 3, 'the rejected message is set aside too (and kept as rejected)');

    await dovecot.deliver(report('third', 'gzip'));
    const third = await storedReport(importer, 'third');
    assert.equal(third.via, 'imap');
    await importer.waitFor('the second round', (line) => line.event === 'imap_imported' && line !== imported, 20_000);
    assert.equal(await messagesIn('TLSRPT-done'), 4);
    await stopImporter(importer);
  } finally {
    await importer.kill();
  }
  const everything = JSON.stringify(importer.lines) + importer.stderr;
  assert.ok(!everything.includes(dovecot.password), 'the password is never logged');
});

test('STARTTLS on 143; a report that cannot be stored stays in the mailbox and is imported on the retry', async () => {
  await dovecot.deliver(report('retried', 'gzip'));
  const importer = await startImporter({ port: 143, unavailableFirst: 1, doneMailbox: 'TLSRPT-done' });
  try {
    const deferred = await importer.waitForEvent('imap_message_deferred', 20_000);
    assert.equal(deferred.error, 'database is locked');
    await storedReport(importer, 'retried');
    await importer.waitFor('imap_imported', (line) => line.event === 'imap_imported' && line.stored === 1, 20_000);
    assert.equal(await messagesIn('INBOX'), 0);
    await stopImporter(importer);
  } finally {
    await importer.kill();
  }
});

test('the service with reports.imap enabled and MTA_STS_IMAP_PASSWORD set imports into its own store', async () => {
  const { configPath } = await writeTestConfig(
    reportsTestConfig(
      `imap: { enabled: true, host: localhost, port: 993, user: "${dovecot.user}", mailbox: INBOX, done_mailbox: Imported }`,
    ),
  );
  await dovecot.deliver(report('via-service', 'gzip'));
  const caFile = join(dirname(configPath), 'ca.pem');
  await writeFile(caFile, certificate.caPem);
  const env = { ...process.env, MTA_STS_IMAP_PASSWORD: dovecot.password, NODE_EXTRA_CA_CERTS: caFile };
  const service = new JsonLogProcess(
    namespace.spawn(process.execPath, [MAIN, 'serve', '--config', configPath], { stdio: 'pipe', env }),
  );
  children.push(service);
  try {
    await service.waitForEvent('service_started');
    const stored = await storedReport(service, 'via-service');
    assert.equal(stored.via, 'imap');
    await service.waitFor('imap_imported', (line) => line.event === 'imap_imported' && line.stored === 1, 20_000);
    assert.equal(await messagesIn('Imported'), 1);
    service.child.kill('SIGTERM');
    assert.equal((await service.exited).code, 0);
  } finally {
    await service.kill();
  }
  assert.ok(!JSON.stringify(service.lines).includes(dovecot.password), 'the password is never logged');
});

test('a wrong password: imap_error says authentication failed, the password appears nowhere, and it tries again', async () => {
  const wrong = `wrong-${dovecot.password}`;
  const importer = await startImporter({ port: 993, password: wrong });
  try {
    const first = await importer.waitForEvent('imap_error', 20_000);
    assert.match(String(first.error), /authentication failed/i);
    await importer.waitFor('a second imap_error', (line) => line.event === 'imap_error' && line !== first, 20_000);
    await stopImporter(importer);
  } finally {
    await importer.kill();
  }
  const everything = JSON.stringify(importer.lines) + importer.stderr;
  assert.ok(!everything.includes(wrong), 'the password is never logged');
  assert.ok(!importer.lines.some((line) => line.event === 'imap_connected'));
});

test('stopped while the server has not even greeted: it exits at once instead of waiting for the timeouts', async () => {
  // A server that accepts connections and never says a word.
  const script = "require('net').createServer(() => console.log('connected')).listen(1143, '127.0.0.1', () => console.log('up'))";
  const silent = namespace.spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const said = (word: string) =>
    new Promise<void>((resolve) =>
      silent.stdout!.setEncoding('utf8').on('data', (text: string) => text.includes(word) && resolve()),
    );
  try {
    await said('up');
    const connected = said('connected');
    const importer = await startImporter({ host: '127.0.0.1', port: 1143 });
    try {
      // Connected, and waiting for the greeting (imapflow's own limit for it is 16 s).
      await connected;
      const stopping = Date.now();
      await stopImporter(importer);
      assert.ok(Date.now() - stopping < 5_000, `stop took ${Date.now() - stopping} ms`);
      assert.ok(!importer.lines.some((line) => line.event === 'imap_error'), 'a stop is not reported as a failure');
    } finally {
      await importer.kill();
    }
  } finally {
    silent.kill();
  }
});
