import type { ConnectionOptions } from 'node:tls';
import { ImapFlow } from 'imapflow';
import type { Logger } from 'pino';
import { loggable } from '../text/printable.js';
import type { IntakeOutcome, ReportIntake } from './intake.js';

/** The mailbox reports arrive in (`reports.imap`), and the password from the environment. */
export interface ImapAccount {
  host: string;
  /** 993: TLS from the first byte (RFC 8314); any other port: STARTTLS, required (RFC 2595). */
  port: number;
  user: string;
  password: string;
  mailbox: string;
  /** Imported messages are moved here (made when missing). */
  doneMailbox: string;
}

export interface ImapTiming {
  /** A new look at the mailbox at least this often, besides IDLE's news of new mail. */
  pollIntervalMs: number;
  /** After a report could not be stored (store unavailable), the next try of the messages left. */
  retryMs: number;
  /** Reconnection after a failure: the first wait, doubled each time up to the most. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

export const DEFAULT_IMAP_TIMING: Readonly<ImapTiming> = {
  pollIntervalMs: 5 * 60_000,
  retryMs: 60_000,
  reconnectMinMs: 5_000,
  reconnectMaxMs: 10 * 60_000,
};

const IMPLICIT_TLS_PORT = 993;

export interface ImapImporterOptions {
  intake: Pick<ReportIntake, 'receiveMessage'>;
  account: ImapAccount;
  log: Logger;
  /** A message larger than this is not fetched: it is logged and set aside like an imported one. */
  maxMessageBytes: number;
  timing?: Partial<ImapTiming>;
  /** More TLS options (a private CA, say); the system's trust store and full verification otherwise. */
  tls?: ConnectionOptions;
}

/** What a look at the mailbox did. */
interface Round {
  messages: number;
  stored: number;
  duplicate: number;
  rejected: number;
  tooBig: number;
  /** A report could not be stored now: the rest waits for the retry. */
  deferred: boolean;
}

/**
 * Imports TLS reports from an existing mailbox (RFC 8460 `rua=mailto:` pointing elsewhere):
 * each message in the folder goes to the intake; one the intake has decided on (stored,
 * duplicate or rejected) is moved to the done folder, one it could not store stays
 * for the next try. New mail is noticed by IDLE, or by polling; a lost connection is reopened
 * with backoff. The password is never logged.
 */
export class ImapImporter {
  private readonly timing: ImapTiming;
  private stopped = false;
  private running: Promise<void> | undefined;
  /** Ends the current wait (between rounds or before reconnecting) early: stop, or news of mail. */
  private wake: (() => void) | undefined;
  private client: ImapFlow | undefined;
  /** A message is with the intake: stop lets it be stored (and set aside) first. */
  private storing = false;

  constructor(private readonly options: ImapImporterOptions) {
    this.timing = { ...DEFAULT_IMAP_TIMING, ...options.timing };
  }

  start(): void {
    this.running ??= this.run();
  }

  /**
   * Lets a message being stored finish (and be set aside); anything else in progress (a connection
   * being made, a fetch) is cut off: what was not stored stays in the mailbox for the next start.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    if (!this.storing) this.client?.close();
    await this.running;
  }

  private async run(): Promise<void> {
    let reconnectMs = this.timing.reconnectMinMs;
    while (!this.stopped) {
      const client = this.connectClient();
      try {
        await client.connect();
        this.options.log.info(
          { event: 'imap_connected', host: this.options.account.host, mailbox: this.options.account.mailbox },
          'connected to the IMAP mailbox of TLS reports',
        );
        await this.prepareDoneMailbox(client);
        reconnectMs = this.timing.reconnectMinMs;
        await this.importWhileConnected(client);
      } catch (error) {
        if (!this.stopped) this.logFailure(error, reconnectMs);
      } finally {
        this.client = undefined;
        // At stop, no LOGOUT: a server slow to answer must not hold the service's exit.
        if (client.usable && !this.stopped) await client.logout().catch(() => client.close());
        else client.close();
      }
      if (this.stopped) break;
      await this.pause(reconnectMs);
      reconnectMs = Math.min(reconnectMs * 2, this.timing.reconnectMaxMs);
    }
  }

  private connectClient(): ImapFlow {
    const { host, port, user, password } = this.options.account;
    const client = new ImapFlow({
      host,
      port,
      secure: port === IMPLICIT_TLS_PORT,
      // Elsewhere STARTTLS or nothing: the password never crosses the network in clear.
      ...(port !== IMPLICIT_TLS_PORT && { doSTARTTLS: true }),
      auth: { user, pass: password },
      // Its own log lines would carry server text in its format; failures are logged here.
      logger: false,
      autoIdleDelay: 1_000,
      maxIdleTime: this.timing.pollIntervalMs,
      // A server that sends a literal bigger than any message we take is broken or hostile.
      maxLiteralSize: this.options.maxMessageBytes * 2 + 65_536,
      connectionTimeout: 30_000,
      ...(this.options.tls && { tls: { ...this.options.tls, rejectUnauthorized: true } }),
    });
    // Errors also reject the command that was running; the event alone must not crash the process.
    client.on('error', () => undefined);
    this.client = client;
    return client;
  }

  private async prepareDoneMailbox(client: ImapFlow): Promise<void> {
    const done = this.options.account.doneMailbox;
    const existing = await client.list();
    if (!existing.some((mailbox) => mailbox.path === done)) await client.mailboxCreate(done);
  }

  /** Rounds until the connection goes or stop: after each, a wait for new mail, the poll interval or the retry. */
  private async importWhileConnected(client: ImapFlow): Promise<void> {
    while (!this.stopped && client.usable) {
      const round = await this.importRound(client);
      if (this.stopped || !client.usable) return;
      await this.waitForMail(client, round.deferred ? this.timing.retryMs : this.timing.pollIntervalMs);
    }
  }

