import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { promises as dns } from 'node:dns';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import * as acme from 'acme-client';
import { DNS_TYPE, TestDnsServer } from '../support/dns-server.js';
import { TestPebble } from '../support/pebble.js';

// Proves the ACME test harness against the real pebble, with acme-client used directly: no service code.

const HOST = 'mta-sts.example.com';

let dnsServer: TestDnsServer;
let pebble: TestPebble;
let challengeServer: Server;
/** HTTP-01 key authorizations by token, served the way a real host would serve them. */
const challengeResponses = new Map<string, string>();

before(async () => {
  dnsServer = await TestDnsServer.start();
  dnsServer.setA(HOST, ['127.0.0.1']);

  challengeServer = createServer((request, response) => {
    const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(request.url ?? '')?.[1];
    const keyAuthorization = token === undefined ? undefined : challengeResponses.get(token);
    response.writeHead(keyAuthorization === undefined ? 404 : 200, { 'content-type': 'text/plain' });
    response.end(keyAuthorization ?? 'not found');
  });
  challengeServer.listen(0, '127.0.0.1');
  await once(challengeServer, 'listening');

  pebble = await TestPebble.start({ dnsPort: dnsServer.port, httpPort: (challengeServer.address() as AddressInfo).port });
  // acme-client talks HTTP through its own axios instance, exported as `acme.axios` for exactly this
  // (its README, "HTTP client defaults"): an agent that trusts pebble's self-made endpoint certificate.
  acme.axios.defaults.httpsAgent = new Agent({ ca: pebble.caBundle });
  // acme-client retries a request that got no HTTP response (a TLS failure included) 5 times, 5 to 25 s
  // apart, so a broken setup would take 75 s to surface; pebble never needs a retry, so fail at once.
  // (Either way acme-client 5.4.0 then reports such a failure as "Cannot read properties of undefined
  // (reading 'config')", not as the TLS error: look at pebble.output and the trust setup.)
  (acme.axios.defaults as { acmeSettings?: { retryMaxAttempts: number } }).acmeSettings!.retryMaxAttempts = 0;
});

after(async () => {
  await pebble?.stop();
  challengeServer?.close();
  await dnsServer?.close();
});

/** An ACME client for pebble that polls every 100–500 ms instead of acme-client's default 5–30 s. */
async function newClient(): Promise<acme.Client> {
  return new acme.Client({
    directoryUrl: pebble.directoryUrl,
    accountKey: await acme.crypto.createPrivateEcdsaKey(),
    backoffMin: 100,
    backoffMax: 500,
    backoffAttempts: 20,
  });
}

/** Certificate for `host` by HTTP-01 through acme-client's auto(), answering from `challengeResponses`. */
async function obtainCertificate(host: string): Promise<string> {
  const [, csr] = await acme.crypto.createCsr({ altNames: [host] }, await acme.crypto.createPrivateEcdsaKey());
  const client = await newClient();
  return client.auto({
    csr,
    email: 'hostmaster@example.com',
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // auto() would first fetch the challenge itself from http://<host>/ through the system resolver,
    // which knows nothing of the test names: only pebble resolves through the test DNS server.
    skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      challengeResponses.set(challenge.token, keyAuthorization);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      challengeResponses.delete(challenge.token);
    },
  });
}

test('pebble issues a certificate by HTTP-01, resolving the name through the test DNS server', { timeout: 30_000 }, async () => {
  const ordersBefore = pebble.orderCount();
  const chainPem = await obtainCertificate(HOST).catch((error: unknown) => {
    throw new Error(`${String(error)}\n--- pebble output ---\n${pebble.output}`);
  });

  const [leaf, ...intermediates] = acme.crypto.splitPemChain(chainPem).map((pem) => new X509Certificate(pem));
  assert.ok(leaf);
  assert.equal(leaf.subjectAltName, `DNS:${HOST}`);
  // Leaf -> each intermediate in turn -> the root of this pebble run, each link checked by name and signature.
  const root = new X509Certificate(await pebble.issuingRootPem());
  const path = [leaf, ...intermediates, root];
  for (let index = 0; index + 1 < path.length; index += 1) {
    const [child, issuer] = [path[index]!, path[index + 1]!];
    assert.ok(child.checkIssued(issuer), `${child.subject} is not issued by ${issuer.subject}`);
    assert.ok(child.verify(issuer.publicKey), `${child.subject} has no valid signature by ${issuer.subject}`);
  }
  assert.equal(intermediates.length, 1, 'pebble’s default chain: leaf and one intermediate');
  assert.equal(intermediates[0]!.fingerprint256, new X509Certificate(await pebble.intermediatePem()).fingerprint256);

  assert.equal(pebble.orderCount(), ordersBefore + 1);
  assert.ok(
    dnsServer.queries.some((query) => query.name === HOST && query.type === DNS_TYPE.A),
    'pebble looked the name up in the test DNS server',
  );
});

