import { createRequire } from 'node:module';
import type { MxPattern } from './mx-pattern.js';

// RFC 8461 §3.2: sts-policy-mode-value = "enforce" / "testing" / "none".
export const POLICY_MODES = ['enforce', 'testing', 'none'] as const;
export type PolicyMode = (typeof POLICY_MODES)[number];

// RFC 8461 §3.2: max_age is at most 31557600 seconds (about one year).
export const MAX_AGE_LIMIT = 31_557_600;

export interface StsPolicy {
  readonly mode: PolicyMode;
  readonly mx: readonly MxPattern[];
  readonly maxAge: number;
}

/** One policy domain as the config describes it: its policy and its TLS reporting addresses. */
export interface DomainPolicy {
  /** The policy domain (A-labels); its policy host is `mta-sts.<name>`. */
  readonly name: string;
  readonly policy: StsPolicy;
  readonly tlsRptRua: readonly string[];
}

/**
 * The policy file body. RFC 8461 §3.2: `version` comes first, each field is "key: value"
 * terminated by CRLF; mx patterns keep the order the admin wrote them in.
 */
export function renderPolicy(policy: StsPolicy): string {
  const lines = ['version: STSv1', `mode: ${policy.mode}`];
  for (const pattern of policy.mx) lines.push(`mx: ${pattern.text}`);
  lines.push(`max_age: ${policy.maxAge}`);
  return lines.map((line) => `${line}\r\n`).join('');
}

const POLICY_ID_LENGTH = 24;

/**
 * node:crypto is loaded with the first id, not with this module: the config's schema imports this
 * module for its constants, and check-config computes no id; loading node:crypto costs about a
 * tenth of Node's own start-up.
 */
const loadBuiltin = createRequire(import.meta.url);
let oneShotHash: typeof import('node:crypto').hash | undefined;

/**
 * A policy id derived from the rendered body, so it changes exactly when the policy does.
 * RFC 8461 §3.1: sts-id = 1*32(ALPHA / DIGIT); hex of a digest fits that alphabet.
 */
export function policyIdOf(body: string): string {
  // The one-shot hash: a start with 100 000 domains makes as many ids, and a Hash object for
  // each cost twice as much.
  oneShotHash ??= (loadBuiltin('node:crypto') as typeof import('node:crypto')).hash;
  return oneShotHash('sha256', body, 'hex').slice(0, POLICY_ID_LENGTH);
}