  private async importRound(client: ImapFlow): Promise<Round> {
    const { mailbox } = this.options.account;
    const round: Round = { messages: 0, stored: 0, duplicate: 0, rejected: 0, tooBig: 0, deferred: false };
    const lock = await client.getMailboxLock(mailbox);
    try {
      const uids = (await client.search({ deleted: false }, { uid: true })) || [];
      for (const uid of uids) {
        if (this.stopped) break;
        const outcome = await this.importMessage(client, uid);
        if (outcome === 'deferred') {
          round.deferred = true;
          break;
        }
        round.messages++;
        if (outcome === 'too_big') round.tooBig++;
        else round[outcome]++;
        await this.setAside(client, uid);
      }
    } finally {
      lock.release();
    }
    if (round.messages > 0 || round.deferred) {
      this.options.log.info(
        {
          event: 'imap_imported',
          mailbox,
          messages: round.messages,
          stored: round.stored,
          duplicate: round.duplicate,
          rejected: round.rejected,
          too_big: round.tooBig,
          deferred: round.deferred,
        },
        `${round.messages} message${round.messages === 1 ? '' : 's'} imported from the IMAP mailbox${round.deferred ? '; the rest waits: the report store is unavailable' : ''}`,
      );
    }
    return round;
  }

  private async importMessage(client: ImapFlow, uid: number): Promise<IntakeOutcome['outcome'] | 'too_big' | 'deferred'> {
    const range = String(uid);
    const { size } = (await client.fetchOne(range, { size: true }, { uid: true })) || {};
    if (size === undefined || size > this.options.maxMessageBytes) {
      this.options.log.warn(
        {
          event: 'imap_message_too_big',
          mailbox: this.options.account.mailbox,
          uid,
          bytes: size ?? null,
          limit: this.options.maxMessageBytes,
        },
        'an IMAP message larger than the limit was set aside without reading it',
      );
      return 'too_big';
    }
    const { source } = (await client.fetchOne(range, { source: true }, { uid: true })) || {};
    if (source === undefined) return 'deferred';
    this.storing = true;
    try {
      return (await this.options.intake.receiveMessage(source, 'imap')).outcome;
    } catch (error) {
      // Left in the mailbox: the next round tries it again.
      this.options.log.warn(
        { event: 'imap_message_deferred', uid, error: loggable(String((error as Error)?.message ?? error)) },
        'a report from the IMAP mailbox could not be stored now; it stays there for the next try',
      );
      return 'deferred';
    } finally {
      this.storing = false;
    }
  }

  private async setAside(client: ImapFlow, uid: number): Promise<void> {
    await client.messageMove(String(uid), this.options.account.doneMailbox, { uid: true });
  }

  /** Until new mail (IDLE's EXISTS), `ms`, the connection's end or stop. */
  private waitForMail(client: ImapFlow, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        client.off('exists', done);
        client.off('close', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      client.on('exists', done);
      client.on('close', done);
      this.wake = done;
    });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => ((this.wake = undefined), resolve()), ms);
      this.wake = () => (clearTimeout(timer), (this.wake = undefined), resolve());
    });
  }

  private logFailure(error: unknown, retryMs: number): void {
    const {
      message = String(error),
      code,
      responseText,
      authenticationFailed,
    } = error as Error & {
      code?: string;
      responseText?: string;
      authenticationFailed?: boolean;
    };
    // The server's words, not the command: a LOGIN command would hold the password.
    const reason = authenticationFailed
      ? `authentication failed${responseText ? `: ${responseText}` : ''}`
      : (responseText ?? message);
    this.options.log.error(
      {
        event: 'imap_error',
        host: this.options.account.host,
        code: code ?? null,
        error: loggable(reason),
        retry_in_s: Math.round(retryMs / 1000),
      },
      'the IMAP mailbox of TLS reports cannot be read now; trying again later',
    );
  }
}
