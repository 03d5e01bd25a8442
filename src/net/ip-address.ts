import { ipFamily } from './ip-family.js';

/**
 * The address as 4 bytes (IPv4, including IPv4-mapped IPv6 such as ::ffff:192.0.2.1) or 16 bytes
 * (other IPv6), or undefined when it is not an IP address. A zone (fe80::1%eth0) is ignored:
 * it names the local interface, not a different address.
 */
export function ipBytes(address: string): Uint8Array | undefined {
  const family = ipFamily(address);
  if (family === 4) return ipv4Bytes(address);
  if (family !== 6) return undefined;
  const bytes = ipv6Bytes(address);
  return isIpv4Mapped(bytes) ? bytes.subarray(12) : bytes;
}

/**
 * A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; logs and range checks want the
 * IPv4 address the client actually used. IPv6 is lowercased so one address has one spelling.
 */
export function normaliseIp(address: string): string {
  // The common case on a dual-stack listener, checked first: it runs for every fetch.
  if (address.length > 7 && address.charCodeAt(0) === 58 /* : */ && /^::ffff:/i.test(address)) {
    const ipv4 = address.slice(7);
    if (ipFamily(ipv4) === 4) return ipv4;
  }
  const family = ipFamily(address);
  if (family !== 6) return address;
  const bytes = ipv6Bytes(address);
  return isIpv4Mapped(bytes) ? bytes.subarray(12).join('.') : address.toLowerCase();
}

/** Only called on text that ipFamily accepted as IPv4. Runs for every fetch, so no split/map garbage. */
function ipv4Bytes(address: string): Uint8Array {
  const bytes = new Uint8Array(4);
  let index = 0;
  let value = 0;
  for (let i = 0; i < address.length; i++) {
    const code = address.charCodeAt(i);
    if (code === 46 /* . */) {
      bytes[index++] = value;
      value = 0;
    } else {
      value = value * 10 + (code - 48);
    }
  }
  bytes[index] = value;
  return bytes;
}

/** Only called on text that ipFamily accepted as IPv6, so the shape is already known to be valid. */
function ipv6Bytes(address: string): Uint8Array {
  const [withoutZone = ''] = address.split('%');
  const [head = '', tail] = withoutZone.split('::');
  const headGroups = groupsOf(head);
  const tailGroups = tail === undefined ? [] : groupsOf(tail);
  const groups = [...headGroups, ...new Array<number>(8 - headGroups.length - tailGroups.length).fill(0), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** Hex groups, with a trailing dotted IPv4 part (::ffff:1.2.3.4) counted as the two groups it stands for. */
function groupsOf(part: string): number[] {
  if (part === '') return [];
  return part.split(':').flatMap((group) => {
    if (!group.includes('.')) return [parseInt(group, 16)];
    const [a = 0, b = 0, c = 0, d = 0] = ipv4Bytes(group);
    return [(a << 8) | b, (c << 8) | d];
  });
}

function isIpv4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * The network an address belongs to for fairness between senders: its /24 (IPv4) or /64 (IPv6,
 * what one site or customer is usually given), e.g. `192.0.2.0/24`, `2001:db8:1:2::/64`. Text that
 * is not an address is its own network.
 */
export function networkOf(address: string): string {
  const bytes = ipBytes(address);
  if (bytes === undefined) return address;
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.0/24`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return `${groups.join(':')}::/64`;
}

/**
 * The range of `prefix` bits around an address, in one canonical spelling (bits past the prefix
 * cleared, IPv6 compressed as RFC 5952 §4 writes it): `cidrOf('192.0.2.77', 24)` is `192.0.2.0/24`.
 * Undefined when the text is not an address or the prefix does not fit its family.
 */
export function cidrOf(address: string, prefix: number): string | undefined {
  const bytes = ipBytes(address);
  if (bytes === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8) return undefined;
  const masked = bytes.map((byte, index) => {
    const bitsKept = Math.min(8, Math.max(0, prefix - index * 8));
    return byte & ((0xff00 >> bitsKept) & 0xff);
  });
  if (masked.length === 4) return `${masked.join('.')}/${prefix}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((masked[i]! << 8) | masked[i + 1]!).toString(16));
  // The WHATWG URL parser writes an IPv6 host in RFC 5952's compressed form.
  return `${new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1)}/${prefix}`;
}
