import { isAddressLiteral, normaliseDomainName } from './domain-name.js';

/** One `mx:` value of an RFC 8461 policy: a host name, or `*.` plus a host name. */
export interface MxPattern {
  /** The pattern as it is rendered in the policy, A-labels, lower case. */
  readonly text: string;
  readonly wildcard: boolean;
  /** For a wildcard, the part after `*.`; otherwise the whole name. */
  readonly base: string;
}

export type MxPatternCheck = { ok: true; pattern: MxPattern } | { ok: false; reason: string };

// RFC 8461 §3.2: mx = ("*." Domain) / Domain — the wildcard may only be the entire left-most label.
export function parseMxPattern(input: string): MxPatternCheck {
  const text = input.trim();
  const wildcard = text.startsWith('*.');
  const base = wildcard ? text.slice(2) : text;
  // RFC 8461 §4.1: senders match the MX record's host name against the patterns, never its address.
  if (isAddressLiteral(base.replace(/\.$/, ''))) {
    return {
      ok: false,
      reason: 'is an IP address; RFC 8461 §4.1 matches MX host names, so list the name your MX record points at',
    };
  }
  if (base.includes('*')) {
    return { ok: false, reason: 'may use "*" only as the whole left-most label, as in "*.mail.example.com"' };
  }
  const name = normaliseDomainName(base);
  if (!name.ok) return { ok: false, reason: name.reason };
  return { ok: true, pattern: { text: wildcard ? `*.${name.name}` : name.name, wildcard, base: name.name } };
}
