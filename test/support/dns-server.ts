import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { isIPv4, isIPv6 } from 'node:net';

/**
 * A tiny authoritative DNS server (RFC 1035 wire format over UDP) on 127.0.0.1, for pointing an ACME
 * server's validation authority (pebble's `-dnsserver`) at names the tests control. It answers only
 * what an ACME CA asks: A, AAAA and TXT from a table the tests change at runtime; any other type gets
 * an empty answer for a known name (NODATA), so a CA that checks CAA sees "no CAA record". (Pebble
 * 2.4.0 asks only A and AAAA for HTTP-01, three times each: it validates from three "perspectives".)
 */

export const DNS_TYPE = { A: 1, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28 } as const;

const CLASS_IN = 1;
const RCODE = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 } as const;

/** How a failing name server answers every question: with SERVFAIL (its upstream failed) or REFUSED (it will not serve us). */
export type DnsFailure = 'servfail' | 'refused';
/** Zero, so whatever a test changes is what the very next lookup sees: no resolver on the way may cache it. */
const TTL_SECONDS = 0;

interface RecordSet {
  a: string[];
  aaaa: string[];
  txt: string[];
  ptr: string[];
  mx: { priority: number; exchange: string }[];
  /** When set, the name is an alias: every question about it is answered with the CNAME and the target's records. */
  cname?: string;
}

export interface DnsQuery {
  name: string;
  type: number;
}

export class TestDnsServer {
  /** Every well-formed question received, in order (also while black-holed), for assertions and diagnostics. */
  readonly queries: DnsQuery[] = [];
  private readonly records = new Map<string, RecordSet>();
  private blackHole = false;
  private failure: DnsFailure | undefined;
  private delayMs = 0;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on('message', (message, peer) => this.answer(message, peer));
  }

  static async start(): Promise<TestDnsServer> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new TestDnsServer(socket, socket.address().port);
  }

  setA(name: string, addresses: string[]): void {
    for (const address of addresses) if (!isIPv4(address)) throw new Error(`not an IPv4 address: ${address}`);
    this.recordsFor(name).a = [...addresses];
  }

  setAAAA(name: string, addresses: string[]): void {
    for (const address of addresses) ipv6Bytes(address); // throws on what it cannot encode, before anything is stored
    this.recordsFor(name).aaaa = [...addresses];
  }

  /** One TXT record per string (as a DNS-01 challenge with several values needs). */
  setTxt(name: string, strings: string[]): void {
    this.recordsFor(name).txt = [...strings];
  }

  /** The PTR record of an address (its in-addr.arpa / ip6.arpa name), for reverse lookups. */
  setPtr(address: string, hostname: string): void {
    this.recordsFor(reverseName(address)).ptr = [hostname];
  }

  /** MX records, as `{ priority, exchange }`; an exchange of "." is a null MX (RFC 7505). */
  setMx(name: string, records: { priority: number; exchange: string }[]): void {
    this.recordsFor(name).mx = records.map((record) => ({ ...record }));
  }

  /**
   * Makes the name an alias of `target`, answered as a recursive resolver answers (the CNAME,
   * then the target's records of the type asked), which is all a stub resolver such as Node's follows.
   */
  setCname(name: string, target: string): void {
    this.recordsFor(name).cname = normalize(target);
  }

  /** Forgets the name entirely: from now on it is NXDOMAIN. */
  remove(name: string): void {
    this.records.delete(normalize(name));
  }

  /** While on, queries are read (and logged) but never answered, as with an unreachable or dead name server. */
  setBlackHole(on: boolean): void {
    this.blackHole = on;
  }

  /** While set, every question gets that error answer instead of its records; undefined answers normally again. */
  setFailure(failure: DnsFailure | undefined): void {
    this.failure = failure;
  }

  /** Answers this long after each question, as a resolver across the internet would; 0 answers at once. */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.socket.close();
    await once(this.socket, 'close');
  }

  private recordsFor(name: string): RecordSet {
    const key = normalize(name);
    let set = this.records.get(key);
    if (!set) this.records.set(key, (set = { a: [], aaaa: [], txt: [], ptr: [], mx: [] }));
    return set;
  }

  private answer(message: Buffer, peer: RemoteInfo): void {
    const response = this.respond(message);
    if (!response) return;
    if (this.delayMs === 0) this.socket.send(response, peer.port, peer.address);
    else setTimeout(() => this.closed || this.socket.send(response, peer.port, peer.address), this.delayMs);
  }

  /** The reply to one datagram, or undefined for one too short to have a query id (nothing to reply to). */
  private respond(message: Buffer): Buffer | undefined {
    if (message.length < 12) return undefined;
    const id = message.readUInt16BE(0);
    const flags = message.readUInt16BE(2);
    const opcode = (flags >> 11) & 0xf;
    const recursionDesired = flags & 0x0100;
    const reply = (rcode: number, question?: Buffer, answers: Buffer[] = []) => {
      const header = Buffer.alloc(12);
      header.writeUInt16BE(id, 0);
      // QR (a response), the query's opcode and RD echoed, AA set: Go's resolver (pebble) treats an empty
      // NOERROR answer without AA or RA as a lame referral rather than "no such record".
      header.writeUInt16BE(0x8000 | (opcode << 11) | 0x0400 | recursionDesired | rcode, 2);
      header.writeUInt16BE(question ? 1 : 0, 4);
      header.writeUInt16BE(answers.length, 6);
      return Buffer.concat([header, ...(question ? [question] : []), ...answers]);
    };

    if (flags & 0x8000) return undefined; // a response, not a query: never answer those (no reflection loops)
    if (opcode !== 0) return reply(RCODE.notImp);
    // Exactly one question; anything in the other sections (an EDNS OPT record, typically) is ignored,
    // which a client reads as "this server does not speak EDNS" and is fine for answers this small.
    if (message.readUInt16BE(4) !== 1) return reply(RCODE.formErr);
    const parsed = parseQuestion(message, 12);
    if (!parsed) return reply(RCODE.formErr);
    const { name, type, qclass, end } = parsed;
    const question = message.subarray(12, end);
    this.queries.push({ name, type });
    if (this.blackHole) return undefined;
    if (this.failure) return reply(this.failure === 'servfail' ? RCODE.servFail : RCODE.refused, question);
    if (qclass !== CLASS_IN) return reply(RCODE.refused, question);

    const set = this.records.get(name);
    if (!set) return reply(RCODE.nxDomain, question);
    if (set.cname !== undefined && type !== DNS_TYPE.CNAME) {
      const target = this.records.get(set.cname);
      const owner = domainNameRdata(set.cname);
      return reply(RCODE.noError, question, [
        resourceRecord(DNS_TYPE.CNAME, owner),
        ...(target ? rdatasOf(target, type) : []).map((rdata) => resourceRecord(type, rdata, owner)),
      ]);
    }
    const rdatas = type === DNS_TYPE.CNAME ? (set.cname === undefined ? [] : [domainNameRdata(set.cname)]) : rdatasOf(set, type);
    return reply(
      RCODE.noError,
      question,
      rdatas.map((rdata) => resourceRecord(type, rdata)),
    );
  }
}

