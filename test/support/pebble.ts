import { spawn, type ChildProcess } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { freePorts } from './ports.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/**
 * Debian's `pebble` (Let's Encrypt's ACME test CA, package `pebble`) as a child process on loopback, for
 * end-to-end ACME tests. The package ships no certificate for pebble's own HTTPS endpoints, so the
 * harness makes one (self-signed, for 127.0.0.1 and localhost) and clients trust it through `caBundle`.
 * Every instance in a test process presents that same certificate: acme-client trusts through a single
 * process-wide axios agent, so trusting one pebble's `caBundle` is then trusting them all.
 */

const PEBBLE_BINARY = '/usr/bin/pebble';
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * What pebble 2.4.0 logs once per order it has accepted (after its JWS, account and identifier checks;
 * a rejected new-order request logs none), e.g. `Pebble 2026/11/28 22:44:59 Added order "7Ffr…A1U" to the db`.
 * It is followed by `There are now N orders in the db`, but that N starts again at 0 after a restart.
 */
const NEW_ORDER_LINE = /Added order "[^"]+" to the db/g;

/**
 * Fixed for determinism: no random 0–15 s sleeps before each validation, no rejection of 5% of good
 * nonces, and no reuse of valid authorizations (pebble reuses them 50% of the time by default, which
 * would make whether a second order for a name is validated again a coin toss).
 */
