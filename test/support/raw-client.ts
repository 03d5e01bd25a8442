import { connect as connectTcp } from 'node:net';
import { connect, type ConnectionOptions, type PeerCertificate } from 'node:tls';

export interface RawResponse {
  raw: string;
  status: number;
  headers: Record<string, string>;
  body: string;
  certificate: PeerCertificate;
  protocol: string | null;
}

/** Sends exact request bytes over a new TLS connection and reads until the server closes it. */
export function rawHttpsRequest(port: number, request: string, tls: ConnectionOptions): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...tls }, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ ...parseResponse(raw), certificate: socket.getPeerCertificate(), protocol: socket.getProtocol() });
    });
  });
}

/** The same over plain TCP, for the port-80 listener. */
export function rawHttpRequest(port: number, request: string): Promise<Omit<RawResponse, 'certificate' | 'protocol'>> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port }, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => resolve(parseResponse(Buffer.concat(chunks).toString('latin1'))));
  });
}

function parseResponse(raw: string): { raw: string; status: number; headers: Record<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { raw, status: Number(statusLine?.split(' ')[1]), headers, body: raw.slice(split + 4) };
}
