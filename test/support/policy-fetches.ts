import type { PolicyFetch } from '../../src/fetches/fetch-log.js';

/** A policy fetch as the responder reports it: Google's, from its range, answered 200 over TLS 1.3, with `overrides`. */
export const googleFetch = (overrides: Partial<PolicyFetch> = {}): PolicyFetch => ({
  host: 'mta-sts.example.com',
  domain: 'example.com',
  ip: '209.85.128.5',
  ua: 'Google-SMTP-STS',
  method: 'GET',
  status: 200,
  policyId: 'id-1',
  tls: 'TLSv1.3',
  responseMs: 0.2,
  ...overrides,
});