const PEBBLE_ENV = { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' };

export interface TestPebbleOptions {
  /** Port of a DNS server on 127.0.0.1 (TestDnsServer) that pebble's validation authority resolves every name with. */
  dnsPort: number;
  /** Port pebble connects to for HTTP-01 validation (on the address the DNS server gives for the name). */
  httpPort: number;
  /** Port for TLS-ALPN-01 validation; without it pebble dials port 0, so such a validation fails with "connection refused". */
  tlsPort?: number;
  /** Makes new accounts require external account binding with this key id and base64url HMAC key. */
  eab?: { kid: string; hmacKey: string };
}

export class TestPebble {
  /** PEM of the self-signed certificate pebble's ACME and management endpoints present (the same for every instance). */
  readonly caBundle: string;
  private outputChunks: string[] = [];
  private child!: ChildProcess;
  private exited!: Promise<void>;

  private constructor(
    private readonly dir: string,
    private readonly configPath: string,
    private readonly dnsPort: number,
    readonly directoryUrl: string,
    /** Base URL of pebble's management interface (`/roots/0`, `/intermediates/0`, ...). */
    readonly managementUrl: string,
    /** The same PEM as `caBundle`, as a file, for clients configured by path. */
    readonly caBundlePath: string,
    caBundle: string,
  ) {
    this.caBundle = caBundle;
  }

  static async start(options: TestPebbleOptions): Promise<TestPebble> {
    const dir = await mkdtemp(join(tmpdir(), 'mta-sts-pebble-'));
    const { certificatePem, keyPem } = await endpointCertificate();
    const certificatePath = join(dir, 'endpoint-cert.pem');
    const keyPath = join(dir, 'endpoint-key.pem');
    await writeFile(certificatePath, certificatePem);
    await writeFile(keyPath, keyPem, { mode: 0o600 });

    const [listenPort, managementPort] = await freePorts(2);
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${listenPort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: certificatePath,
        privateKey: keyPath,
        httpPort: options.httpPort,
        tlsPort: options.tlsPort ?? 0,
        // Empty: issued certificates carry no OCSP URL (pebble has no OCSP responder).
        ocspResponderURL: '',
        externalAccountBindingRequired: options.eab !== undefined,
        ...(options.eab && { externalAccountMACKeys: { [options.eab.kid]: options.eab.hmacKey } }),
      },
    };
    const configPath = join(dir, 'pebble-config.json');
    await writeFile(configPath, JSON.stringify(config, null, 2));

    const pebble = new TestPebble(
      dir,
      configPath,
      options.dnsPort,
      `https://127.0.0.1:${listenPort}/dir`,
      `https://127.0.0.1:${managementPort}`,
      certificatePath,
      certificatePem,
    );
    try {
      await pebble.launch();
    } catch (error) {
      await pebble.stop();
      throw error;
    }
    return pebble;
  }

  /** The `tls:` block of a service config that orders from this pebble, trusting its endpoint through ca_bundle. */
  tlsYaml(challenge = 'http-01'): string {
    return `tls:
  source: acme
  acme:
    directory: ${this.directoryUrl}
    email: hostmaster@example.com
    accept_terms: true
    ca_bundle: ${this.caBundlePath}
    challenge: ${challenge}`;
  }

  /** Everything pebble wrote to stdout and stderr so far, across restarts: attach it to a failing assertion. */
  get output(): string {
    return this.outputChunks.join('');
  }

  /** New orders pebble accepted since `start()`, across restarts. */
  orderCount(): number {
    return this.output.match(NEW_ORDER_LINE)?.length ?? 0;
  }

  /** The root pebble issues under in its current run (a new one after every start or restart). */
  issuingRootPem(): Promise<string> {
    return this.managementGet('/roots/0');
  }

  /** The intermediate between that root and issued certificates (pebble's default chain length is 1). */
  intermediatePem(): Promise<string> {
    return this.managementGet('/intermediates/0');
  }

  /** Stops pebble and removes its files. Safe to call twice. */
  async stop(): Promise<void> {
    await this.halt();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Stops the process but keeps its files, for a CA outage that `restart()` ends. */
  async pause(): Promise<void> {
    await this.halt();
  }

  /** A new pebble process on the same ports with the same endpoint certificate; it has a new root and forgets all accounts and orders. */
  async restart(): Promise<void> {
    await this.halt();
    this.outputChunks.push('--- restart ---\n');
    await this.launch();
  }

  private async launch(): Promise<void> {
    // setpriv --pdeathsig: the kernel kills pebble when this test process dies, whatever the way
    // (a crash, a SIGKILL from a test-runner timeout), so no pebble outlives its test file holding ports.
    const child = spawn(
      'setpriv',
      ['--pdeathsig', 'KILL', '--', PEBBLE_BINARY, '-config', this.configPath, '-dnsserver', `127.0.0.1:${this.dnsPort}`],
      { env: { ...process.env, ...PEBBLE_ENV }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let gone: string | undefined;
    child.once('error', (error) => (gone = `cannot run pebble: ${error.message}`));
    // 'close' rather than 'exit': by then both pipes are drained, so `output` holds pebble's last words.
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        gone ??= `pebble exited (${code ?? signal})`;
        resolve();
      }),
    );
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => this.outputChunks.push(text));
    }

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      try {
        await httpsGet(this.directoryUrl, this.caBundle);
        return;
      } catch (error) {
        if (gone !== undefined) throw new Error(`${gone} before its directory answered:\n${this.output}`);
        if (Date.now() > deadline)
          throw new Error(`pebble's directory did not answer within ${READY_TIMEOUT_MS} ms (${String(error)}):\n${this.output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private async halt(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exited;
    clearTimeout(timer);
  }

  private managementGet(path: string): Promise<string> {
    return httpsGet(this.managementUrl + path, this.caBundle);
  }
}

/** GET trusting only `ca`; rejects on anything but 200. No agent: no keep-alive socket outlives the call. */
function httpsGet(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(url, { ca, agent: false, timeout: 5_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (response.statusCode === 200) resolve(body);
        else reject(new Error(`GET ${url}: HTTP ${response.statusCode}: ${body}`));
      });
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: timed out`)));
    request.on('error', reject);
  });
}

let sharedEndpointCertificate: Promise<{ certificatePem: string; keyPem: string }> | undefined;

/** The endpoint certificate and key all instances in this process share, made on first use. */
function endpointCertificate(): Promise<{ certificatePem: string; keyPem: string }> {
  return (sharedEndpointCertificate ??= makeEndpointCertificate());
}

/** A self-signed ECDSA certificate and PKCS#8 key for https://127.0.0.1 (and localhost), valid for a day. */
async function makeEndpointCertificate(): Promise<{ certificatePem: string; keyPem: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    // A leading 01 byte keeps the random serial positive, as RFC 5280 §4.1.2.2 requires.
    serialNumber: '01' + Buffer.from(webcrypto.getRandomValues(new Uint8Array(15))).toString('hex'),
    name: 'CN=pebble test endpoint',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
  const keyDer = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certificatePem: certificate.toString('pem') + '\n', keyPem: x509.PemConverter.encode(keyDer, 'PRIVATE KEY') + '\n' };
}
