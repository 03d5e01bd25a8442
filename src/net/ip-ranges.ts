import { ipFamily } from './ip-family.js';
import { quote } from '../text/quote.js';
import { ipBytes } from './ip-address.js';

interface TrieNode<T> {
  readonly children: [TrieNode<T> | undefined, TrieNode<T> | undefined];
  /** Boxed so that a stored value of undefined still counts as a range ending here. */
  entry?: { value: T };
}

const newNode = <T>(): TrieNode<T> => ({ children: [undefined, undefined] });

/** How many recent lookups are remembered; past that they are forgotten all at once. */
const RECENT_LOOKUPS = 4096;

/**
 * Maps CIDR ranges to values and finds the most specific range holding an address. Each family
 * is a binary trie over the address bits, so a lookup costs at most 32 or 128 steps however many
 * ranges there are. IPv4-mapped IPv6 addresses are looked up as the IPv4 address they carry.
 */
export class IpRangeTable<T> {
  private readonly v4 = newNode<T>();
  private readonly v6 = newNode<T>();
  /**
   * The answers for recent addresses (null: in no range). A sender fetches from a few addresses
   * again and again, and parsing an address and walking its bits cost more than the rest of
   * classifying a fetch.
   */
  private readonly recent = new Map<string, { value: T } | null>();

  /**
   * Stores `value` for the range and returns the value it replaces when exactly this range was
   * already present, so that callers can report duplicates. Throws when `cidr` is not a range.
   */
  add(cidr: string, value: T): T | undefined {
    const { bytes, prefix } = parseCidr(cidr);
    let node = bytes.length === 4 ? this.v4 : this.v6;
    for (let bit = 0; bit < prefix; bit++) {
      const side = bitAt(bytes, bit);
      node = node.children[side] ??= newNode();
    }
    const replaced = node.entry?.value;
    node.entry = { value };
    this.recent.clear();
    return replaced;
  }

  /** The value of the longest-prefix range holding `ip`, or undefined (also for text that is not an address). */
  lookup(ip: string): T | undefined {
    let found = this.recent.get(ip);
    if (found === undefined) {
      if (this.recent.size >= RECENT_LOOKUPS) this.recent.clear();
      found = this.longestPrefixEntry(ip) ?? null;
      this.recent.set(ip, found);
    }
    return found?.value;
  }

  private longestPrefixEntry(ip: string): { value: T } | undefined {
    const bytes = ipBytes(ip);
    if (bytes === undefined) return undefined;
    let node: TrieNode<T> | undefined = bytes.length === 4 ? this.v4 : this.v6;
    let best = node.entry;
    for (let bit = 0; node !== undefined && bit < bytes.length * 8; bit++) {
      node = node.children[bitAt(bytes, bit)];
      if (node?.entry) best = node.entry;
    }
    return best;
  }
}

function bitAt(bytes: Uint8Array, bit: number): 0 | 1 {
  return ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) as 0 | 1;
}

/** A single address written where a range is expected stands for that address alone. */
export function asCidr(entry: string): string {
  if (entry.includes('/')) return entry;
  return `${entry}/${ipFamily(entry) === 4 ? 32 : 128}`;
}

/** Parses `address/prefix`, throwing an Error whose message names the range and says what is wrong with it. */
export function parseCidr(cidr: string): { bytes: Uint8Array; prefix: number } {
  // The range comes from a file the user wrote: quoted cut and escaped, as every value in a message.
  const fail = (why: string) => new Error(`${quote(cidr)} is not a CIDR range: ${why}`);
  const [address = '', prefixText, ...rest] = cidr.split('/');
  if (prefixText === undefined || rest.length > 0) {
    throw fail('expected address/prefix-length, such as 192.0.2.0/24 or 2001:db8::/32');
  }
  const family = ipFamily(address);
  if (family === 0 || address.includes('%')) throw fail(`${quote(address)} is not an IP address`);
  const bytes = ipBytes(address)!;
  // A mapped range would be stored as IPv6 yet never match, since mapped addresses are looked up as IPv4.
  if (family === 6 && bytes.length === 4) throw fail('IPv4-mapped IPv6 ranges are not supported; write the IPv4 range');
  const maxPrefix = bytes.length * 8;
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix <= maxPrefix)) throw fail(`the prefix length must be a whole number from 0 to ${maxPrefix}`);
  for (let bit = prefix; bit < maxPrefix; bit++) {
    // Bits past the prefix usually mean a typo in the address or the length, so they are not silently dropped.
    if (bitAt(bytes, bit) === 1) throw fail(`the address has bits set beyond the /${prefix} prefix`);
  }
  return { bytes, prefix };
}
