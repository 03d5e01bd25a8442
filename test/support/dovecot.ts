import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetworkNamespace } from './network-namespace.js';

/** The user whose mail the test server keeps; its files belong to `nobody`, as dovecot refuses root. */
const MAIL_UID = 65534;
const MAIL_GID = 65534;

export interface Dovecot {
  user: string;
  password: string;
  /** Puts a message in a folder of the user's (INBOX by default) the way a delivery agent does: a new maildir file. */
  deliver(message: string, folder?: string): Promise<void>;
  /** The messages in a folder (maildir cur/ and new/), by file name. */
  folder: string;
  stop(): Promise<void>;
}

/**
 * Debian's dovecot-imapd as the test's IMAP server, inside the test's network namespace: IMAP
 * with STARTTLS on 143 and IMAPS on 993 at 127.0.0.1 there, the certificate given, one user
 * with a plain password, mail in maildir under a scratch folder. Runs in the foreground (-F), so
 * stop() ends exactly the process this started.
 */
export async function startDovecot(
  namespace: NetworkNamespace,
  certificate: { certPath: string; keyPath: string },
): Promise<Dovecot> {
  const dir = await mkdtemp(join(tmpdir(), 'mta-sts-dovecot-'));
  const user = 'tls-reports@example.com';
  const password = `pw-${randomUUID()}`;
  const home = join(dir, 'home');
  const maildir = join(home, 'Maildir');
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(join(maildir, sub), { recursive: true });
  for (const path of [home, maildir, ...['cur', 'new', 'tmp'].map((sub) => join(maildir, sub))])
    await chown(path, MAIL_UID, MAIL_GID);
  await writeFile(join(dir, 'passwd'), `${user}:{PLAIN}${password}\n`);
  const config = join(dir, 'dovecot.conf');
  await writeFile(
    config,
    [
      `base_dir = ${join(dir, 'run')}`,
      `state_dir = ${join(dir, 'state')}`,
      'log_path = /dev/stderr',
      'protocols = imap',
      'listen = 127.0.0.1, ::1',
      'ssl = required',
      `ssl_cert = <${certificate.certPath}`,
      `ssl_key = <${certificate.keyPath}`,
      'ssl_min_protocol = TLSv1.2',
      'disable_plaintext_auth = yes',
      'auth_mechanisms = plain login',
      // A wrong password is answered at once: the test waits for two of them.
      'auth_failure_delay = 0',
      `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${join(dir, 'passwd')}\n}`,
      `userdb {\n  driver = static\n  args = uid=${MAIL_UID} gid=${MAIL_GID} home=${home}\n}`,
      'first_valid_uid = 1',
      'mail_location = maildir:~/Maildir',
      'service imap-login {\n  inet_listener imap {\n    port = 143\n  }\n  inet_listener imaps {\n    port = 993\n    ssl = yes\n  }\n}',
      '',
    ].join('\n'),
  );
  await chmod(dir, 0o755);
  const child = namespace.spawn('dovecot', ['-F', '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitForStart(child);
  let delivered = 0;
  return {
    user,
    password,
    folder: maildir,
    async deliver(message, folder = 'INBOX') {
      const target = folder === 'INBOX' ? maildir : join(maildir, `.${folder}`);
      const name = `${Date.now()}.M${++delivered}P${process.pid}.test`;
      const temporary = join(target, 'tmp', name);
      await writeFile(temporary, message.replace(/\r\n/g, '\n'));
      await chown(temporary, MAIL_UID, MAIL_GID);
      await rename(temporary, join(target, 'new', name));
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Dovecot says "starting up" once it listens; its stderr until then explains a failure. */
function waitForStart(child: ChildProcess): Promise<void> {
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('starting up')) resolve();
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`dovecot exited (${code}) before it listened: ${stderr.trim()}`)));
  });
}
