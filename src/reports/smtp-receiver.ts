import { hostname } from 'node:os';
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { CertificateSelector } from '../tls/certificate.js';
import { strictTlsServerOptions } from '../tls/server-settings.js';
import { loggable, printable } from '../text/printable.js';
import { createNeutralCertificate } from '../tls/neutral-certificate.js';
import { ReportStoreUnavailableError, type IntakeOutcome, type ReportIntake } from './intake.js';

/** What one client may take of the receiver: the README's "Receiving reports by mail". */
export interface SmtpLimits {
  /** Announced with SIZE (RFC 1870) and enforced: a longer message is read to its end, not kept, and answered 552. */
  maxMessageBytes: number;
  /** Sessions open at once from one address; one more is answered 421 and closed. */
  connectionsPerAddress: number;
  /** Sessions open at once from all addresses. */
  maxConnections: number;
  /** A client that sends nothing for this long (between commands, or within a message) is answered 421 and closed. */
  idleTimeoutMs: number;
  /** A whole session, however busy, ends after this long (421), except while its message is being stored. */
  sessionTimeoutMs: number;
  /** At stop, messages being received or stored get this long to finish; then every session is answered 421. */
  stopGraceMs: number;
}

export const DEFAULT_SMTP_LIMITS: Readonly<SmtpLimits> = {
  maxMessageBytes: 10 * 1024 * 1024,
  connectionsPerAddress: 5,
  maxConnections: 200,
  // RFC 5321 §4.5.3.2.7: a server should wait at least 5 minutes for the next command.
  idleTimeoutMs: 5 * 60_000,
  sessionTimeoutMs: 15 * 60_000,
  // Inside docker stop's 10 s before SIGKILL, with time left to close the store.
  stopGraceMs: 8_000,
};

/** A session answers the local part of an address of ours only for this mailbox (RFC 8460 §3: `rua=mailto:`). */
const REPORT_MAILBOX = 'tlsrpt';
/** Recipients in one transaction: a report goes to one or two rua addresses. */
const MAX_RECIPIENTS = 10;

export interface SmtpReceiverOptions {
  intake: Pick<ReportIntake, 'receiveMessage'>;
  /** Policy domains served now; asked per RCPT, so reloads apply. `tlsrpt@mta-sts.<domain>` is accepted for each. */
  domains: () => ReadonlySet<string>;
  /** More accepted addresses (reports.smtp.recipients), asked per RCPT. */
  extraRecipients: () => readonly string[];
  /** The certificate for a server name sent with SNI (the policy hosts'); the neutral one is used otherwise. */
  certificateFor: CertificateSelector;
  log: Logger;
  /** Whether a line about a client may be written now (the service's per-address log budget). */
  admitLine?: (ip: string) => boolean;
  /** The name in the greeting and the EHLO reply; the machine's host name by default. */
  name?: string;
  limits?: Partial<SmtpLimits>;
}

/** Where a session is in a mail transaction, for stop and the session time limit. */
type Stage = 'commands' | 'receiving' | 'storing';

/**
 * The built-in receiver of TLS reports by mail (RFC 8460 §3, `rua=mailto:`): an SMTP server
 * that takes mail only for the report addresses, never relays, offers STARTTLS with the policy
 * host's certificate, and answers 250 only once the intake has stored the report, so a sender
 * retries anything that is not stored. `server` is not listening: the owner binds it.
 */
export class SmtpReceiver {
  readonly server: Server;
  private readonly limits: SmtpLimits;
  private readonly smtp: SMTPServer;
  private readonly sessionsPerAddress = new Map<string, number>();
  private readonly sessions = new Map<string, { stage: Stage; expired: boolean; deadline: NodeJS.Timeout }>();
  private stopping = false;

