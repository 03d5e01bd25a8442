/**
 * ACME HTTP-01 key authorizations by token (RFC 8555 §8.3), held in memory only while an order
 * is pending. The certificate issuer adds and removes them; the port-80 listener answers them.
 */
export class AcmeChallengeTokens {
  private readonly byToken = new Map<string, string>();

  set(token: string, keyAuthorization: string): void {
    this.byToken.set(token, keyAuthorization);
  }

  delete(token: string): void {
    this.byToken.delete(token);
  }

  keyAuthorization(token: string): string | undefined {
    return this.byToken.get(token);
  }
}
