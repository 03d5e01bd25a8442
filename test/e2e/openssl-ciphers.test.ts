import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import {
  ACCEPTED_TLS12_SUITES,
  COM,
  NET,
  REFUSED_TLS12_SUITES,
  startMixedKeyServers,
  type KeyType,
  type MixedKeyServers,
} from '../support/tls-fixtures.js';

/*
 * The TLS 1.2 suites of the policy listener as OpenSSL's own client sees them: Debian's
 * `openssl s_client` (package openssl) offers one suite at a time to the real listener, and to
 * a permissive server with the same certificates, which shows that the client can negotiate
 * the suite, so that a refusal is the listener's.
 */

let servers: MixedKeyServers;

before(async () => {
  servers = await startMixedKeyServers();
});

after(() => servers.stop());

/** The suite `openssl s_client` negotiated offering only `suite` over TLS 1.2, or "refused" and why. */
function sClient(port: number, suite: string, key: KeyType, sni = true): Promise<string> {
  const servername = sni ? ['-servername', key === 'rsa' ? NET : COM] : ['-noservername'];
  const args = [
    's_client',
    '-connect',
    `127.0.0.1:${port}`,
    ...servername,
    '-tls1_2',
    '-cipher',
    `${suite}:@SECLEVEL=0`,
    '-brief',
  ];
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { timeout: 10_000 }, (error, stdout, stderr) => {
      if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        reject(new Error('this test needs the openssl command (Debian: apt-get install openssl)'));
        return;
      }
      const output = `${stdout}${stderr}`;
      const negotiated = /^Ciphersuite: (\S+)$/m.exec(output);
      if (!error && negotiated) resolve(negotiated[1]!);
      else resolve(`refused: ${/alert [a-z ]+/.exec(output)?.[0] ?? output.trim().split('\n').at(-1)}`);
    });
    child.stdin?.end(); // s_client quits after the handshake when its input ends
  });
}

test('openssl s_client: every refused TLS 1.2 suite is refused by the listener, and negotiable elsewhere', async () => {
  for (const { suite, key, why } of REFUSED_TLS12_SUITES) {
    assert.equal(await sClient(servers.permissivePort, suite, key), suite, `${suite} (${why}) against the permissive server`);
    assert.match(await sClient(servers.running.httpsPort, suite, key), /^refused: alert handshake failure/, `${suite} (${why})`);
    assert.match(
      await sClient(servers.running.httpsPort, suite, key, false),
      /^refused: alert handshake failure/,
      `${suite} (${why}), no SNI`,
    );
  }
});

test('openssl s_client: ECDHE with AES-GCM and ChaCha20-Poly1305 is accepted for ECDSA and RSA certificates', async () => {
  for (const { suite, key } of ACCEPTED_TLS12_SUITES) {
    assert.equal(await sClient(servers.running.httpsPort, suite, key), suite);
  }
});
