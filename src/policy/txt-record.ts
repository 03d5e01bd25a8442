/** RFC 8461 §3.1: the `_mta-sts` TXT record that announces a policy and its id. */
export function renderStsTxt(policyId: string): string {
  return `v=STSv1; id=${policyId}`;
}

/** RFC 8460 §3: the `_smtp._tls` TXT record; several rua URIs are separated by commas. */
export function renderTlsRptTxt(rua: readonly string[]): string {
  return `v=TLSRPTv1; rua=${rua.join(',')}`;
}
