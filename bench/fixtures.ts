import { webcrypto } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/**
 * A self-signed ECDSA P-256 certificate for `host`, as production uses (Let's Encrypt issues
 * P-256 by default): the handshake cost measured is that of the real key type. The load
 * generator trusts the certificate itself, so handshakes are fully verified.
 */
export async function writeCertificate(dir: string, host: string): Promise<{ certPath: string; keyPath: string; pem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${host}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 7 * 86_400_000),
    signingAlgorithm: ECDSA_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
    ],
  });
  const pem = certificate.toString('pem') + '\n';
  const key = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY') + '\n';
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  await writeFile(certPath, pem);
  await writeFile(keyPath, key, { mode: 0o600 });
  return { certPath, keyPath, pem };
}

/**
 * The HTTPS comparison's config: one policy, certificates from files, info logging (so the fetch
 * log is on) gathered into 4 KiB writes, as the published figures were measured; `extra` lines
 * (top-level settings) are appended.
 */
export function benchConfig(certPath: string, keyPath: string, extra: readonly string[] = []): string {
  return `defaults: { mode: enforce, max_age: 604800 }
domains:
  example.com:
    mx:
      - mail.example.com
      - "*.mail.protection.outlook.com"
listen: { address: 127.0.0.1, https: 0, http: 0 }
admin: { port: 0 }
tls:
  source: files
  certificates:
    - { cert: ${JSON.stringify(certPath)}, key: ${JSON.stringify(keyPath)} }
state_dir: ../state
log: { level: info, buffer_bytes: 4096, flush_interval_ms: 250 }
${extra.map((line) => `${line}\n`).join('')}`;
}

export const scaleDomain = (index: number): string => `customer-${String(index).padStart(5, '0')}.example`;

/**
 * A hosting provider's config: `count` domains written out one block each, with one or two mx
 * patterns, a third of them enforced. `changed` gets another mx pattern, which changes its policy.
 */
export function scaleConfig(count: number, changed?: number): string {
  const lines = ['defaults: { mode: testing, max_age: 604800 }', 'domains:'];
  for (let index = 1; index <= count; index++) {
    const domain = scaleDomain(index);
    lines.push(`  ${domain}:`);
    if (index % 3 === 0) lines.push('    mode: enforce');
    lines.push('    mx:', `      - mx1.${domain}`);
    if (index % 2 === 0) lines.push('      - "*.mx.hosting.example"');
    if (index === changed) lines.push(`      - mx2.${domain}`);
  }
  lines.push(
    'listen: { address: 127.0.0.1, https: 0, http: 0 }',
    'admin: { port: 0 }',
    'tls: { source: self-signed }',
    'state_dir: ../state',
    'log: { level: info }',
    '',
  );
  return lines.join('\n');
}
