import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { createNeutralCertificate } from '../src/tls/neutral-certificate.js';

// The neutral certificate is DER written by hand: read back by Node's X.509 parser and by the
// openssl command, two parsers that owe nothing to the code that wrote it.

const NOW = new Date('2026-12-02T12:00:00Z');

test('the neutral certificate: self-signed ECDSA P-256, CN=mta-sts-server, no names, its key, ten years', () => {
  const { cert, key } = createNeutralCertificate(NOW);
  const parsed = new X509Certificate(cert);
  assert.equal(parsed.subject, 'CN=mta-sts-server');
  assert.equal(parsed.issuer, 'CN=mta-sts-server');
  assert.equal(parsed.subjectAltName, undefined);
  assert.equal(parsed.ca, false);
  assert.deepEqual(parsed.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(parsed.verify(parsed.publicKey), true, 'signed by its own key');
  assert.equal(parsed.checkPrivateKey(createPrivateKey(key)), true);
  assert.equal(parsed.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(new Date(parsed.validFrom).toISOString(), '2026-12-02T11:59:00.000Z');
  assert.equal(new Date(parsed.validTo).toISOString(), '2036-11-29T12:00:00.000Z');
  assert.match(parsed.serialNumber, /^[0-9A-F]{32,34}$/);
  assert.notEqual(new X509Certificate(createNeutralCertificate(NOW).cert).serialNumber, parsed.serialNumber);
});

test('openssl reads the same: v3, critical CA:FALSE and Digital Signature, TLS Web Server Authentication', () => {
  const text = execFileSync('openssl', ['x509', '-noout', '-text'], {
    input: createNeutralCertificate(NOW).cert,
    encoding: 'utf8',
  });
  assert.match(text, /Version: 3 \(0x2\)/);
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
  assert.match(text, /X509v3 Key Usage: critical\n\s+Digital Signature\n/);
  assert.match(text, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication/);
  assert.doesNotMatch(text, /Subject Alternative Name/);
});

test('dates from 2050 on are GeneralizedTime (RFC 5280 §4.1.2.5)', () => {
  const parsed = new X509Certificate(createNeutralCertificate(new Date('2045-06-01T00:00:00Z')).cert);
  assert.equal(new Date(parsed.validTo).toISOString(), '2055-05-30T00:00:00.000Z');
  const der = parsed.raw;
  assert.ok(der.includes(Buffer.from('\x18\x0f20550530000000Z', 'latin1')), 'GeneralizedTime for 2055');
  assert.ok(der.includes(Buffer.from('\x17\x0d450531235900Z', 'latin1')), 'UTCTime for 2045');
});

test('serial numbers in their shortest form: leading zero bytes dropped, a zero byte before a set top bit', () => {
  const serialOf = (bytes: number[]) => new X509Certificate(createNeutralCertificate(NOW, Buffer.from(bytes)).cert).serialNumber;
  // Node's parser goes through OpenSSL, which refuses a non-minimal INTEGER ("illegal padding").
  assert.equal(serialOf([0, 0, 0x12, 0x34]), '1234');
  assert.equal(serialOf([0, 0x80, 0x01]), '8001');
  assert.equal(serialOf([0xff, 0x01]), 'FF01');
  const text = execFileSync('openssl', ['x509', '-noout', '-serial'], {
    input: createNeutralCertificate(NOW, Buffer.from([0x80, 0x01])).cert,
    encoding: 'utf8',
  });
  assert.equal(text, 'serial=8001\n');
});
