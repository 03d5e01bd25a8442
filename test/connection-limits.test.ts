import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as connectTcp, type AddressInfo, type Socket } from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as connectTls } from 'node:tls';
import { allowSilence, inactivityTimeoutOf, openConnectionsOf } from '../src/net/open-connections.js';
import { closeConnectionsWithoutRequest, createNodeServer, type ConnectionLimits } from '../src/server/node-server.js';
import { createNeutralCertificate } from '../src/tls/neutral-certificate.js';
import { msUntil } from './support/deadline.js';
import { trickle } from './support/raw-client.js';

// The listeners' node server in process, with short configured limits: what a slow, silent or
// idle client gets (README, "Connection limits"), and what a graceful stop closes.

/** Requests the handler has not answered yet; `hold` keeps them open until answered. */
type Held = { request: IncomingMessage; response: ServerResponse }[];

async function serve(
  t: TestContext,
  limits: Partial<ConnectionLimits>,
  options: { tls?: boolean; hold?: boolean } = {},
): Promise<{ server: Server; port: number; held: Held }> {
  const held: Held = [];
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    if (options.hold && request.url === '/hold') held.push({ request, response });
    else response.end('answered\n');
  };
  const tls = options.tls ? { certificateFor: () => undefined, neutral: createNeutralCertificate() } : undefined;
  const server = createNodeServer(handler, tls, limits);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { server, port: (server.address() as AddressInfo).port, held };
}

