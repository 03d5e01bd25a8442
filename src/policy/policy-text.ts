import { parseMxPattern, type MxPattern } from './mx-pattern.js';
import { MAX_AGE_LIMIT, POLICY_MODES, type PolicyMode, type StsPolicy } from './policy.js';

export type PolicyTextCheck = { ok: true; policy: StsPolicy } | { ok: false; reason: string };

/**
 * A policy body as a sender reads it (RFC 8461 §3.2): "key: value" lines ended by LF or CRLF,
 * `version: STSv1`, a mode, max_age, and an mx line per pattern (none needed for mode none);
 * unknown keys are ignored, as the RFC asks of senders. The first of a repeated single-valued key counts.
 */
export function parsePolicyText(body: string): PolicyTextCheck {
  const fields = new Map<string, string>();
  const mx: MxPattern[] = [];
  for (const line of body.split(/\r?\n/)) {
    if (line === '') continue;
    // RFC 8461 §3.2: sts-policy-field-delim = ":" *WSP; the value runs to the end of the line.
    const match = /^([A-Za-z0-9_.-]{1,32}):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!match) return { ok: false, reason: `line ${JSON.stringify(line.slice(0, 80))} is not "key: value"` };
    const [, key, value] = match as unknown as [string, string, string];
    if (key === 'mx') {
      const pattern = parseMxPattern(value);
      if (!pattern.ok) return { ok: false, reason: `mx ${JSON.stringify(value.slice(0, 80))} ${pattern.reason}` };
      mx.push(pattern.pattern);
    } else if (!fields.has(key)) {
      fields.set(key, value);
    }
  }
  if (fields.get('version') !== 'STSv1') return { ok: false, reason: 'version is not STSv1' };
  const mode = fields.get('mode');
  if (!POLICY_MODES.includes(mode as PolicyMode)) return { ok: false, reason: `mode is not one of ${POLICY_MODES.join(', ')}` };
  const maxAge = fields.get('max_age') ?? '';
  // RFC 8461 §3.2: max_age is 1 to 10 digits, at most 31557600.
  if (!/^[0-9]{1,10}$/.test(maxAge) || Number(maxAge) > MAX_AGE_LIMIT) {
    return { ok: false, reason: `max_age is not a number of seconds from 0 to ${MAX_AGE_LIMIT}` };
  }
  if (mode !== 'none' && mx.length === 0) return { ok: false, reason: `mode ${mode} names no mx` };
  return { ok: true, policy: { mode: mode as PolicyMode, mx, maxAge: Number(maxAge) } };
}