test('a name the DNS server does not know fails validation cleanly', { timeout: 30_000 }, async () => {
  const ordersBefore = pebble.orderCount();
  // acme-client's error message is the challenge's problem detail. Pebble 2.4.0 says "could not resolve
  // URL" for NXDOMAIN and NODATA alike (not Let's Encrypt's "DNS problem: NXDOMAIN ..."); an unanswered
  // lookup (black hole) is "error occurred while resolving URL ... i/o timeout" after about 2 s.
  await assert.rejects(obtainCertificate('unknown.example.com'), {
    message: /^Get "http:\/\/unknown\.example\.com:\d+\/\.well-known\/acme-challenge\/[\w-]+": could not resolve URL /,
  });
  assert.equal(pebble.orderCount(), ordersBefore + 1, 'the order was placed, then failed at validation');
  assert.equal(challengeResponses.size, 0, 'auto() removed the challenge response it created');
});

test(
  'restart keeps the ports and endpoint certificate, makes a new root, and keeps counting orders',
  { timeout: 30_000 },
  async () => {
    const rootBefore = await pebble.issuingRootPem();
    const orders = pebble.orderCount();
    await pebble.restart();
    assert.notEqual(await pebble.issuingRootPem(), rootBefore);
    await obtainCertificate(HOST);
    assert.equal(pebble.orderCount(), orders + 1);
  },
);

test('with eab, pebble requires external account binding and checks its HMAC', { timeout: 30_000 }, async () => {
  // A 48-byte key in base64url, the form both pebble's config and acme-client take.
  const eab = { kid: 'kid-1', hmacKey: Buffer.alloc(48, 7).toString('base64url') };
  // No new trust needed: every TestPebble in the process presents the same endpoint certificate.
  const eabPebble = await TestPebble.start({ dnsPort: dnsServer.port, httpPort: 1, eab });
  try {
    const account = async (externalAccountBinding?: { kid: string; hmacKey: string }) => {
      const client = new acme.Client({
        directoryUrl: eabPebble.directoryUrl,
        accountKey: await acme.crypto.createPrivateEcdsaKey(),
        ...(externalAccountBinding && { externalAccountBinding }),
      });
      return client.createAccount({ termsOfServiceAgreed: true });
    };
    assert.equal((await account(eab)).status, 'valid');
    await assert.rejects(account(), {
      message: /requires newAccount requests must include a value for the 'externalAccountBinding'/,
    });
    await assert.rejects(account({ ...eab, hmacKey: Buffer.alloc(48, 8).toString('base64url') }), {
      message: /external account binding JWS verification error/,
    });
  } finally {
    await eabPebble.stop();
  }
});

test(
  'the DNS server: A/AAAA/TXT, NODATA, NXDOMAIN, case-insensitivity, runtime changes, black hole',
  { timeout: 10_000 },
  async () => {
    const resolver = new dns.Resolver({ timeout: 300, tries: 1 });
    resolver.setServers([`127.0.0.1:${dnsServer.port}`]);
    const name = 'Records.Example.NET';
    dnsServer.setA(name, ['192.0.2.1', '192.0.2.2']);
    dnsServer.setAAAA(name, ['2001:db8::1']);
    const long = 'v'.repeat(300); // over 255 bytes: split into character-strings, joined back by the reader
    dnsServer.setTxt(name, ['v=STSv1; id=1', long]);

    assert.deepEqual((await resolver.resolve4('records.example.net')).sort(), ['192.0.2.1', '192.0.2.2']);
    assert.deepEqual(await resolver.resolve6('RECORDS.example.net.'), ['2001:db8::1']);
    assert.deepEqual((await resolver.resolveTxt(name)).map((chunks) => chunks.join('')).sort(), ['v=STSv1; id=1', long]);
    await assert.rejects(resolver.resolveCaa(name), { code: 'ENODATA' });
    await assert.rejects(resolver.resolve4('absent.example.net'), { code: 'ENOTFOUND' });

    dnsServer.setA(name, ['192.0.2.9']);
    assert.deepEqual(await resolver.resolve4(name), ['192.0.2.9']);
    dnsServer.remove(name);
    await assert.rejects(resolver.resolve4(name), { code: 'ENOTFOUND' });

    dnsServer.setBlackHole(true);
    try {
      await assert.rejects(resolver.resolve4(HOST), { code: 'ETIMEOUT' });
    } finally {
      dnsServer.setBlackHole(false);
    }
    assert.deepEqual(await resolver.resolve4(HOST), ['127.0.0.1']);
  },
);
