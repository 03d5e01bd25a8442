import { ipFamily } from './ip-family.js';

/** A server to send queries to: an IP address, and a port when one was written. */
export interface ServerAddress {
  readonly address: string;
  readonly port: number | undefined;
}

/**
 * `IP[:PORT]` as written in the config and on the command line: `192.0.2.53`, `192.0.2.53:5353`,
 * `2001:db8::53` or `[2001:db8::53]:5353` (an IPv6 address takes a port only in brackets).
 * Undefined for anything else.
 */
export function parseServerAddress(text: string): ServerAddress | undefined {
  if (ipFamily(text) !== 0) return { address: text, port: undefined };
  const match = /^\[([0-9a-f:.]+)\]:(\d{1,5})$/i.exec(text) ?? /^([0-9.]+):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (ipFamily(match[1]!) === 0 || port < 1 || port > 65_535) return undefined;
  return { address: match[1]!, port };
}

/** The form `dns.Resolver.setServers` takes: a bare address, `IPv4:port`, or `[IPv6]:port`. */
export function resolverServerText({ address, port }: ServerAddress): string {
  if (port === undefined) return address;
  return ipFamily(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}
