import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:tls';
import { TWO_DOMAINS } from './apps.js';
import { issueRsaTestCertificate, issueTestCertificate, type TestCertificate } from './certificates.js';
import { LOOPBACK_LISTEN, startTestService, writeTestConfig, type TestService } from './service.js';

/** Which certificate a TLS 1.2 suite needs: ECDSA or RSA authentication. */
export type KeyType = 'ecdsa' | 'rsa';

/** TLS 1.2 suites the policy listener must refuse, grouped by why. */
export const REFUSED_TLS12_SUITES: readonly { suite: string; key: KeyType; why: string }[] = [
  { suite: 'ECDHE-ECDSA-AES128-SHA', key: 'ecdsa', why: 'CBC, SHA-1 MAC' },
  { suite: 'ECDHE-ECDSA-AES256-SHA', key: 'ecdsa', why: 'CBC, SHA-1 MAC' },
  { suite: 'ECDHE-RSA-AES128-SHA', key: 'rsa', why: 'CBC, SHA-1 MAC' },
  { suite: 'ECDHE-RSA-AES256-SHA', key: 'rsa', why: 'CBC, SHA-1 MAC' },
  { suite: 'ECDHE-ECDSA-AES128-SHA256', key: 'ecdsa', why: 'CBC' },
  { suite: 'ECDHE-ECDSA-AES256-SHA384', key: 'ecdsa', why: 'CBC' },
  { suite: 'ECDHE-RSA-AES128-SHA256', key: 'rsa', why: 'CBC' },
  { suite: 'ECDHE-RSA-AES256-SHA384', key: 'rsa', why: 'CBC' },
  { suite: 'ECDHE-ECDSA-AES128-CCM8', key: 'ecdsa', why: 'CCM8' },
  { suite: 'ECDHE-ECDSA-AES256-CCM8', key: 'ecdsa', why: 'CCM8' },
  { suite: 'ECDHE-ECDSA-AES128-CCM', key: 'ecdsa', why: 'CCM' },
  { suite: 'ECDHE-ECDSA-AES256-CCM', key: 'ecdsa', why: 'CCM' },
  { suite: 'ECDHE-ECDSA-ARIA128-GCM-SHA256', key: 'ecdsa', why: 'ARIA' },
  { suite: 'ECDHE-ECDSA-ARIA256-GCM-SHA384', key: 'ecdsa', why: 'ARIA' },
  { suite: 'ECDHE-ECDSA-CAMELLIA128-SHA256', key: 'ecdsa', why: 'Camellia' },
  { suite: 'AES128-GCM-SHA256', key: 'rsa', why: 'static RSA key exchange' },
  { suite: 'AES256-GCM-SHA384', key: 'rsa', why: 'static RSA key exchange' },
  { suite: 'AES128-SHA', key: 'rsa', why: 'static RSA key exchange, CBC' },
  { suite: 'DHE-RSA-AES128-GCM-SHA256', key: 'rsa', why: 'finite-field DHE' },
  { suite: 'DHE-RSA-CHACHA20-POLY1305', key: 'rsa', why: 'finite-field DHE' },
];

/** TLS 1.2 suites it must accept: ECDHE with AES-GCM or ChaCha20-Poly1305, for either key type. */
export const ACCEPTED_TLS12_SUITES: readonly { suite: string; key: KeyType }[] = [
  { suite: 'ECDHE-ECDSA-AES128-GCM-SHA256', key: 'ecdsa' },
  { suite: 'ECDHE-ECDSA-AES256-GCM-SHA384', key: 'ecdsa' },
  { suite: 'ECDHE-ECDSA-CHACHA20-POLY1305', key: 'ecdsa' },
  { suite: 'ECDHE-RSA-AES128-GCM-SHA256', key: 'rsa' },
  { suite: 'ECDHE-RSA-AES256-GCM-SHA384', key: 'rsa' },
  { suite: 'ECDHE-RSA-CHACHA20-POLY1305', key: 'rsa' },
];

/** TLS 1.3 keeps OpenSSL's default suites (the listener prefers AES-128-GCM: src/tls/server-settings.ts). */
export const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/**
 * A TLS server that accepts every suite OpenSSL has, with both certificates: a suite the policy
 * listener refuses but this server negotiates is refused by the listener's choice, not because
 * the client could not offer it.
 */
export async function startPermissiveTlsServer(
  ecdsa: TestCertificate,
  rsa: TestCertificate,
): Promise<{ port: number; server: Server }> {
  const [ecdsaCert, ecdsaKey, rsaCert, rsaKey] = await Promise.all(
    [ecdsa.certPath, ecdsa.keyPath, rsa.certPath, rsa.keyPath].map((path) => readFile(path, 'utf8')),
  );
  const server = createServer(
    {
      cert: [ecdsaCert!, rsaCert!],
      key: [ecdsaKey!, rsaKey!],
      ciphers: 'ALL:@SECLEVEL=0',
      dhparam: 'auto',
      minVersion: 'TLSv1.2',
    },
    (socket) => socket.end(),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, server };
}

export const COM = 'mta-sts.example.com';
export const ORG = 'mta-sts.example.org';
export const NET = 'mta-sts.example.net';
/** A policy host no certificate covers (as while its first ACME order is pending). */
export const UNCOVERED = 'mta-sts.example.info';

export interface MixedKeyServers {
  /** The service: example.com and example.org (TWO_DOMAINS), example.net and example.info (mode none). */
  running: TestService;
  /** One ECDSA certificate covering example.com and example.org (a `files` certificate may cover several hosts). */
  ecdsa: TestCertificate;
  /** An RSA certificate for example.net. */
  rsa: TestCertificate;
  /** The port of a server that accepts every suite, with the same two certificates. */
  permissivePort: number;
  stop(): Promise<void>;
}

/** The service with certificates of both key types from files, and the permissive server beside it. */
export async function startMixedKeyServers(): Promise<MixedKeyServers> {
  const { dir } = await writeTestConfig('');
  const ecdsa = await issueTestCertificate(`${dir}/ecdsa`, [COM, ORG]);
  const rsa = await issueRsaTestCertificate(`${dir}/rsa`, [NET]);
  const running = await startTestService(`${TWO_DOMAINS}  example.net: { mode: none }
  example.info: { mode: none }
tls:
  source: files
  certificates:
    - { cert: ${ecdsa.certPath}, key: ${ecdsa.keyPath} }
    - { cert: ${rsa.certPath}, key: ${rsa.keyPath} }
${LOOPBACK_LISTEN}`);
  const permissive = await startPermissiveTlsServer(ecdsa, rsa);
  return {
    running,
    ecdsa,
    rsa,
    permissivePort: permissive.port,
    stop: async () => {
      permissive.server.close();
      await running.service.stop();
    },
  };
}
