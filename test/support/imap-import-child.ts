import { ImapImporter, type ImapAccount, type ImapTiming } from '../../src/reports/imap-import.js';
import { ReportStoreUnavailableError, type IntakeOutcome, type IntakePath } from '../../src/reports/intake.js';
import { createLogger } from '../../src/service/logger.js';

/**
 * The IMAP importer as a process of its own, for test/e2e/imap-import.test.ts: it has to run in
 * the network namespace the IMAP server listens in. Its log goes to stdout as the service's
 * does, with one `test_intake` line per message the intake got; the intake answers "store
 * unavailable" to the first `unavailableFirst` messages and "stored" after.
 */
interface ChildOptions {
  account: ImapAccount;
  ca: string;
  unavailableFirst: number;
  timing: Partial<ImapTiming>;
}

const options = JSON.parse(process.argv[2]!) as ChildOptions;
const log = createLogger('info');
let calls = 0;
const intake = {
  async receiveMessage(message: Buffer, via: IntakePath): Promise<IntakeOutcome> {
    calls++;
    const messageId = /^Message-ID: *(.*?)\r?$/im.exec(message.toString('latin1'))?.[1] ?? null;
    const unavailable = calls <= options.unavailableFirst;
    log.info({ event: 'test_intake', via, message_id: messageId, bytes: message.length, unavailable });
    if (unavailable) throw new ReportStoreUnavailableError('database is locked');
    return { outcome: 'stored', reports: [{ organization: 'Company-X', reportId: String(calls) }] };
  },
};
const importer = new ImapImporter({
  intake,
  account: options.account,
  log,
  maxMessageBytes: 10 * 1024 * 1024,
  timing: options.timing,
  tls: { ca: options.ca },
});
importer.start();
process.once('SIGTERM', () => {
  void importer.stop().then(() => {
    log.info({ event: 'test_stopped' });
    log.flush();
    process.exit(0);
  });
});
