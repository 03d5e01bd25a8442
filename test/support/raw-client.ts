import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect, type ConnectionOptions, type PeerCertificate } from 'node:tls';

/** An HTTP response as read off the wire. */
export interface PlainResponse {
  raw: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The same over TLS, with what the handshake showed. */
export interface RawResponse extends PlainResponse {
  certificate: PeerCertificate;
  protocol: string | null;
  /** Whether the handshake resumed the session offered in `tls.session`. */
  sessionReused: boolean;
  /** The last session the server handed out on this connection (a TLS 1.3 ticket, say), to offer on the next. */
  session: Buffer | undefined;
}

/** Sends exact request bytes over a new TLS connection and reads until the server closes it. */
export function rawHttpsRequest(port: number, request: string, tls: ConnectionOptions): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let sessionReused = false;
    let session: Buffer | undefined;
    const socket = connect({ host: '127.0.0.1', port, ...tls }, () => {
      sessionReused = socket.isSessionReused();
      socket.write(request);
    });
    const chunks: Buffer[] = [];
    socket.on('session', (offered: Buffer) => (session = offered));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({
        ...parseResponse(raw),
        certificate: socket.getPeerCertificate(),
        protocol: socket.getProtocol(),
        sessionReused,
        session,
      });
    });
  });
}

/** The same over plain TCP, for the port-80 listener. */
export function rawHttpRequest(port: number, request: string): Promise<PlainResponse> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port }, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => resolve(parseResponse(Buffer.concat(chunks).toString('latin1'))));
  });
}

/** What a server did with a request sent to it one byte at a time. */
export interface Trickled {
  /** What the server answered before it closed the connection. */
  response: string;
  /** How many bytes of the request went out before that. */
  sent: number;
  /** From the first byte sent to the close. */
  elapsedMs: number;
}

/**
 * Sends `request` over a connected socket one byte every `everyMs`, as a slowloris client does,
 * until the server closes the connection.
 */
export async function trickle(socket: Socket, request: string, everyMs: number): Promise<Trickled> {
  socket.on('error', () => undefined);
  let response = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (response += chunk));
  const closed = once(socket, 'close');
  let sent = 0;
  const firstByteAt = Date.now();
  const next = () => {
    if (sent < request.length && !socket.destroyed) socket.write(request[sent++]!);
  };
  const timer = setInterval(next, everyMs);
  next();
  await closed;
  clearInterval(timer);
  return { response, sent, elapsedMs: Date.now() - firstByteAt };
}

function parseResponse(raw: string): PlainResponse {
  const split = raw.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { raw, status: Number(statusLine?.split(' ')[1]), headers, body: raw.slice(split + 4) };
}
