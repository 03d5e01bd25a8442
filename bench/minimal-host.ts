/**
 * Child process: the reference point, a minimal node:https server that answers the policy path with
 * the same bytes, status and content type as the service, from the same certificate, and logs nothing.
 *
 * argv[2] is JSON `{ certPath, keyPath, path, body }`.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serveControl } from './server-control.js';

interface MinimalOptions {
  certPath: string;
  keyPath: string;
  path: string;
  body: string;
}

const options = JSON.parse(process.argv[2]!) as MinimalOptions;
const body = Buffer.from(options.body, 'ascii');
const started = performance.now();
const server = createServer({ cert: readFileSync(options.certPath), key: readFileSync(options.keyPath) }, (request, response) => {
  if (request.url === options.path) {
    response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length });
    response.end(body);
  } else {
    response.writeHead(404).end();
  }
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

serveControl({
  port: (server.address() as AddressInfo).port,
  startMs: performance.now() - started,
  stop: () => new Promise((resolve) => server.close(() => resolve())),
});
