import { z } from 'zod';
import { quote } from '../text/quote.js';
import { mapping } from './issues.js';
import { emailAddress, list, text } from './schema-values.js';

/** The config's `tls`: where the policy host's certificates come from (self-signed, files or ACME). */

const certificateFiles = mapping({
  cert: text('the path of a PEM certificate chain'),
  key: text('the path of a PEM private key'),
});

/** CA names users may write instead of a directory URL (the URLs live with the ACME issuer). */
const ACME_CA_NAMES = ['letsencrypt', 'letsencrypt-staging', 'zerossl', 'google'] as const;
const ACME_CHALLENGES = ['http-01', 'tls-alpn-01'] as const;

const acmeDirectory = text(`a CA name (${ACME_CA_NAMES.join(', ')}) or a directory URL`).refine(
  (value) => (ACME_CA_NAMES as readonly string[]).includes(value) || /^https:\/\/[^\s]+$/.test(value),
  { error: (issue) => `${quote(issue.input)} is not a CA; allowed: ${ACME_CA_NAMES.join(', ')} or an https:// directory URL` },
);

const acmeSettings = mapping({
  directory: acmeDirectory.default('letsencrypt'),
  email: emailAddress('the contact address the CA writes to about expiring certificates'),
  accept_terms: z.literal(true, {
    error: "must be true: certificates are only issued once you accept the CA's terms of service (see the CA's website)",
  }),
  ca_bundle: text('the path of a PEM file with CA certificates to trust for the ACME endpoint').optional(),
  eab: mapping({
    kid: text('the key identifier the CA gave you'),
    hmac_key: text('the base64url HMAC key the CA gave you'),
  }).optional(),
  challenge: z
    .enum(ACME_CHALLENGES, {
      error: (issue) => `${quote(issue.input)} is not a challenge type; allowed: ${ACME_CHALLENGES.join(', ')}`,
    })
    .default('http-01'),
  profile: text('an ACME profile name offered by the CA, such as shortlived').optional(),
  renew_when_remaining: z
    .number({ error: (issue) => `${quote(issue.input)} is not a fraction of the certificate lifetime (0.05 to 0.9)` })
    .min(0.05, { error: (issue) => `${quote(issue.input)} is below 0.05 of the certificate lifetime` })
    .max(0.9, { error: (issue) => `${quote(issue.input)} is above 0.9 of the certificate lifetime` })
    .default(1 / 3),
});

const TLS_SOURCES = ['self-signed', 'files', 'acme'] as const;

export const tls = z.discriminatedUnion(
  'source',
  [
    mapping({ source: z.literal('self-signed') }),
    mapping({
      source: z.literal('files'),
      certificates: list(certificateFiles, 'a list of {cert, key} pairs').min(1, {
        error: 'needs at least one {cert, key} pair',
      }),
    }),
    mapping({ source: z.literal('acme'), acme: acmeSettings }),
  ],
  {
    error: (issue) => {
      const allowed = TLS_SOURCES.join(', ');
      if (issue.code !== 'invalid_union' || !issue.input || typeof issue.input !== 'object') {
        return `${quote(issue.input)} is not a mapping; expected one with source (${allowed})`;
      }
      const { source } = issue.input as { source?: unknown };
      return source === undefined
        ? `is required; allowed: ${allowed}`
        : `source ${quote(source)} is not supported; allowed: ${allowed}`;
    },
  },
);
