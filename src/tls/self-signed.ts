import { webcrypto } from 'node:crypto';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { writeFileAtomic } from '../storage/atomic-file.js';
import { loadCertificate, type LiveCertificate } from './certificate.js';
import { DAY_MS } from '../time/days.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const CA_LIFETIME_DAYS = 3650;
const LEAF_LIFETIME_DAYS = 397;
const RENEW_BEFORE_DAYS = 30;
/** Names per certificate: thousands of domains must not make one huge certificate sent in every handshake. */
const NAMES_PER_CERTIFICATE = 100;

/**
 * A local certificate authority in the state directory that issues certificates for the policy
 * hosts, for trials and tests. Clients trust `ca.pem` (curl --cacert, NODE_EXTRA_CA_CERTS).
 */
export class SelfSignedIssuer {
  private readonly folder: string;
  /** Certificates already read or issued, by file: a reload re-checks hosts, not every file. */
  private readonly loaded = new Map<string, LiveCertificate>();

  constructor(stateDir: string) {
    this.folder = join(stateDir, 'self-signed');
  }

  get caCertificatePath(): string {
    return join(this.folder, 'ca.pem');
  }

  /**
   * Returns certificates covering every host: those already on disk that are still needed and
   * not close to expiry, plus new ones for the hosts they miss. Certificates for hosts no longer
   * configured are deleted.
   */
  async certificatesFor(hosts: readonly string[], now = new Date()): Promise<LiveCertificate[]> {
    const ca = await this.loadOrCreateCa(now);
    const leafKey = await this.loadOrCreateKey('leaf-key.pem');
    const wanted = new Set(hosts);
    const kept: LiveCertificate[] = [];
    const covered = new Set<string>();
    for (const file of await this.leafFiles()) {
      const path = join(this.folder, file);
      const certificate = this.loaded.get(path) ?? loadCertificate(await readFile(path, 'utf8'), leafKey.pem, path);
      const stillNeeded = certificate.dnsNames.filter((name) => wanted.has(name));
      if (certificate.notAfter.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS || stillNeeded.length === 0) {
        this.loaded.delete(path);
        await unlink(path);
        continue;
      }
      this.loaded.set(path, certificate);
      stillNeeded.forEach((name) => covered.add(name));
      kept.push(certificate);
    }
    const missing = hosts.filter((host) => !covered.has(host));
    const batches: string[][] = [];
    for (let start = 0; start < missing.length; start += NAMES_PER_CERTIFICATE)
      batches.push(missing.slice(start, start + NAMES_PER_CERTIFICATE));
    // Signing and the file writes run in the thread pool: issuing in parallel keeps a first start with thousands of hosts short.
    kept.push(...(await Promise.all(batches.map((names) => this.issue(names, ca, leafKey, now)))));
    return kept;
  }

  private async issue(
    names: string[],
    ca: { certificate: x509.X509Certificate; key: CryptoKey },
    leafKey: { keys: CryptoKeyPair; pem: string },
    now: Date,
  ): Promise<LiveCertificate> {
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${names[0]}`,
      issuer: ca.certificate.subject,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + LEAF_LIFETIME_DAYS * DAY_MS),
      signingAlgorithm: ECDSA_P256,
      publicKey: leafKey.keys.publicKey,
      signingKey: ca.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value }))),
        await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
      ],
    });
    const chain = certificate.toString('pem') + '\n' + ca.certificate.toString('pem') + '\n';
    const path = join(this.folder, `leaf-${certificate.serialNumber}.pem`);
    await writeFileAtomic(path, chain, 0o644);
    const live = loadCertificate(chain, leafKey.pem, path);
    this.loaded.set(path, live);
    return live;
  }

  /** The certificates on disk, without issuing or deleting anything (for `mta-sts-server certs`). */
  async storedCertificates(): Promise<LiveCertificate[]> {
    const leafKey = await readFile(join(this.folder, 'leaf-key.pem'), 'utf8').catch(() => undefined);
    if (leafKey === undefined) return [];
    const files = await this.leafFiles();
    return Promise.all(
      files.map(async (file) =>
        loadCertificate(await readFile(join(this.folder, file), 'utf8'), leafKey, join(this.folder, file)),
      ),
    );
  }

  private async leafFiles(): Promise<string[]> {
    const files = await readdir(this.folder).catch(() => [] as string[]);
    return files.filter((file) => /^leaf-[0-9a-f]+\.pem$/.test(file));
  }

  private async loadOrCreateCa(now: Date): Promise<{ certificate: x509.X509Certificate; key: CryptoKey }> {
    const key = await this.loadOrCreateKey('ca-key.pem');
    const existing = await readFile(this.caCertificatePath, 'utf8').catch(() => undefined);
    if (existing) {
      const certificate = new x509.X509Certificate(existing);
      const stillValid = certificate.notAfter.getTime() - now.getTime() > LEAF_LIFETIME_DAYS * DAY_MS;
      if (stillValid && (await certificate.publicKey.export()).algorithm.name === 'ECDSA') {
        return { certificate, key: key.keys.privateKey };
      }
    }
    const certificate = await createSelfSigned('CN=mta-sts-server local CA, O=mta-sts-server self-signed trial', key.keys, now, [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(key.keys.publicKey),
    ]);
    await writeFileAtomic(this.caCertificatePath, certificate.toString('pem') + '\n', 0o644);
    return { certificate, key: key.keys.privateKey };
  }

  private async loadOrCreateKey(file: string): Promise<{ keys: CryptoKeyPair; pem: string }> {
    const path = join(this.folder, file);
    let pem = await readFile(path, 'utf8').catch(() => undefined);
    if (pem === undefined) {
      pem = (await generateKey()).pem;
      await writeFileAtomic(path, pem, 0o600);
    }
    return { keys: await importKeyPair(pem), pem };
  }
}

/**
 * The certificate for TLS clients that send no SNI, or a name no certificate covers: made in
 * memory at every start, self-signed, with no subjectAltName, so that it names no configured
 * domain (the customer certificates would list them to anyone who scans the address).
 */
export async function createNeutralCertificate(now = new Date()): Promise<{ cert: string; key: string }> {
  const key = await generateKey();
  const certificate = await createSelfSigned('CN=mta-sts-server', key.keys, now, [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
  ]);
  return { cert: certificate.toString('pem') + '\n', key: key.pem };
}

/** Self-signed with ECDSA P-256, valid from a minute ago for the CA lifetime. */
function createSelfSigned(
  name: string,
  keys: CryptoKeyPair,
  now: Date,
  extensions: x509.Extension[],
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + CA_LIFETIME_DAYS * DAY_MS),
    signingAlgorithm: ECDSA_P256,
    keys,
    extensions,
  });
}

async function generateKey(): Promise<{ keys: CryptoKeyPair; pem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keys, pem: x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n' };
}

async function importKeyPair(pem: string): Promise<CryptoKeyPair> {
  const der = x509.PemConverter.decodeFirst(pem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', der, ECDSA_P256, true, ['sign']);
  // WebCrypto cannot derive the public key directly; a JWK export carries x and y.
  const { d: _secret, ...publicJwk } = await webcrypto.subtle.exportKey('jwk', privateKey);
  const publicKey = await webcrypto.subtle.importKey('jwk', { ...publicJwk, key_ops: ['verify'] }, ECDSA_P256, true, ['verify']);
  return { privateKey, publicKey } as CryptoKeyPair;
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // positive, as RFC 5280 §4.1.2.2 requires
  bytes[0]! |= 0x01;
  return Buffer.from(bytes).toString('hex');
}
