import type { IncomingMessage } from 'node:http';
import { ipFamily } from '../net/ip-family.js';
import { normaliseIp } from '../net/ip-address.js';

/**
 * Proxy headers are attacker input: only the right-most part of a field line is read (the part
 * the proxies nearest to us appended), and only so many hops are walked.
 */
const MAX_FIELD_LINE_CHARS = 1024;
const MAX_HOPS = 32;

/** One hop of a forwarding chain: its address, or undefined when it is not an IP address (unknown, obfuscated, malformed, cut). */
type Hop = string | undefined;

/**
 * The client's address, and whether a trusted proxy forwarded the request. From the socket,
 * unless the peer is a trusted proxy: then from the chain that X-Forwarded-For or Forwarded
 * (RFC 7239) records, read from the right (the hop nearest to us) past every trusted proxy to
 * the first address that is not one. A hop that is not an IP address ends the walk: the
 * address of the last trusted hop is taken, never text a client could have written. When both
 * headers are present they must name the same client; a client can send either one itself and
 * a proxy appends to only one, so if they disagree the peer's own address is taken.
 */
export function clientOf(request: IncomingMessage, trustProxy: (address: string) => boolean): { ip: string; proxied: boolean } {
  const peer = normaliseIp(request.socket.remoteAddress ?? '');
  if (!trustProxy(peer)) return { ip: peer, proxied: false };
  const lines = forwardingFieldLines(request.rawHeaders);
  const viaXForwardedFor =
    lines.xForwardedFor.length > 0 ? walk(lines.xForwardedFor, xForwardedForHops, peer, trustProxy) : undefined;
  const viaForwarded = lines.forwarded.length > 0 ? walk(lines.forwarded, forwardedHops, peer, trustProxy) : undefined;
  const agreed = viaXForwardedFor === undefined || viaForwarded === undefined || viaXForwardedFor === viaForwarded;
  return { ip: agreed ? (viaXForwardedFor ?? viaForwarded ?? peer) : peer, proxied: true };
}

/** Each field line on its own (Node joins repeated lines with ", ", which would let a quote in one line swallow the next). */
function forwardingFieldLines(rawHeaders: readonly string[]): { xForwardedFor: string[]; forwarded: string[] } {
  const xForwardedFor: string[] = [];
  const forwarded: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 15 && name.toLowerCase() === 'x-forwarded-for') xForwardedFor.push(rawHeaders[i + 1]!);
    else if (name.length === 9 && name.toLowerCase() === 'forwarded') forwarded.push(rawHeaders[i + 1]!);
  }
  return { xForwardedFor, forwarded };
}

/** Walks the hops from the right: the last line first, each line from its end. */
function walk(
  lines: readonly string[],
  hopsFromRight: (line: string) => Iterable<Hop>,
  peer: string,
  trustProxy: (address: string) => boolean,
): string {
  let nearest = peer;
  let walked = 0;
  for (let line = lines.length - 1; line >= 0; line--) {
    for (const hop of hopsFromRight(lines[line]!)) {
      if (hop === undefined || ++walked > MAX_HOPS) return nearest;
      if (!trustProxy(hop)) return hop;
      nearest = hop;
    }
  }
  return nearest;
}

/**
 * `X-Forwarded-For: client, proxy1, proxy2`; some proxies add a port (`192.0.2.1:4711`,
 * `[2001:db8::1]:4711`). A line longer than the bound is cut on the left, and the entry the cut
 * went through is an unknown hop.
 */
function* xForwardedForHops(line: string): Iterable<Hop> {
  const cut = line.length > MAX_FIELD_LINE_CHARS;
  const entries = (cut ? line.slice(line.length - MAX_FIELD_LINE_CHARS) : line).split(',');
  for (let i = entries.length - 1; i >= 0; i--) {
    if (cut && i === 0) {
      yield undefined;
      return;
    }
    const entry = entries[i]!.trim();
    // RFC 9110 §5.6.1.2: empty list elements are ignored.
    if (entry !== '') yield nodeAddress(entry);
  }
}

/**
 * RFC 7239 §4: `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::17]:4711"`. Elements are
 * separated by commas, parameters by semicolons; values are tokens or quoted strings. An element
 * without `for`, or one that does not parse, is an unknown hop.
 */
