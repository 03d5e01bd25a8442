import { connect, type Socket } from 'node:net';
import { handshake, type PeerCertificateFacts } from './tls-peer.js';

/** Bytes of SMTP replies read before the server is judged broken: real EHLO answers are well under 1 KiB. */
const MAX_REPLY_BYTES = 16_384;

/** How far an SMTP STARTTLS exchange got. */
export type StarttlsProbe =
  | { ok: true; certificate: PeerCertificateFacts }
  | { ok: false; stage: 'connect' | 'greeting' | 'ehlo' | 'starttls' | 'tls'; reason: string; reply?: string };

export interface StarttlsProbeOptions {
  /** The MX host name: sent as SNI and checked against the certificate. */
  host: string;
  address: string;
  port: number;
  ca: readonly string[];
  /** Name sent with EHLO. */
  ehloName: string;
  /** The whole exchange, connection to handshake, ends by then. */
  timeoutMs: number;
}

/**
 * What a sending MTA does before it sends mail under MTA-STS (RFC 8461 §4.2, RFC 3207): connect,
 * read the greeting, EHLO, see STARTTLS offered, STARTTLS, and a TLS handshake with the MX name
 * as SNI. Then QUIT; nothing else is sent. Bounded by `timeoutMs` and MAX_REPLY_BYTES.
 */
export function probeStarttls(options: StarttlsProbeOptions): Promise<StarttlsProbe> {
  return new Promise((resolve) => {
    const socket = connect({ host: options.address, port: options.port });
    let stage: Exclude<StarttlsProbe, { ok: true }>['stage'] = 'connect';
    let settled = false;
    const finish = (result: StarttlsProbe) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve(result);
    };
    const deadline = setTimeout(
      () => finish({ ok: false, stage, reason: `no answer within ${options.timeoutMs} ms (${stage})` }),
      options.timeoutMs,
    );
    socket.on('error', (error) => finish({ ok: false, stage, reason: error.message }));
    socket.on('close', () => finish({ ok: false, stage, reason: 'the server closed the connection' }));
    const replies = new ReplyReader(socket);
    const expect = async (nextStage: typeof stage, code: string) => {
      stage = nextStage;
      const reply = await replies.next();
      if (reply === undefined) throw new ProbeStop({ ok: false, stage, reason: `reply longer than ${MAX_REPLY_BYTES} bytes` });
      if (!reply.startsWith(code)) throw new ProbeStop({ ok: false, stage, reason: 'unexpected reply', reply });
      return reply;
    };
    socket.once('connect', async () => {
      try {
        await expect('greeting', '220');
        socket.write(`EHLO ${options.ehloName}\r\n`);
        const ehlo = await expect('ehlo', '250');
        // RFC 3207 §4: the EHLO reply lists STARTTLS as one of its keyword lines.
        if (!ehlo.split('\r\n').some((line) => /^250[ -]STARTTLS\s*$/i.test(line))) {
          throw new ProbeStop({ ok: false, stage: 'ehlo', reason: 'STARTTLS is not offered', reply: ehlo });
        }
        socket.write('STARTTLS\r\n');
        await expect('starttls', '220');
        stage = 'tls';
        socket.removeAllListeners('close');
        replies.detach();
        const { socket: secure, facts } = await handshake({ socket, servername: options.host, ca: options.ca });
        secure.on('error', () => undefined);
        // Nothing but QUIT goes over a connection, valid or not: this is a probe, not a delivery.
        secure.end('QUIT\r\n');
        finish({ ok: true, certificate: facts });
      } catch (error) {
        finish(error instanceof ProbeStop ? error.result : { ok: false, stage, reason: (error as Error).message });
      }
    });
  });
}

class ProbeStop extends Error {
  constructor(readonly result: Exclude<StarttlsProbe, { ok: true }>) {
    super(result.reason);
  }
}

/**
 * Whole SMTP replies off a socket: RFC 5321 §4.2.1, the lines of a reply are "CODE-text" but the
 * last, "CODE text". Undefined when a reply grows past MAX_REPLY_BYTES.
 */
class ReplyReader {
  private buffer = '';
  private waiting: (() => void) | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.buffer += chunk.toString('latin1');
    this.waiting?.();
  };

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      const end = this.replyEnd();
      if (end !== undefined) {
        const reply = this.buffer.slice(0, end - 2);
        this.buffer = this.buffer.slice(end);
        return reply;
      }
      if (this.buffer.length > MAX_REPLY_BYTES) return undefined;
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }

  /** Stops reading: the TLS layer takes the socket over. */
  detach(): void {
    this.socket.off('data', this.onData);
  }

  /** Where the reply in the buffer ends (after its last CRLF), once a line with a space after the code is in. */
  private replyEnd(): number | undefined {
    let start = 0;
    for (;;) {
      const lineEnd = this.buffer.indexOf('\r\n', start);
      if (lineEnd < 0) return undefined;
      if (this.buffer[start + 3] !== '-') return lineEnd + 2;
      start = lineEnd + 2;
    }
  }
}
