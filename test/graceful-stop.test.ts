import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { serveProcess } from './support/json-log-process.js';
import { LOOPBACK_LISTEN, writeTestConfig } from './support/service.js';

// What `docker stop` allows before SIGKILL, and what serve promises to stay within.
const STOP_DEADLINE_MS = 10_000;

/** Resolves with everything received once `text` has arrived; rejects if the connection ends first. */
function receive(socket: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: string) => {
      received += chunk;
      if (!received.includes(text)) return;
      socket.off('data', onData).off('close', onClose);
      resolve(received);
    };
    const onClose = () =>
      reject(new Error(`the connection closed before ${JSON.stringify(text)}; received ${JSON.stringify(received)}`));
    socket.setEncoding('latin1').on('data', onData).once('close', onClose);
  });
}

test('serve: a request still arriving when SIGTERM comes is answered, then the process exits 0', async () => {
  const { dir, configPath } = await writeTestConfig(`domains:\n  example.com: { mode: none }\n${LOOPBACK_LISTEN}`);
  const served = serveProcess(configPath);
  try {
    const started = await served.waitForEvent('service_started');
    const ca = await readFile(join(dir, 'state', 'self-signed', 'ca.pem'), 'utf8');
    const tls = { host: '127.0.0.1', port: (started.https as { port: number }).port, servername: 'mta-sts.example.com', ca };

    // A connection without a request: the stop closes it, which shows it has made its closing round.
    const idle = connect(tls);
    idle.on('error', () => undefined);
    await once(idle, 'secureConnect');
    const idleClosed = once(idle, 'close');

    // A request whose body is on its way: Fastify reads it before answering (404 for this path).
    // The server's 100 Continue says it has the headers and is handling the request.
    const held = connect(tls);
    await once(held, 'secureConnect');
    const body = 'x'.repeat(100);
    const continued = receive(held, '\r\n\r\n');
    held.write(
      'POST /upload HTTP/1.1\r\nHost: mta-sts.example.com\r\nContent-Type: text/plain\r\n' +
        `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    assert.match(await continued, /^HTTP\/1\.1 100 Continue\r\n/);
    held.write(body.slice(0, 50));

    const signalledAt = Date.now();
    served.child.kill('SIGTERM');
    await served.waitForEvent('shutdown_requested');
    await idleClosed;
    assert.equal(held.destroyed, false, 'the connection with a request in progress was closed by the stop');

    const answered = receive(held, '404 not found\n');
    held.write(body.slice(50));
    assert.match(await answered, /^HTTP\/1\.1 404 Not Found\r\n/);

    const exit = await served.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr:\n${served.stderr}`);
    const stopMs = Date.now() - signalledAt;
    assert.ok(stopMs < STOP_DEADLINE_MS, `exited ${stopMs} ms after SIGTERM`);
    assert.ok(served.lines.some((line) => line.event === 'service_stopped'));
  } finally {
    await served.kill();
  }
});
