import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';

export interface SmtpResponse {
  code: number;
  /** The text of each line, after the code and separator. */
  lines: string[];
  /** The whole reply as sent, lines joined by \n. */
  text: string;
}

/**
 * An SMTP client that says exactly what the test writes, one command at a time, for what a
 * library client would not send: a relay attempt, a lie about SIZE, silence, a pipelined
 * abuse. Replies are read as they come (RFC 5321 §4.2: multiline replies use `code-`).
 */
export class SmtpDialog {
  private buffered = '';
  private readonly replies: SmtpResponse[] = [];
  private waiting: ((reply: SmtpResponse | undefined) => void) | undefined;
  private ended = false;
  private markClosed!: () => void;
  /** Resolves when the connection is closed (by either side). */
  readonly closed = new Promise<void>((resolve) => (this.markClosed = resolve));

  private constructor(private socket: Socket | TLSSocket) {
    this.watch(socket);
  }

  static async open(port: number, host = '127.0.0.1'): Promise<{ dialog: SmtpDialog; greeting: SmtpResponse }> {
    const socket = connectTcp({ port, host });
    await once(socket, 'connect');
    const dialog = new SmtpDialog(socket);
    const greeting = await dialog.reply();
    return { dialog, greeting };
  }

  /** The next reply; rejects when the server closed the connection without one. */
  async reply(): Promise<SmtpResponse> {
    const next = this.replies.shift();
    if (next) return next;
    if (this.ended) throw new Error('the server closed the connection');
    const reply = await new Promise<SmtpResponse | undefined>((resolve) => (this.waiting = resolve));
    if (reply === undefined) throw new Error('the server closed the connection');
    return reply;
  }

  /** Whether a reply has arrived that nobody has read yet. */
  get hasUnreadReply(): boolean {
    return this.replies.length > 0;
  }

  /** Writes as is; false when the socket's buffer is full (then wait for drained()). */
  write(data: string | Buffer): boolean {
    return this.socket.write(data);
  }

  async drained(): Promise<void> {
    await once(this.socket, 'drain');
  }

  async command(line: string): Promise<SmtpResponse> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** STARTTLS, then the handshake on the same connection; the peer's certificate. */
  async startTls(options: ConnectionOptions): Promise<{ reply: SmtpResponse; certificate: PeerCertificate }> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) throw new Error(`STARTTLS refused: ${reply.text}`);
    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = connectTls({ ...options, socket: plain });
    await once(secure, 'secureConnect');
    this.socket = secure;
    this.watch(secure);
    return { reply, certificate: secure.getPeerCertificate() };
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private watch(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.take(chunk.toString('utf8')));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      // The plain socket under TLS closes with the TLS one; only the one in use counts.
      if (socket !== this.socket) return;
      this.ended = true;
      this.waiting?.(undefined);
      this.waiting = undefined;
      this.markClosed();
    });
  }

  private take(chunk: string): void {
    this.buffered += chunk;
    for (;;) {
      const end = this.buffered.search(/^\d{3} .*\r\n/m);
      if (end === -1) return;
      const lineEnd = this.buffered.indexOf('\r\n', end) + 2;
      const raw = this.buffered.slice(0, lineEnd).replace(/\r\n$/, '');
      this.buffered = this.buffered.slice(lineEnd);
      const lines = raw.split('\r\n');
      const reply = { code: Number(lines[0]!.slice(0, 3)), lines: lines.map((line) => line.slice(4)), text: lines.join('\n') };
      const waiting = this.waiting;
      this.waiting = undefined;
      if (waiting) waiting(reply);
      else this.replies.push(reply);
    }
  }
}