  private constructor(
    private readonly options: SmtpReceiverOptions,
    neutral: { cert: string; key: string },
  ) {
    this.limits = { ...DEFAULT_SMTP_LIMITS, ...options.limits };
    this.smtp = new SMTPServer({
      ...strictTlsServerOptions({ certificateFor: options.certificateFor, neutral }),
      name: options.name ?? hostname(),
      size: this.limits.maxMessageBytes,
      // No AUTH: nobody submits mail here, and no account exists to guess.
      disabledCommands: ['AUTH'],
      disableReverseLookup: true,
      maxClients: this.limits.maxConnections,
      maxRecipients: MAX_RECIPIENTS,
      socketTimeout: this.limits.idleTimeoutMs,
      closeTimeout: this.limits.stopGraceMs,
      // The library's own log lines (its format, on the console) stay off; this class logs in the service's.
      logger: false,
      onConnect: (session, callback) => callback(this.admitSession(session)),
      onRcptTo: (address, session, callback) => callback(this.checkRecipient(address, session)),
      onData: (stream, session, callback) => {
        this.receive(stream, session).then(
          (reply) => callback(null, reply),
          (error: Error) => callback(error),
        );
      },
      onClose: (session) => this.endSession(session),
    });
    this.smtp.on('error', (error: Error & { remoteAddress?: string }) => this.logClientError(error));
    this.server = this.smtp.server;
  }

  static async create(options: SmtpReceiverOptions): Promise<SmtpReceiver> {
    return new SmtpReceiver(options, createNeutralCertificate());
  }

