import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/**
 * The certificate for TLS clients that send no SNI, or a name no certificate covers: made in
 * memory at every start, self-signed, with no subjectAltName, so that it names no configured
 * domain (the customer certificates would list them to anyone who scans the address).
 *
 * Every listener needs it, whatever the certificate source, so it is written here with
 * node:crypto and a few DER encoders instead of an X.509 library: the one the self-signed source
 * uses costs a deployment with files or ACME about 20 MB of memory for this one certificate.
 */
export function createNeutralCertificate(now = new Date(), serial = randomSerial()): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const name = sequence(set(sequence(oid(COMMON_NAME), der(UTF8_STRING, Buffer.from('mta-sts-server')))));
  const tbsCertificate = sequence(
    der(CONTEXT_0, integer(Buffer.from([2]))), // RFC 5280 §4.1.2.1: v3, for the extensions
    integer(serial),
    ECDSA_WITH_SHA256,
    name,
    sequence(time(new Date(now.getTime() - 60_000)), time(new Date(now.getTime() + LIFETIME_MS))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(CONTEXT_3, sequence(...EXTENSIONS)),
  );
  // ECDSA signatures come DER-encoded (dsaEncoding 'der'), as RFC 5758 §3.2 writes them.
  const signature = sign('sha256', tbsCertificate, privateKey);
  const certificate = sequence(tbsCertificate, ECDSA_WITH_SHA256, der(BIT_STRING, Buffer.from([0]), signature));
  const base64 = certificate.toString('base64').replace(/.{1,64}/g, '$&\n');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${base64}-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

const LIFETIME_MS = 3650 * 86_400_000;

/** 16 random bytes whose first is not zero: the serial keeps its 128 bits once written in its shortest form. */
function randomSerial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] ||= 1;
  return bytes;
}

const BOOLEAN = 0x01;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OBJECT_IDENTIFIER = 0x06;
const UTF8_STRING = 0x0c;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const SEQUENCE = 0x30;
const SET = 0x31;
const CONTEXT_0 = 0xa0;
const CONTEXT_3 = 0xa3;

const COMMON_NAME = '2.5.4.3';

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), lengthOf(body.length), body]);
}

/** X.690 §8.1.3: short form below 128, else the count of length bytes first. */
function lengthOf(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const sequence = (...content: Buffer[]) => der(SEQUENCE, ...content);
const set = (...content: Buffer[]) => der(SET, ...content);

/**
 * A positive INTEGER in its shortest form (X.690 §8.3.2: OpenSSL refuses leading zero bytes as
 * "illegal padding"), with one zero byte in front when the top bit is set, which would make it negative.
 */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const shortest = bytes.subarray(start);
  return der(INTEGER, shortest[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), shortest]) : shortest);
}

/** X.690 §8.19: the first two arcs in one byte, then each arc in base 128, high bit on all but its last byte. */
function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first! * 40 + second!];
  for (const arc of rest) {
    const base128 = [arc % 128];
    for (let high = Math.floor(arc / 128); high > 0; high = Math.floor(high / 128)) base128.unshift(0x80 | (high % 128));
    bytes.push(...base128);
  }
  return der(OBJECT_IDENTIFIER, Buffer.from(bytes));
}

/** RFC 5280 §4.1.2.5: UTCTime up to 2049, GeneralizedTime from 2050, both in UTC to the second. */
function time(date: Date): Buffer {
  const digits = date.toISOString().replace(/[-:T]|\.\d+/g, '');
  return date.getUTCFullYear() < 2050 ? der(UTC_TIME, Buffer.from(digits.slice(2))) : der(GENERALIZED_TIME, Buffer.from(digits));
}

const extension = (id: string, critical: boolean, value: Buffer) =>
  sequence(oid(id), ...(critical ? [der(BOOLEAN, Buffer.from([0xff]))] : []), der(OCTET_STRING, value));

const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));

const EXTENSIONS = [
  // RFC 5280 §4.2.1.9: not a CA (cA defaults to false, so the sequence is empty).
  extension('2.5.29.19', true, sequence()),
  // RFC 5280 §4.2.1.3: digitalSignature only (bit 0; 7 unused bits).
  extension('2.5.29.15', true, der(BIT_STRING, Buffer.from([7, 0x80]))),
  // RFC 5280 §4.2.1.12: for TLS servers (id-kp-serverAuth).
  extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))),
];
