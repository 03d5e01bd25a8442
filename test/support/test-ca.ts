import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/** A certificate and its key, in PEM, as a TLS server takes them. */
export interface PemPair {
  cert: string;
  key: string;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

const keyPair = () => webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
const keyPem = async (keys: CryptoKeyPair) =>
  `${x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY')}\n`;

let serial = 1;
const nextSerial = () => (serial++).toString(16).padStart(2, '0');

/**
 * A CA of the test's own (ECDSA P-256, fast to make), for certificates with whatever names and
 * validity a case needs: valid, expired, for another name. Trusted by a client only when given as `ca`.
 */
export class TestCa {
  private constructor(
    private readonly keys: CryptoKeyPair,
    private readonly certificate: x509.X509Certificate,
  ) {}

  static async create(name = 'mta-sts-server test CA'): Promise<TestCa> {
    const keys = await keyPair();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: nextSerial(),
      name: `CN=${name}`,
      notBefore: new Date(Date.now() - DAY_MS),
      notAfter: new Date(Date.now() + 3650 * DAY_MS),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      ],
    });
    return new TestCa(keys, certificate);
  }

  get pem(): string {
    return `${this.certificate.toString('pem')}\n`;
  }

  /** A leaf for `names` (DNS-IDs), valid from `notBefore` to `notAfter` (default: yesterday to 90 days from now). */
  async issue(names: string[], validity: { notBefore?: Date; notAfter?: Date } = {}): Promise<PemPair> {
    const keys = await keyPair();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: nextSerial(),
      subject: `CN=${names[0]}`,
      issuer: this.certificate.subject,
      notBefore: validity.notBefore ?? new Date(Date.now() - DAY_MS),
      notAfter: validity.notAfter ?? new Date(Date.now() + 90 * DAY_MS),
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value })))],
    });
    return { cert: `${certificate.toString('pem')}\n`, key: await keyPem(keys) };
  }
}

/** A certificate for `names` signed by its own key: no CA vouches for it. */
export async function selfSignedPair(names: string[]): Promise<PemPair> {
  const keys = await keyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${names[0]}`,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 90 * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns' as const, value })))],
  });
  return { cert: `${certificate.toString('pem')}\n`, key: await keyPem(keys) };
}
