import assert from 'node:assert/strict';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { issueTestCertificate, type TestCertificate } from '../support/certificates.js';
import { startDovecot, type Dovecot } from '../support/dovecot.js';
import { JsonLogProcess } from '../support/json-log-process.js';
import { NetworkNamespace } from '../support/network-namespace.js';
import { appendixBReport, reportMail } from '../support/tls-report-mail.js';

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

function startImporter(options: {
  port: number;
  password?: string;
  unavailableFirst?: number;
  doneMailbox?: string;
}): JsonLogProcess {
  const settings = {
    account: {
      host: 'localhost',
      port: options.port,
      user: dovecot.user,
      password: options.password ?? dovecot.password,
      mailbox: 'INBOX',
      doneMailbox: options.doneMailbox ?? 'TLSRPT-done',
    },
    ca: certificate.caPem,
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

function report(messageId: string, encoding: 'gzip' | 'json'): string {
  return reportMail({ report: appendixBReport('example.com'), encoding, to: dovecot.user }).replace(
    /^Message-ID: .*$/m,
    `Message-ID: <${messageId}>`,
  );
}

/** Message files in a maildir folder (new/ and cur/). */
async function messagesIn(folder: string): Promise<number> {
  const path = folder === 'INBOX' ? dovecot.folder : join(dovecot.folder, `.${folder}`);
  const counts = await Promise.all(['new', 'cur'].map((sub) => readdir(join(path, sub)).then((files) => files.length)));
  return counts[0]! + counts[1]!;
}

const intakeOf = (child: JsonLogProcess, messageId: string) =>
  child.waitFor(
    `intake of ${messageId}`,
    (line) => line.event === 'test_intake' && line.message_id === `<${messageId}>` && line.unavailable === false,
    20_000,
  );

test('IMAPS: waiting reports are imported and moved to the done folder it makes; one arriving later is noticed by IDLE', async () => {
  await dovecot.deliver(report('first@company-x.example', 'gzip'));
  await dovecot.deliver(report('second@company-x.example', 'json'));
  const importer = startImporter({ port: 993 });
  try {
    await importer.waitForEvent('imap_connected');
    await intakeOf(importer, 'first@company-x.example');
    await intakeOf(importer, 'second@company-x.example');
    const imported = await importer.waitFor('imap_imported', (line) => line.event === 'imap_imported', 20_000);
    assert.equal(imported.messages, 2);
    assert.equal(imported.stored, 2);
    assert.equal(await messagesIn('INBOX'), 0);
    assert.equal(await messagesIn('TLSRPT-done'), 2);

    await dovecot.deliver(report('third@company-x.example', 'gzip'));
    const third = await intakeOf(importer, 'third@company-x.example');
    assert.equal(third.via, 'imap');
    await importer.waitFor('the second round', (line) => line.event === 'imap_imported' && line !== imported, 20_000);
    assert.equal(await messagesIn('TLSRPT-done'), 3);
    await stopImporter(importer);
  } finally {
    await importer.kill();
  }
  const everything = JSON.stringify(importer.lines) + importer.stderr;
  assert.ok(!everything.includes(dovecot.password), 'the password is never logged');
});

test('STARTTLS on 143; a report that cannot be stored stays in the mailbox and is imported on the retry', async () => {
  await dovecot.deliver(report('retried@company-x.example', 'gzip'));
  const importer = startImporter({ port: 143, unavailableFirst: 1, doneMailbox: 'TLSRPT-done' });
  try {
    const deferred = await importer.waitForEvent('imap_message_deferred', 20_000);
    assert.equal(deferred.error, 'database is locked');
    await intakeOf(importer, 'retried@company-x.example');
    await importer.waitFor('imap_imported', (line) => line.event === 'imap_imported' && line.stored === 1, 20_000);
    assert.equal(await messagesIn('INBOX'), 0);
    await stopImporter(importer);
  } finally {
    await importer.kill();
  }
});

test('a wrong password: imap_error says authentication failed, the password appears nowhere, and it tries again', async () => {
  const wrong = `wrong-${dovecot.password}`;
  const importer = startImporter({ port: 993, password: wrong });
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
