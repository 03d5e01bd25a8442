import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { endsWithThisProcess } from '../support/children.js';
import { MAILAUTH_CLIENT, MAILAUTH_MTA_STS, type ClientResult, type DnsJson } from '../support/mailauth-client.js';
import { NetworkNamespace } from '../support/network-namespace.js';
import { fileURLToPath, pathToFileURL } from 'node:url';

/*
 * End to end with a real ACME CA: `serve` obtains its certificate from Debian's pebble over HTTP-01
 * on port 80, and mailauth's lib/mta-sts.js (strict mode, as a sending MTA uses it) fetches the
 * policy over that certificate on port 443, trusting only pebble's issuing root.
 *
 * Ports 80 and 443 need a network namespace of the test's own. Everything that must reach the
 * service runs inside it: a harness child (pebble and the DNS server pebble validates with, both from
 * test/support, started by a node process that itself runs in the namespace), the service, and the
 * mailauth client. Nothing leaves the namespace's loopback.
 */

const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(PROJECT, 'dist', 'src', 'cli', 'main.js');
const PEBBLE_SUPPORT = pathToFileURL(join(PROJECT, 'dist', 'test', 'support', 'pebble.js')).href;
const DNS_SUPPORT = pathToFileURL(join(PROJECT, 'dist', 'test', 'support', 'dns-server.js')).href;
const HOST = 'mta-sts.example.com';
const HARNESS_TIMEOUT_MS = 30_000;
const CERTIFICATE_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * Runs inside the namespace: the DNS server pebble's validation authority asks (HOST -> 127.0.0.1)
 * and pebble, validating HTTP-01 on port 80. Prints one JSON line once both are up; then, for each
 * line `root <path>` on stdin, writes pebble's current issuing root to <path> and prints
 * `{"root":"<path>"}`. When stdin ends (the test is done, or died) it stops both and exits.
 */
const HARNESS = `
import { createInterface } from 'node:readline';
import { writeFile } from 'node:fs/promises';
const { TestPebble } = await import(process.argv[2]);
const { TestDnsServer } = await import(process.argv[3]);
const host = process.argv[4];
const say = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
const dns = await TestDnsServer.start();
dns.setA(host, ['127.0.0.1']);
let pebble;
try {
  pebble = await TestPebble.start({ dnsPort: dns.port, httpPort: 80 });
} catch (error) {
  say({ error: String(error && error.stack || error) });
  await dns.close();
  process.exit(1);
}
let stopping;
const stop = () => (stopping ??= (async () => {
  process.stderr.write('--- pebble output ---\\n' + pebble.output);
  await pebble.stop();
  await dns.close();
  process.exit(0);
})());
process.on('SIGTERM', stop);
const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const [command, path] = line.split(' ');
  if (command !== 'root') return say({ error: 'unknown command: ' + line });
  try {
    await writeFile(path, await pebble.issuingRootPem());
    say({ root: path });
  } catch (error) {
    say({ error: String(error && error.stack || error) });
  }
});
lines.on('close', stop);
say({ ready: true, directoryUrl: pebble.directoryUrl, caBundlePath: pebble.caBundlePath });
`;

const configFor = (directoryUrl: string, caBundlePath: string) => `
domains:
  example.com:
    mode: enforce
    mx: [mail.example.com]
listen: { address: 127.0.0.1, https: 443, http: 80 }
tls:
  source: acme
  acme:
    directory: ${directoryUrl}
    email: hostmaster@example.com
    accept_terms: true
    ca_bundle: ${caBundlePath}
    challenge: http-01
state_dir: state
log: { level: info }
`;

/** A child process whose stdout and stderr are collected, with a wait for a condition on its stdout. */
class Captured {
  stdout = '';
  stderr = '';
  readonly closed: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    endsWithThisProcess(child);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
    child.once('error', (error) => (this.stderr += `\n[spawn error: ${error.message}]`));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Outputs for an assertion message. */
  describe(): string {
    return `--- ${this.name} stdout ---\n${this.stdout}\n--- ${this.name} stderr ---\n${this.stderr}`;
  }

  /** Parsed JSON lines of stdout (lines that are not JSON are skipped). */
  jsonLines(): Record<string, unknown>[] {
    return this.stdout.split('\n').flatMap((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  }

  async waitForLine(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs: number,
    what: string,
    from = 0,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.jsonLines().slice(from).find(predicate);
      if (found) return found;
      if (!this.running) throw new Error(`${this.name} exited before ${what}\n${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms\n${this.describe()}`);
      await sleep(100);
    }
  }

  /** SIGTERM, then SIGKILL if it does not exit in time. */
  async stop(): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.closed;
    clearTimeout(timer);
  }
}

