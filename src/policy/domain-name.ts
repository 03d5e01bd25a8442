import { domainToASCII } from 'node:url';

/** RFC 1035 §2.3.4: labels are at most 63 octets, names at most 253 in text form. */
const MAX_LABEL_LENGTH = 63;
const MAX_NAME_LENGTH = 253;
// RFC 5321 §4.1.2 Domain: LDH labels that neither start nor end with a hyphen.
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string };

/**
 * Normalises a host or domain name to the form that goes on the wire: lower case, no trailing
 * dot, IDN U-labels converted to A-labels (RFC 8461 §3.2 compares mx patterns as A-labels).
 */
export function normaliseDomainName(input: string): NameCheck {
  const trimmed = input.trim().replace(/\.$/, '');
  if (trimmed === '') return { ok: false, reason: 'is empty' };
  // domainToASCII lower-cases and applies UTS #46; it returns '' for names it cannot convert.
  const ascii = /^[\x00-\x7f]*$/.test(trimmed) ? trimmed.toLowerCase() : domainToASCII(trimmed);
  if (ascii === '') return { ok: false, reason: 'is not a valid internationalised domain name' };
  if (ascii.length > MAX_NAME_LENGTH) return { ok: false, reason: `is longer than ${MAX_NAME_LENGTH} characters` };
  const labels = ascii.split('.');
  if (labels.length < 2) return { ok: false, reason: 'needs at least two labels (e.g. example.com)' };
  for (const label of labels) {
    if (label.length > MAX_LABEL_LENGTH) return { ok: false, reason: `has a label longer than ${MAX_LABEL_LENGTH} characters` };
    if (!LDH_LABEL.test(label)) {
      return { ok: false, reason: 'may only contain letters, digits and inner hyphens in each dot-separated label' };
    }
  }
  return { ok: true, name: ascii };
}