/** A connection to the server, over TLS (handshake done) when `tls`; everything it receives is collected. */
async function client(port: number, tls = false): Promise<{ socket: Socket; received: () => string; closed: Promise<unknown> }> {
  const socket = tls
    ? connectTls({ host: '127.0.0.1', port, rejectUnauthorized: false })
    : connectTcp({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  let received = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
  const closed = once(socket, 'close');
  await once(socket, tls ? 'secureConnect' : 'connect');
  return { socket, received: () => received, closed };
}

const get = (path: string, connection = 'keep-alive') =>
  `GET ${path} HTTP/1.1\r\nHost: mta-sts.example.com\r\nConnection: ${connection}\r\n\r\n`;

test('by default 10 s for headers, 30 s per request, 5 s idle keep-alive and 10 s of silence; a setting given replaces only itself', (t) => {
  const servers = [
    createNodeServer(() => undefined, undefined),
    createNodeServer(() => undefined, undefined, { keepAliveTimeoutMs: 700 }),
  ];
  t.after(() => servers.forEach((server) => server.close()));
  assert.deepEqual(
    servers.map((server) => [server.headersTimeout, server.requestTimeout, server.keepAliveTimeout, inactivityTimeoutOf(server)]),
    [
      [10_000, 30_000, 5_000, 10_000],
      [10_000, 30_000, 700, 10_000],
    ],
  );
  // The inactivity timeout is the service's own sweep (src/net/open-connections.ts), not Node's timer per socket.
  assert.deepEqual(
    servers.map((server) => server.timeout),
    [0, 0],
  );
});

test('a client that connects and says nothing is closed at the inactivity timeout, with no answer', async (t) => {
  const { port } = await serve(t, { inactivityTimeoutMs: 300, headersTimeoutMs: 20_000, requestTimeoutMs: 30_000 });
  const silent = await client(port);
  const waited = await msUntil(silent.closed);
  // Swept a few times per timeout: closed at the timeout, and at most a quarter of it late (plus scheduling).
  assert.ok(waited >= 250 && waited < 300 + 75 + 150, `closed after ${waited} ms`);
  assert.equal(silent.received(), '');
});

test('a connection that keeps sending, or keeps being answered, is not silent; one allowed to be silent stays open', async (t) => {
  const { server, port } = await serve(t, { inactivityTimeoutMs: 300, headersTimeoutMs: 20_000, requestTimeoutMs: 30_000 });
  const sending = await client(port);
  const answered = await client(port);
  const allowed = await client(port);
  const silent = await client(port);
  const serverSide = [...openConnectionsOf(server)].find((socket) => socket.remotePort === allowed.socket.localPort);
  allowSilence(serverSide!);
  // For 900 ms (three timeouts): a header byte every 100 ms on one, a request every 100 ms on another.
  sending.socket.write('GET / HTTP/1.1\r\nHost: mta-sts.example.com\r\nX-Slow: ');
  for (let step = 0; step < 9; step++) {
    sending.socket.write('x');
    answered.socket.write(get('/'));
    await sleep(100);
  }
  await msUntil(silent.closed, 1_000);
  assert.equal(sending.socket.destroyed, false);
  assert.equal(answered.socket.destroyed, false);
  assert.equal(allowed.socket.destroyed, false);
  assert.match(answered.received(), /^HTTP\/1\.1 200 /);
});

test('a client trickling its headers faster than the inactivity timeout gets 408 at the headers timeout', async (t) => {
  const { port } = await serve(t, { inactivityTimeoutMs: 20_000, headersTimeoutMs: 300, requestTimeoutMs: 30_000 });
  const { socket } = await client(port);
  const request = get('/slow') + 'x'.repeat(200);
  const trickled = await trickle(socket, request, 20);
  // At 20 ms a byte the request would be complete after about 5 s: the 408 comes long before.
  assert.match(trickled.response, /^HTTP\/1\.1 408 /);
  assert.ok(trickled.sent < request.length, `sent ${trickled.sent} of ${request.length} bytes`);
});

test('an idle keep-alive connection is closed at the keep-alive timeout, well before the inactivity timeout', async (t) => {
  const { port } = await serve(t, { inactivityTimeoutMs: 20_000, keepAliveTimeoutMs: 300 });
  const idle = await client(port);
  idle.socket.write(get('/'));
  await once(idle.socket, 'data');
  await msUntil(idle.closed);
  assert.match(idle.received(), /^HTTP\/1\.1 200 [\s\S]*answered\n$/);
});

test('over TLS, a client that never completes its handshake is dropped at the headers timeout', async (t) => {
  const { port } = await serve(t, { inactivityTimeoutMs: 20_000, headersTimeoutMs: 300 }, { tls: true });
  const tcp = connectTcp({ host: '127.0.0.1', port });
  tcp.on('error', () => undefined);
  await once(tcp, 'connect');
  await msUntil(once(tcp, 'close'));
});

test('an HTTP/1.1 request without Host is answered 400 (RFC 9112 §3.2), never by the handler', async (t) => {
  const { port } = await serve(t, {});
  const bare = await client(port);
  bare.socket.write('GET / HTTP/1.1\r\nConnection: close\r\n\r\n');
  await bare.closed;
  assert.match(bare.received(), /^HTTP\/1\.1 400 /);
  assert.doesNotMatch(bare.received(), /answered/);
});

for (const tls of [false, true]) {
  test(`a graceful stop over ${tls ? 'TLS' : 'plain HTTP'}: connections without a request in progress close, one being answered is answered`, async (t) => {
    const { server, port, held } = await serve(t, {}, { tls, hold: true });
    const idle = await client(port, tls);
    idle.socket.write(get('/'));
    await once(idle.socket, 'data');
    const silent = await client(port, tls);
    const halfway = await client(port, tls);
    halfway.socket.write('GET / HTTP/1.1\r\nHost: mta-');
    const answering = await client(port, tls);
    answering.socket.write(get('/hold', 'close'));
    while (held.length === 0) await once(server, 'request');

    closeConnectionsWithoutRequest(server);
    await msUntil(Promise.all([idle.closed, silent.closed, halfway.closed]));
    assert.equal(answering.socket.destroyed, false);
    held[0]!.response.end('answered late\n');
    await answering.closed;
    assert.match(answering.received(), /^HTTP\/1\.1 200 [\s\S]*answered late\n$/);
  });
}

test('a graceful stop leaves a server it did not make alone', async (t) => {
  const server = createServer((_request, response) => response.end());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  const connected = await client((server.address() as AddressInfo).port);
  closeConnectionsWithoutRequest(server);
  assert.equal(connected.socket.destroyed, false);
  connected.socket.destroy();
});