describe('mailauth accepts the policy served over a certificate from a real ACME CA (pebble)', () => {
  let dir: string | undefined;
  let netns: NetworkNamespace | undefined;
  let harness: Captured | undefined;
  let service: Captured | undefined;
  let dns: DnsJson;
  let loaded: Record<string, unknown>;
  let rootPem: string;
  let client: { stdout: string; stderr: string; status: number | null };
  let result: ClientResult | undefined;

  const diagnostics = () =>
    [service?.describe(), harness?.describe(), client && `--- client ---\n${client.stdout}\n${client.stderr}`]
      .filter(Boolean)
      .join('\n');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mta-sts-acme-mailauth-'));
    netns = await NetworkNamespace.create();
    const inNetns = (command: string, args: string[]) => netns!.spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });

    const harnessPath = join(dir, 'harness.mjs');
    await writeFile(harnessPath, HARNESS);
    harness = new Captured('pebble harness', inNetns(process.execPath, [harnessPath, PEBBLE_SUPPORT, DNS_SUPPORT, HOST]));
    const ready = await harness.waitForLine((line) => 'ready' in line || 'error' in line, HARNESS_TIMEOUT_MS, 'pebble ready');
    assert.equal(ready.ready, true, `pebble harness failed\n${harness.describe()}`);

    const configPath = join(dir, 'mta-sts.yaml');
    await writeFile(configPath, configFor(String(ready.directoryUrl), String(ready.caBundlePath)));
    dns = JSON.parse(
      execFileSync(process.execPath, [MAIN, 'dns', '--config', configPath, '--json', '--ipv4', '127.0.0.1'], {
        encoding: 'utf8',
      }),
    ) as DnsJson;

    // Root inside the namespace: 443 and 80 bind without any sysctl, and the host's are untouched.
    service = new Captured('serve', inNetns(process.execPath, [MAIN, 'serve', '--config', configPath]));
    loaded = await service.waitForLine(
      (line) => line.event === 'certificate_loaded' && line.host === HOST,
      CERTIFICATE_TIMEOUT_MS,
      `certificate_loaded for ${HOST}`,
    );

    // Pebble makes a new root per run; fetch this run's, from inside the namespace.
    const rootPath = join(dir, 'pebble-root.pem');
    const before = harness.jsonLines().length;
    harness.child.stdin!.write(`root ${rootPath}\n`);
    const written = await harness.waitForLine((line) => 'root' in line || 'error' in line, 10_000, 'pebble root', before);
    assert.equal(written.root, rootPath, `fetching pebble's root failed\n${harness.describe()}`);
    rootPem = await readFile(rootPath, 'utf8');

    // The resolver answers what an admin publishes: the TXT record printed by `dns --json`, and an
    // A record for the policy host at the service's address in the namespace.
    const zone: Record<string, string[] | string[][]> = { [`A ${HOST}`]: ['127.0.0.1'] };
    for (const { records } of dns.domains) {
      for (const { name, type, value } of records) {
        if (type !== 'TXT' || !name.startsWith('_mta-sts.')) continue;
        const quoted = /^"(.*)"$/.exec(value);
        assert.ok(quoted, `TXT value of ${name} is quoted: ${value}`);
        zone[`TXT ${name.replace(/\.$/, '')}`] = [[quoted[1]!]];
      }
    }
    assert.ok(zone['TXT _mta-sts.example.com'], `dns --json prints the _mta-sts TXT record: ${JSON.stringify(dns)}`);

    const clientPath = join(dir, 'mailauth-client.cjs');
    await writeFile(clientPath, MAILAUTH_CLIENT);
    // NODE_EXTRA_CA_CERTS is the only way mailauth's request trusts another CA; node reads it at start.
    const run = new Captured(
      'mailauth client',
      netns.spawn(process.execPath, [clientPath, MAILAUTH_MTA_STS, JSON.stringify({ zone, domains: ['example.com'] })], {
        env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: rootPath },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
    await run.closed;
    clearTimeout(timer);
    client = { stdout: run.stdout, stderr: run.stderr, status: run.child.exitCode };
    try {
      result = (JSON.parse(client.stdout) as Record<string, ClientResult>)['example.com'];
    } catch {
      result = undefined;
    }
  });

  after(async () => {
    try {
      await service?.stop();
      // Closing its stdin makes the harness stop pebble and the DNS server; SIGTERM as a fallback.
      if (harness) {
        harness.child.stdin?.end();
        const timer = setTimeout(() => void harness!.stop(), STOP_TIMEOUT_MS);
        await harness.closed;
        clearTimeout(timer);
      }
    } finally {
      await netns?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });

  it('serve obtains the certificate for the policy host from pebble', () => {
    assert.equal(loaded.source, 'acme');
    assert.match(String(loaded.issuer), /Pebble Intermediate CA/, diagnostics());
    assert.match(rootPem, /^-----BEGIN CERTIFICATE-----/);
  });

  it('mailauth finds the enforce policy over that certificate, with the id of the published TXT record', () => {
    assert.ok(result, `mailauth client printed no result (exit ${client.status})\n${diagnostics()}`);
    assert.equal(result.status, 'found', `mailauth: ${JSON.stringify(result.policy.error)}\n${diagnostics()}`);
    const published = dns.domains.find((entry) => entry.domain === 'example.com');
    assert.ok(published, 'dns --json lists example.com');
    // expires is mailauth's clock plus maxAge, and maxAge is compared here.
    const { expires: _expires, error, ...policy } = result.policy;
    assert.equal(error, undefined);
    assert.deepEqual(policy, {
      id: published.policy_id,
      mode: 'enforce',
      version: 'STSv1',
      mx: ['mail.example.com'],
      maxAge: 604_800,
    });
  });
});
