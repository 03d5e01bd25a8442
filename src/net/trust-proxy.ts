import { asCidr, IpRangeTable } from './ip-ranges.js';

/** Which peer addresses may tell us the client's address (X-Forwarded-For, Forwarded). None by default. */
export function trustedProxies(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const table = new IpRangeTable<true>();
  for (const entry of entries) table.add(asCidr(entry), true);
  return (address) => table.lookup(address) === true;
}
