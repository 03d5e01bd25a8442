import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SelfSignedIssuer } from '../../src/tls/self-signed.js';

export interface TestCertificate {
  certPath: string;
  keyPath: string;
  /** The CA that signed it: the only trust anchor a test client needs. */
  caPem: string;
  serialNumber: string;
}

/** A certificate for `hosts` from its own fresh local CA in `dir`, as PEM files a `files` source can load. */
export async function issueTestCertificate(dir: string, hosts: string[]): Promise<TestCertificate> {
  const issuer = new SelfSignedIssuer(dir);
  const [certificate] = await issuer.certificatesFor(hosts);
  const folder = join(dir, 'self-signed');
  const leaf = (await readdir(folder)).find((file) => file === `leaf-${certificate!.serialNumber.toLowerCase()}.pem`);
  return {
    certPath: join(folder, leaf!),
    keyPath: join(folder, 'leaf-key.pem'),
    caPem: await readFile(issuer.caCertificatePath, 'utf8'),
    serialNumber: certificate!.serialNumber,
  };
}
