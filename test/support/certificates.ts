import { webcrypto } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { openBackends } from '../../src/storage/backends.js';
import { SELF_SIGNED_CA_KEY, SelfSignedIssuer } from '../../src/tls/self-signed.js';

export interface TestCertificate {
  certPath: string;
  keyPath: string;
  /** The CA that signed it: the only trust anchor a test client needs. */
  caPem: string;
  serialNumber: string;
}

/** A certificate for `hosts` from its own fresh local CA in `dir`, as PEM files a `files` source can load. */
export async function issueTestCertificate(dir: string, hosts: string[]): Promise<TestCertificate> {
  const [certificate] = await new SelfSignedIssuer(openBackends({ stateDir: dir }).storage).certificatesFor(hosts);
  const folder = join(dir, 'self-signed');
  const leaf = (await readdir(folder)).find((file) => file === `leaf-${certificate!.serialNumber.toLowerCase()}.pem`);
  return {
    certPath: join(folder, leaf!),
    keyPath: join(folder, 'leaf-key.pem'),
    caPem: await readFile(join(dir, SELF_SIGNED_CA_KEY), 'utf8'),
    serialNumber: certificate!.serialNumber,
  };
}

/**
 * A self-signed RSA certificate for `hosts` (cert.pem, key.pem in `dir`): the policy certificates
 * are ECDSA, and the suites with RSA authentication can only be negotiated with an RSA key.
 */
export async function issueRsaTestCertificate(dir: string, hosts: string[]): Promise<TestCertificate> {
  const algorithm = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 2048,
  };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${hosts[0]}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [new x509.SubjectAlternativeNameExtension(hosts.map((value) => ({ type: 'dns' as const, value })))],
  });
  await mkdir(dir, { recursive: true });
  const certPem = certificate.toString('pem') + '\n';
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') + '\n';
  const [certPath, keyPath] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
  await writeFile(certPath, certPem);
  await writeFile(keyPath, keyPem, { mode: 0o600 });
  return { certPath, keyPath, caPem: certPem, serialNumber: certificate.serialNumber };
}
