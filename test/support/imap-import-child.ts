import { ImapImporter, type ImapAccount, type ImapTiming } from '../../src/reports/imap-import.js';
import { createReportIntake, ReportStoreUnavailableError, type IntakePath } from '../../src/reports/intake.js';
import { SqliteTlsReportStore } from '../../src/storage/sqlite-tls-report-store.js';
import { createLogger } from '../../src/log/logger.js';

/**
 * The IMAP importer as a process of its own, for test/e2e/imap-import.test.ts: it has to run in
 * the network namespace the IMAP server listens in. Behind it the real intake and SQLite report
 * store in `stateDir`; its log goes to stdout as the service's does. The first
 * `unavailableFirst` messages find the store unavailable (as a locked database would make it).
 */
interface ChildOptions {
  account: ImapAccount;
  ca: string;
  stateDir: string;
  unavailableFirst: number;
  timing: Partial<ImapTiming>;
}

const options = JSON.parse(process.argv[2]!) as ChildOptions;
const log = createLogger('info');
const store = SqliteTlsReportStore.open(options.stateDir);
const intake = createReportIntake({ store, domains: () => new Set(['example.com']), log, maxReportBytes: 20 * 1024 * 1024 });
let unavailable = options.unavailableFirst;
const importer = new ImapImporter({
  intake: {
    receiveMessage: (message: Buffer, via: IntakePath) =>
      unavailable-- > 0
        ? Promise.reject(new ReportStoreUnavailableError('database is locked'))
        : intake.receiveMessage(message, via),
  },
  account: options.account,
  log,
  maxMessageBytes: 10 * 1024 * 1024,
  timing: options.timing,
  tls: { ca: options.ca },
});
importer.start();
process.once('SIGTERM', () => {
  void importer
    .stop()
    .then(() => store.close())
    .then(() => {
      log.info({ event: 'test_stopped' });
      log.flush();
      process.exit(0);
    });
});