/** The RDATA of a name's records of one type. */
function rdatasOf(set: RecordSet, type: number): Buffer[] {
  switch (type) {
    case DNS_TYPE.A:
      return set.a.map((address) => Buffer.from(address.split('.').map(Number)));
    case DNS_TYPE.AAAA:
      return set.aaaa.map(ipv6Bytes);
    case DNS_TYPE.TXT:
      return set.txt.map(txtRdata);
    case DNS_TYPE.PTR:
      return set.ptr.map(domainNameRdata);
    case DNS_TYPE.MX:
      // RFC 1035 §3.3.9: a 16-bit preference, then the exchange's name.
      return set.mx.map((record) => {
        const preference = Buffer.alloc(2);
        preference.writeUInt16BE(record.priority);
        return Buffer.concat([preference, domainNameRdata(record.exchange)]);
      });
    default:
      return [];
  }
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** The question's name (lower-cased, no trailing dot), type and class, or undefined if it is malformed. */
function parseQuestion(message: Buffer, offset: number): { name: string; type: number; qclass: number; end: number } | undefined {
  const labels: string[] = [];
  let at = offset;
  for (;;) {
    if (at >= message.length) return undefined;
    const length = message[at]!;
    at += 1;
    if (length === 0) break;
    // The first name of a message has nothing before it to point to, so a compression pointer (or the
    // reserved 0x40/0x80 label types) here can only be garbage.
    if (length > 63 || at + length > message.length) return undefined;
    labels.push(message.toString('latin1', at, at + length));
    at += length;
  }
  if (at + 4 > message.length) return undefined;
  return {
    name: normalize(labels.join('.')),
    type: message.readUInt16BE(at),
    qclass: message.readUInt16BE(at + 2),
    end: at + 4,
  };
}

/**
 * An answer record whose owner is the question's name (a compression pointer to offset 12, where
 * the question starts), or `owner` written out (a CNAME target's records).
 */
function resourceRecord(type: number, rdata: Buffer, owner?: Buffer): Buffer {
  const name = owner ?? Buffer.from([0xc0, 0x0c]);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(CLASS_IN, 2);
  fixed.writeUInt32BE(TTL_SECONDS, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([name, fixed, rdata]);
}

/** TXT RDATA: the value as character-strings of at most 255 bytes each, which readers join back into one value. */
function txtRdata(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const parts: Buffer[] = [];
  for (let start = 0; start < bytes.length || parts.length === 0; start += 255) {
    const chunk = bytes.subarray(start, start + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

/** The 16 bytes of an IPv6 address in hex-group notation (with or without `::`; no dotted IPv4 tail). */
function ipv6Bytes(address: string): Buffer {
  if (!isIPv6(address) || address.includes('.')) throw new Error(`not an IPv6 address in hex notation: ${address}`);
  const [head, tail] = address.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = tail === undefined ? groups(head) : [...groups(head), ...Array<string>(missing).fill('0'), ...groups(tail)];
  const bytes = Buffer.alloc(16);
  all.forEach((group, index) => bytes.writeUInt16BE(parseInt(group, 16), index * 2));
  return bytes;
}

/** RFC 1035 §3.3.1, §3.3.12: a CNAME's or PTR's data is a domain name, written as length-prefixed labels (the root alone for "."), in the case it was given (as a zone file keeps it). */
function domainNameRdata(name: string): Buffer {
  const labels = name
    .replace(/\.$/, '')
    .split('.')
    .filter((label) => label !== '')
    .map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'latin1')]));
  return Buffer.concat([...labels, Buffer.from([0])]);
}

/** RFC 1035 §3.5 and RFC 3596 §2.5: the reverse-lookup name of an address. */
function reverseName(address: string): string {
  if (isIPv4(address)) return `${address.split('.').reverse().join('.')}.in-addr.arpa`;
  const nibbles = [...ipv6Bytes(address)].flatMap((byte) => [byte >> 4, byte & 15]).map((nibble) => nibble.toString(16));
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}
