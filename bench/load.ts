/**
 * Child process: a load generator. A fixed number of loops each send one request at a time, so
 * `connections` is both the concurrency and (keep-alive) the socket count. After the warm-up it
 * measures until the duration ends or the parent says stop, and reports.
 *
 * It speaks HTTP/1.1 itself over node:tls instead of using node:https: on this 2-core machine
 * the client shares the CPU with the server, and the node:https client used a whole core at about
 * 8 000 req/s while the minimal server it was loading sat under 50 % of one, so the client, not the
 * server, set the pace. Certificates are still fully verified (chain and host name) on every
 * handshake, as a real fetcher does.
 */
import { createHistogram } from 'node:perf_hooks';
import { connect, createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { exitWithParent, toParent, type LoadCommand, type LoadPlan, type LoadResult } from './protocol.js';

/** Every response must be a policy; RFC 8461 §3.2 puts the version line first. */
const POLICY_START = Buffer.from('version: STSv1\r\n');
const REQUEST_TIMEOUT_MS = 10_000;
const FAILURE_SAMPLES = 5;

interface Response {
  status: number;
  head: string;
  body: Buffer;
}

/**
 * Splits the bytes of a connection into responses. The servers under test always send
 * Content-Length and never chunk a body this small, so that is all it understands.
 */
class ResponseReader {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly onResponse: (response: Response) => void) {}

  push(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const headEnd = this.buffered.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const head = this.buffered.toString('latin1', 0, headEnd);
      const length = Number(/\r\ncontent-length:[ \t]*(\d+)/i.exec(head)?.[1]);
      if (!Number.isInteger(length)) throw new Error(`response without Content-Length: ${JSON.stringify(head.slice(0, 60))}`);
      const end = headEnd + 4 + length;
      if (this.buffered.length < end) return;
      const body = this.buffered.subarray(headEnd + 4, end);
      this.buffered = this.buffered.subarray(end);
      this.onResponse({ status: Number(head.slice(9, 12)), head, body });
    }
  }
}

/** One verified TLS connection carrying one request at a time. */
class Connection {
  private pending: { resolve: (response: Response) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;

  private constructor(private readonly socket: TLSSocket) {
    const reader = new ResponseReader((response) => {
      const pending = this.pending;
      this.pending = undefined;
      pending?.resolve(response);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (error) {
        socket.destroy(error as Error);
      }
    });
    const settle = (error: Error) => {
      this.failure ??= error;
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(this.failure);
    };
    socket.on('error', settle);
    socket.on('close', () => settle(new Error('connection closed by the server')));
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy(new Error(`no response within ${REQUEST_TIMEOUT_MS} ms`)));
  }

  static open(port: number, servername: string, secureContext: SecureContext): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, servername, secureContext }, () => resolve(new Connection(socket)));
      socket.once('error', reject);
      socket.setNoDelay(true);
    });
  }

  request(bytes: string): Promise<Response> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(bytes);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

exitWithParent();
process.on('message', (command: LoadCommand) => {
  if (command.type === 'start') void run(command.plan);
});

async function run(plan: LoadPlan): Promise<void> {
  // Built once: a context per connection would cost the client more than the handshake itself.
  const secureContext = createSecureContext({ ca: plan.ca });
  const keepAlive = plan.mode === 'keep-alive';
  const latencyUs = createHistogram();
  let measuring = false;
  let stopping = false;
  let requests = 0;
  let failures = 0;
  const failureSamples = new Set<string>();
  let bodyVerified: boolean | null = null;

  const fail = (why: string) => {
    failures++;
    if (failureSamples.size < FAILURE_SAMPLES) failureSamples.add(why);
  };
  const pickHost = () => plan.hosts[Math.floor(Math.random() * plan.hosts.length)]!;
  const requestFor = (host: string) =>
    `GET ${plan.path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${plan.userAgent}\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`;

  const check = (host: string, response: Response, sent: number) => {
    if (response.status !== 200) return fail(`${host}: status ${response.status}`);
    if (!response.body.subarray(0, POLICY_START.length).equals(POLICY_START)) {
      return fail(`${host}: not a policy: ${JSON.stringify(response.body.toString('latin1', 0, 40))}`);
    }
    if (bodyVerified === null && plan.expectBody !== undefined) {
      bodyVerified =
        response.body.toString('latin1') === plan.expectBody &&
        /\r\ncontent-type: text\/plain; charset=utf-8\r\n/i.test(`${response.head}\r\n`);
    }
    if (measuring) {
      requests++;
      latencyUs.record(Math.max(1, Math.round((performance.now() - sent) * 1000)));
    }
  };

  // Keep-alive: one connection per loop, reopened only if the server closes it.
  const keepAliveLoop = async () => {
    const host = pickHost();
    while (!stopping) {
      let connection: Connection | undefined;
      try {
        connection = await Connection.open(plan.port, host, secureContext);
        while (!stopping) {
          const sent = performance.now();
          check(host, await connection.request(requestFor(host)), sent);
        }
      } catch (error) {
        if (!stopping) fail(`${host}: ${(error as Error).message}`);
      } finally {
        connection?.close();
      }
    }
  };
  // New connection: the timed request includes the TCP connect and the full TLS handshake.
  const newConnectionLoop = async () => {
    while (!stopping) {
      const host = pickHost();
      const sent = performance.now();
      let connection: Connection | undefined;
      try {
        connection = await Connection.open(plan.port, host, secureContext);
        check(host, await connection.request(requestFor(host)), sent);
      } catch (error) {
        fail(`${host}: ${(error as Error).message}`);
      } finally {
        connection?.close();
      }
    }
  };
  const loops = Array.from({ length: plan.connections }, keepAlive ? keepAliveLoop : newConnectionLoop);

  await new Promise((resolve) => setTimeout(resolve, plan.warmupMs));
  measuring = true;
  const cpuAtStart = process.cpuUsage();
  const startedAt = performance.now();
  await toParent({ type: 'window-start' });

  await new Promise<void>((resolve) => {
    if (plan.durationMs !== null) setTimeout(resolve, plan.durationMs);
    process.on('message', (command: LoadCommand) => command.type === 'stop' && resolve());
  });
  measuring = false;
  const windowMs = performance.now() - startedAt;
  const cpu = process.cpuUsage(cpuAtStart);
  await toParent({ type: 'window-end' });

  stopping = true;
  await Promise.all(loops);
  const result: LoadResult = {
    requests,
    failures,
    failureSamples: [...failureSamples],
    windowMs,
    p50Ms: latencyUs.percentile(50) / 1000,
    p99Ms: latencyUs.percentile(99) / 1000,
    maxMs: latencyUs.max / 1000,
    clientCpuPct: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
    bodyVerified,
  };
  await toParent({ type: 'result', ...result });
  process.disconnect();
}