  /**
   * Stops accepting sessions. A session between messages is answered 421 at once; one whose
   * message is being received or stored gets its answer first, then 421; after `stopGraceMs`
   * whatever is left is answered 421. Resolves when every session is closed.
   */
  stop(): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.smtp.close(() => resolve()));
    for (const connection of [...this.smtp.connections]) {
      if ((this.sessions.get(connection.session.id)?.stage ?? 'commands') === 'commands')
        this.closeSession(connection.session.id);
    }
    return closed;
  }

  private admitSession(session: SMTPServerSession): SmtpReply | undefined {
    const ip = session.remoteAddress;
    const open = (this.sessionsPerAddress.get(ip) ?? 0) + 1;
    this.sessionsPerAddress.set(ip, open);
    const deadline = setTimeout(() => this.expire(session.id), this.limits.sessionTimeoutMs).unref();
    this.sessions.set(session.id, { stage: 'commands', expired: false, deadline });
    if (open <= this.limits.connectionsPerAddress) return undefined;
    this.logAbout(
      ip,
      'info',
      { event: 'smtp_session_refused', ip, reason: 'connections_per_address', open },
      'too many SMTP sessions from one address',
    );
    return new SmtpReply(
      421,
      `4.7.0 too many connections from your address (at most ${this.limits.connectionsPerAddress}); try again later`,
    );
  }

  private endSession(session: SMTPServerSession): void {
    const state = this.sessions.get(session.id);
    if (state === undefined) return;
    clearTimeout(state.deadline);
    this.sessions.delete(session.id);
    const ip = session.remoteAddress;
    const open = (this.sessionsPerAddress.get(ip) ?? 1) - 1;
    if (open > 0) this.sessionsPerAddress.set(ip, open);
    else this.sessionsPerAddress.delete(ip);
  }

  /** The session time limit: a session storing its message ends once it has its answer. */
  private expire(sessionId: string): void {
    const state = this.sessions.get(sessionId);
    if (state === undefined) return;
    if (state.stage === 'storing') state.expired = true;
    else this.closeSession(sessionId, '4.4.2 session time limit reached; closing');
  }

  private closeSession(sessionId: string, text = '4.3.2 shutting down; try again later'): void {
    for (const connection of this.smtp.connections) if (connection.session.id === sessionId) connection.send(421, text);
  }

  /**
   * RFC 5321 §3.9: this host relays for nobody. An address at one of our report hosts other
   * than the report mailbox is "no such user"; any other domain, "relay denied".
   */
  private checkRecipient(address: SMTPServerAddress, session: SMTPServerSession): SmtpReply | undefined {
    const recipient = normalizeAddress(address.address);
    const at = recipient.lastIndexOf('@');
    const [local, domain] = [recipient.slice(0, at), recipient.slice(at + 1)];
    const policyDomain = domain.startsWith('mta-sts.') ? domain.slice('mta-sts.'.length) : undefined;
    const ours = policyDomain !== undefined && this.options.domains().has(policyDomain);
    const extra = this.options.extraRecipients().map(normalizeAddress);
    if ((ours && local === REPORT_MAILBOX) || extra.includes(recipient)) return undefined;
    const noSuchUser = ours || extra.some((listed) => listed.endsWith(`@${domain}`));
    const ip = session.remoteAddress;
    this.logAbout(
      ip,
      'info',
      {
        event: 'smtp_recipient_refused',
        ip,
        recipient: loggable(address.address),
        reason: noSuchUser ? 'no_such_user' : 'relay_denied',
      },
      noSuchUser ? 'SMTP recipient refused: no such user' : 'SMTP recipient refused: relay denied',
    );
    return noSuchUser ? new SmtpReply(550, '5.1.1 no such user here') : new SmtpReply(550, '5.7.1 relay denied');
  }

  /** Reads the message (keeping at most the size limit), hands it to the intake, and turns the outcome into the reply. */
  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const state = this.sessions.get(session.id);
    if (state) state.stage = 'receiving';
    try {
      const message = await readMessage(stream, this.limits.maxMessageBytes);
      const ip = session.remoteAddress;
      if (message === undefined) {
        this.logAbout(
          ip,
          'info',
          { event: 'smtp_message_refused', ip, bytes: stream.byteLength, reason: 'too_big' },
          'SMTP message over the size limit',
        );
        throw new SmtpReply(552, `5.3.4 message larger than the limit of ${this.limits.maxMessageBytes} bytes`);
      }
      if (state) state.stage = 'storing';
      return replyTo(await this.store(message, ip));
    } finally {
      if (state) state.stage = 'commands';
      // After the answer is written (the library writes it when the callback runs, right after this).
      if (state && (this.stopping || state.expired)) setImmediate(() => this.closeSession(session.id));
    }
  }

  private async store(message: Buffer, ip: string): Promise<IntakeOutcome> {
    try {
      return await this.options.intake.receiveMessage(message, 'smtp');
    } catch (error) {
      // The report is not stored: a 4xx makes the sender try again later (RFC 5321 §4.2.5).
      const unavailable = error instanceof ReportStoreUnavailableError;
      this.options.log.warn(
        { event: 'smtp_message_deferred', ip, error: loggable(String((error as Error)?.message ?? error)) },
        unavailable
          ? 'report store unavailable; the sender was told to retry'
          : 'the report could not be stored; the sender was told to retry',
      );
      throw new SmtpReply(451, '4.3.0 the report could not be stored now; try again later');
    }
  }

  private logClientError(error: Error & { remoteAddress?: string; code?: string }): void {
    const ip = error.remoteAddress ?? '';
    this.logAbout(
      ip,
      'info',
      { event: 'smtp_connection_error', ip, code: error.code ?? null, error: loggable(error.message) },
      'SMTP connection failed',
    );
  }

  private logAbout(ip: string, level: 'info' | 'warn', fields: Record<string, unknown>, message: string): void {
    if (this.options.admitLine?.(ip) ?? true) this.options.log[level](fields, message);
  }
}

/** An SMTP reply to a callback of the library: the code and the text after it (enhanced status code first, RFC 3463). */
class SmtpReply extends Error {
  constructor(
    readonly responseCode: number,
    text: string,
  ) {
    super(text);
  }
}

/** The reply to a message once the intake has decided. */
function replyTo(outcome: IntakeOutcome): string {
  switch (outcome.outcome) {
    case 'stored':
      return `2.6.0 report stored (${outcome.reports.length})`;
    case 'duplicate':
      return '2.6.0 report already stored';
    case 'rejected':
      // RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets; the reason may quote the report.
      throw new SmtpReply(550, `5.6.0 report rejected: ${printable(outcome.reason, 400)}`);
  }
}

/** The message, or undefined when it is longer than `limit` (read to its end all the same, so the reply can be given). */
async function readMessage(stream: SMTPServerDataStream, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length <= limit) chunks.push(chunk);
    else chunks.length = 0;
  }
  return length <= limit ? Buffer.concat(chunks, length) : undefined;
}

/** Compared without case: `TLSRPT@MTA-STS.Example.com` is `tlsrpt@mta-sts.example.com`. */
function normalizeAddress(address: string): string {
  return address.trim().toLowerCase();
}