function* forwardedHops(line: string): Iterable<Hop> {
  for (const element of elementsFromRight(line)) {
    if (element === undefined) {
      yield undefined;
      return;
    }
    const parsed = parseForwardedElement(element);
    if (parsed !== 'empty') yield parsed.valid && parsed.for !== undefined ? nodeAddress(parsed.for) : undefined;
  }
}

/**
 * The elements of a Forwarded line, the right-most first, split at commas outside quoted
 * strings. Reading from the right, the end of the line (which the proxies nearest to us wrote)
 * is split exactly whatever a client put before it; an element that would take more than the
 * bound to read is an unknown hop (undefined), and nothing further left is read.
 */
function* elementsFromRight(line: string): Iterable<string | undefined> {
  const stop = Math.max(0, line.length - MAX_FIELD_LINE_CHARS);
  let end = line.length;
  for (let i = line.length - 1; i >= stop; i--) {
    if (line[i] === ',') {
      yield line.slice(i + 1, end);
      end = i;
    } else if (line[i] === '"') {
      i = openingQuote(line, i, stop);
      if (i < stop) break;
    }
  }
  yield stop === 0 ? line.slice(0, end) : undefined;
}

/**
 * Where the quoted string that ends at `close` opens; below `stop` when it opens further left.
 * Inside a quoted string every backslash starts a quoted-pair (RFC 9110 §5.6.4), so a quote
 * after an odd run of backslashes is escaped and one after an even run ends the string.
 */
function openingQuote(line: string, close: number, stop: number): number {
  for (let i = close - 1; i >= stop; i--) {
    if (line[i] !== '"') continue;
    let backslashes = 0;
    while (line[i - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return i;
  }
  return stop - 1;
}

/** One element: `pair *( ";" pair )`, pair = token "=" ( token / quoted-string ); 'empty' when it has no pair. */
function parseForwardedElement(element: string): 'empty' | { for: string | undefined; valid: boolean } {
  let position = 0;
  let forValue: string | undefined;
  let pairs = 0;
  const skipWhitespace = () => {
    while (element[position] === ' ' || element[position] === '\t') position++;
  };
  const token = () => {
    const start = position;
    while (position < element.length && TCHAR.test(element[position]!)) position++;
    return element.slice(start, position);
  };
  const quotedString = () => {
    let value = '';
    for (let i = position + 1; i < element.length; i++) {
      if (element[i] === '"') {
        position = i + 1;
        return value;
      }
      if (element[i] === '\\') i++;
      value += element[i] ?? '';
    }
    return undefined;
  };
  for (;;) {
    skipWhitespace();
    if (position >= element.length) break;
    if (element[position] === ';') {
      position++;
      continue;
    }
    pairs++;
    const name = token().toLowerCase();
    if (name === '' || element[position] !== '=') return { for: undefined, valid: false };
    position++;
    const value = element[position] === '"' ? quotedString() : token();
    skipWhitespace();
    if (!value || (position < element.length && element[position] !== ';')) return { for: undefined, valid: false };
    if (name === 'for') {
      // RFC 7239 §4: a parameter MUST NOT occur more than once per element.
      if (forValue !== undefined) return { for: undefined, valid: false };
      forValue = value;
    }
  }
  return pairs === 0 ? 'empty' : { for: forValue, valid: true };
}

/**
 * The IP address of a node: `address`, `IPv4:port` or `[IPv6]:port` (RFC 7239 §6; the port may
 * be an obfuscated `_name`). `unknown`, obfuscated names and anything else are not addresses.
 */
function nodeAddress(node: string): Hop {
  if (ipFamily(node) !== 0) return normaliseIp(node);
  let address: string;
  let port: string;
  if (node.startsWith('[')) {
    const close = node.indexOf(']');
    address = node.slice(1, close);
    if (close < 0 || ipFamily(address) !== 6) return undefined;
    port = node.slice(close + 1);
  } else {
    const colon = node.indexOf(':');
    address = node.slice(0, colon);
    if (colon < 0 || ipFamily(address) !== 4) return undefined;
    port = node.slice(colon);
  }
  if (port !== '' && !/^:(?:\d{1,5}|_[A-Za-z0-9._-]+)$/.test(port)) return undefined;
  return normaliseIp(address);
}

// RFC 9110 §5.6.2: the characters of a token.
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
