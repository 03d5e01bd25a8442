import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Storage } from '../storage/storage.js';
import { loadCertificate, parsePrivateKey, type LiveCertificate, type PrivateKey } from './certificate.js';
import { DAY_MS } from '../time/days.js';
import { mapWithLimit } from '../files/concurrency.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const CA_LIFETIME_DAYS = 3650;
const LEAF_LIFETIME_DAYS = 397;
const RENEW_BEFORE_DAYS = 30;
/** Names per certificate: thousands of domains must not make one huge certificate sent in every handshake. */
const NAMES_PER_CERTIFICATE = 100;
/** Stored certificates read at once: enough to keep the disk and the thread pool busy. */
const CONCURRENT_READS = 16;

/** Where the CA certificate is kept in storage: in the state directory, the file clients trust. */
export const SELF_SIGNED_CA_KEY = 'self-signed/ca.pem';
const FOLDER = 'self-signed';
const CA_KEY_KEY = `${FOLDER}/ca-key.pem`;
const LEAF_KEY_KEY = `${FOLDER}/leaf-key.pem`;
const LEAF = /^self-signed\/leaf-[0-9a-f]+\.pem$/;

/**
 * A local certificate authority in storage that issues certificates for the policy hosts, for
 * trials and tests. Clients trust `ca.pem` (curl --cacert, NODE_EXTRA_CA_CERTS). Replicas
 * sharing the storage share the CA: one of them makes it, under a lock.
 */
export class SelfSignedIssuer {
  /** Certificates already read or issued, by storage key: a reload re-checks hosts, not every certificate. */
  private readonly loaded = new Map<string, LiveCertificate>();

  constructor(private readonly storage: Storage) {}

  /**
   * Returns certificates covering every host: those already stored that are still needed and
   * not close to expiry, plus new ones for the hosts they miss. Certificates for hosts no longer
   * configured are deleted.
   */
  async certificatesFor(hosts: readonly string[], now = new Date()): Promise<LiveCertificate[]> {
    const lock = await this.storage.lock('self-signed');
    try {
      return await this.certificatesHeld(hosts, now);
    } finally {
      await lock.release();
    }
  }

  private async certificatesHeld(hosts: readonly string[], now: Date): Promise<LiveCertificate[]> {
    const leafKeyPem = await this.loadOrCreateKeyPem(LEAF_KEY_KEY);
    const leafPrivateKey = parsePrivateKey(leafKeyPem, LEAF_KEY_KEY);
    const wanted = new Set(hosts);
    const kept: LiveCertificate[] = [];
    const covered = new Set<string>();
    const keys = await this.leafKeys();
    for (const [index, certificate] of (await this.loadLeaves(keys, leafPrivateKey)).entries()) {
      if (!certificate) continue;
      const key = keys[index]!;
      const stillNeeded = certificate.dnsNames.filter((name) => wanted.has(name));
      if (certificate.notAfter.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS || stillNeeded.length === 0) {
        this.loaded.delete(key);
        await this.storage.delete(key);
        continue;
      }
      this.loaded.set(key, certificate);
      stillNeeded.forEach((name) => covered.add(name));
      kept.push(certificate);
    }
    const missing = hosts.filter((host) => !covered.has(host));
    // Only signing needs the keys imported: a reload that adds no host costs no key import.
    if (missing.length === 0) return kept;
    const ca = await this.loadOrCreateCa(now);
    const leafKey = { keys: await importKeyPair(leafKeyPem), privateKey: leafPrivateKey };
    const batches: string[][] = [];
    for (let start = 0; start < missing.length; start += NAMES_PER_CERTIFICATE)
      batches.push(missing.slice(start, start + NAMES_PER_CERTIFICATE));
    // Signing and the writes run in the thread pool: issuing in parallel keeps a first start with thousands of hosts short.
    kept.push(...(await Promise.all(batches.map((names) => this.issue(names, ca, leafKey, now)))));
    return kept;
  }

  private async issue(
    names: string[],
    ca: { certificate: x509.X509Certificate; key: CryptoKey },
    leafKey: { keys: CryptoKeyPair; privateKey: PrivateKey },
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
    const key = `${FOLDER}/leaf-${certificate.serialNumber}.pem`;
    await this.storage.store(key, chain);
    const live = loadCertificate(chain, leafKey.privateKey, key);
    this.loaded.set(key, live);
    return live;
  }

  /** The stored certificates, without issuing or deleting anything (for `mta-sts-server certs`). */
  async storedCertificates(): Promise<LiveCertificate[]> {
    const leafKeyPem = (await this.storage.load(LEAF_KEY_KEY))?.toString();
    if (leafKeyPem === undefined) return [];
    const leafKey = parsePrivateKey(leafKeyPem, LEAF_KEY_KEY);
    const certificates = await this.loadLeaves(await this.leafKeys(), leafKey);
    return certificates.filter((certificate) => certificate !== undefined);
  }

  /**
   * The stored leaf certificates of `keys`, in their order, a few read at a time: one after the
   * other, a start with 1 000 certificates mostly waited for the disk.
   */
  private loadLeaves(keys: readonly string[], leafKey: PrivateKey): Promise<(LiveCertificate | undefined)[]> {
    return mapWithLimit(keys, CONCURRENT_READS, async (key) => this.loaded.get(key) ?? (await this.loadLeaf(key, leafKey)));
  }

  /** A stored leaf certificate; undefined when another replica deleted it meanwhile. */
  private async loadLeaf(key: string, leafKey: PrivateKey): Promise<LiveCertificate | undefined> {
    const chain = await this.storage.load(key);
    return chain && loadCertificate(chain.toString(), leafKey, key);
  }

  private async leafKeys(): Promise<string[]> {
    return (await this.storage.list(FOLDER)).filter((key) => LEAF.test(key));
  }

  private async loadOrCreateCa(now: Date): Promise<{ certificate: x509.X509Certificate; key: CryptoKey }> {
    const keys = await importKeyPair(await this.loadOrCreateKeyPem(CA_KEY_KEY));
    const existing = (await this.storage.load(SELF_SIGNED_CA_KEY))?.toString();
    if (existing) {
      const certificate = new x509.X509Certificate(existing);
      const stillValid = certificate.notAfter.getTime() - now.getTime() > LEAF_LIFETIME_DAYS * DAY_MS;
      if (stillValid && (await certificate.publicKey.export()).algorithm.name === 'ECDSA') {
        return { certificate, key: keys.privateKey };
      }
    }
    const certificate = await createSelfSigned('CN=mta-sts-server local CA, O=mta-sts-server self-signed trial', keys, now, [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ]);
    await this.storage.store(SELF_SIGNED_CA_KEY, certificate.toString('pem') + '\n');
    return { certificate, key: keys.privateKey };
  }

  private async loadOrCreateKeyPem(key: string): Promise<string> {
    let pem = (await this.storage.load(key))?.toString();
    if (pem === undefined) {
      pem = (await generateKey()).pem;
      await this.storage.store(key, pem, { secret: true });
    }
    return pem;
  }
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
