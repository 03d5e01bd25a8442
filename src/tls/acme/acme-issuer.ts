import { AsyncLocalStorage } from 'node:async_hooks';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';
import type { Config } from '../../config/schema.js';
import type { AcmeChallengeTokens } from './challenges.js';
import type { Storage } from '../../storage/storage.js';
import { AcmeError, type CertificateIssuer, type IssuedCertificate } from './issuer.js';

export type AcmeSettings = Extract<Config['tls'], { source: 'acme' }>['acme'];

const DIRECTORY_URLS: Record<string, string> = {
  letsencrypt: acme.directory.letsencrypt.production,
  'letsencrypt-staging': acme.directory.letsencrypt.staging,
  zerossl: acme.directory.zerossl.production,
  google: acme.directory.google.production,
};

function directoryUrlOf(settings: Pick<AcmeSettings, 'directory'>): string {
  return DIRECTORY_URLS[settings.directory] ?? settings.directory;
}

/** The storage namespace of the configured CA: its directory's host. */
export function caIdOf(settings: Pick<AcmeSettings, 'directory'>): string {
  return new URL(directoryUrlOf(settings)).host.replace(/[^A-Za-z0-9.-]/g, '_');
}

/**
 * Obtains certificates from an ACME CA (RFC 8555) for single policy hosts. Knows nothing of
 * when to renew or where certificates are served: the maintenance loop decides, the cache serves.
 * The account key is created once and kept in storage, so restarts reuse the account.
 */
export class AcmeIssuer implements CertificateIssuer {
  readonly directoryUrl: string;
  readonly caId: string;
  private client: Promise<acme.Client> | undefined;

  constructor(
    private readonly settings: AcmeSettings,
    private readonly storage: Storage,
    private readonly challenges: AcmeChallengeTokens,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.directoryUrl = directoryUrlOf(settings);
    this.caId = caIdOf(settings);
  }

  async issue(host: string): Promise<IssuedCertificate> {
    try {
      return await withProblemRecording(() => this.order(host));
    } catch (error) {
      // RFC 8555 §7.3.1: a CA that no longer knows the stored account (it was deactivated, or
      // a test CA restarted) gets a new registration instead of failing forever.
      if (!(error as AcmeError).problem?.type?.endsWith(':accountDoesNotExist')) throw error;
      await this.storage.delete(`acme/${this.caId}/account.json`);
      this.client = undefined;
      return withProblemRecording(() => this.order(host));
    }
  }

  private async order(host: string): Promise<IssuedCertificate> {
    const client = await this.account();
    const order = await client.createOrder({
      identifiers: [{ type: 'dns', value: host }],
      // draft-ietf-acme-profiles: lets users pick e.g. Let's Encrypt's `shortlived` certificates.
      ...(this.settings.profile && { profile: this.settings.profile }),
    });
    for (const authorization of await client.getAuthorizations(order)) {
      if (authorization.status !== 'valid') await this.solve(client, authorization);
    }
    const [keyPem, csr] = await acme.crypto.createCsr(
      { commonName: host, altNames: [host] },
      await acme.crypto.createPrivateEcdsaKey('P-256'),
    );
    const finalized = await client.finalizeOrder(order, csr);
    return { chainPem: await client.getCertificate(finalized), keyPem: keyPem.toString() };
  }

  private async solve(client: acme.Client, authorization: acme.Authorization): Promise<void> {
    const host = authorization.identifier.value;
    const challenge = authorization.challenges.find((candidate) => candidate.type === this.settings.challenge);
    if (!challenge)
      throw new AcmeError(`the CA offers no ${this.settings.challenge} challenge for ${host}`, undefined, undefined);
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    if (this.settings.challenge === 'tls-alpn-01') {
      // RFC 8737 §3: a self-signed certificate carrying the key authorization's digest, presented
      // on the HTTPS port to clients that ask for the acme-tls/1 protocol.
      const [key, cert] = await acme.crypto.createAlpnCertificate(
        authorization,
        keyAuthorization,
        await acme.crypto.createPrivateEcdsaKey('P-256'),
      );
      this.challenges.setAlpnCertificate(host, { cert: cert.toString(), key: key.toString() });
    } else {
      // RFC 8555 §8.3: the key authorization is served at /.well-known/acme-challenge/<token> on port 80.
      await this.challenges.set(challenge.token, keyAuthorization);
    }
    try {
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(authorization);
    } finally {
      this.challenges.deleteAlpnCertificate(host);
      await this.challenges.delete(challenge.token);
    }
  }

  private account(): Promise<acme.Client> {
    this.client ??= this.openAccount().catch((error: unknown) => {
      this.client = undefined; // try again on the next order
      throw error;
    });
    return this.client;
  }

  private async openAccount(): Promise<acme.Client> {
    if (this.settings.ca_bundle) {
      // acme-client talks through one shared axios instance; extra trust is added to the public roots, not instead of them.
      const extra = await readFile(this.settings.ca_bundle, 'utf8');
      acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, extra] });
    }
    // The maintenance loop retries with backoff and honours Retry-After; acme-client's own
    // retries (up to 75 s inside one request) would only hold an order slot meanwhile.
    (acme.axios.defaults as { acmeSettings?: { retryMaxAttempts: number } }).acmeSettings!.retryMaxAttempts = 0;
    // Replicas sharing the storage must end up with one account, not one each.
    const lock = await this.storage.lock(`account-${this.caId}`);
    try {
      return await this.loadOrCreateAccount();
    } finally {
      await lock.release();
    }
  }

  private async loadOrCreateAccount(): Promise<acme.Client> {
    const keyKey = `acme/${this.caId}/account-key.pem`;
    const urlKey = `acme/${this.caId}/account.json`;
    let accountKey = (await this.storage.load(keyKey))?.toString();
    if (!accountKey) {
      accountKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      await this.storage.store(keyKey, accountKey, { secret: true });
    }
    const stored = (await this.storage.load(urlKey))?.toString();
    const accountUrl = stored ? (JSON.parse(stored) as { url: string }).url : undefined;
    const eab = this.externalAccountBinding();
    const client = new acme.Client({
      directoryUrl: this.directoryUrl,
      accountKey,
      ...(accountUrl && { accountUrl }),
      ...(eab && { externalAccountBinding: eab }),
    });
    if (!accountUrl) {
      await client.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${this.settings.email}`] });
      await this.storage.store(urlKey, JSON.stringify({ url: client.getAccountUrl(), email: this.settings.email }));
    }
    return client;
  }

  /** EAB credentials from the config, or from MTA_STS_ACME_EAB_KID / MTA_STS_ACME_EAB_HMAC_KEY so that secrets can stay out of the file. */
  private externalAccountBinding(): { kid: string; hmacKey: string } | undefined {
    const kid = this.settings.eab?.kid ?? this.env.MTA_STS_ACME_EAB_KID;
    const hmacKey = this.settings.eab?.hmac_key ?? this.env.MTA_STS_ACME_EAB_HMAC_KEY;
    if (kid === undefined && hmacKey === undefined) return undefined;
    if (!kid || !hmacKey)
      throw new AcmeError('external account binding needs both a key id and an HMAC key', undefined, undefined);
    return { kid, hmacKey };
  }
}

/**
 * acme-client throws a plain Error with the problem's detail only; the problem type (to tell a
 * rate limit or an unknown account) and Retry-After are taken from the CA's last error response
 * in the same order, recorded by an interceptor on acme-client's axios instance.
 */
const orderProblems = new AsyncLocalStorage<{ problem?: RecordedProblem }>();
interface RecordedProblem {
  type?: string;
  detail?: string;
  retryAfterMs?: number;
}
let recorderInstalled = false;

async function withProblemRecording<T>(work: () => Promise<T>): Promise<T> {
  if (!recorderInstalled) {
    recorderInstalled = true;
    acme.axios.interceptors.response.use((response) => {
      const holder = orderProblems.getStore();
      const data = response.data as { type?: unknown; detail?: unknown } | undefined;
      if (holder && response.status >= 400 && typeof data?.type === 'string') {
        const retryAfter = retryAfterMs(response.headers['retry-after']);
        holder.problem = {
          type: data.type,
          ...(typeof data.detail === 'string' && { detail: data.detail }),
          ...(retryAfter !== undefined && { retryAfterMs: retryAfter }),
        };
      }
      return response;
    });
  }
  const holder: { problem?: RecordedProblem } = {};
  try {
    return await orderProblems.run(holder, work);
  } catch (error) {
    throw asAcmeError(error, holder.problem);
  }
}

function asAcmeError(error: unknown, recorded?: RecordedProblem): AcmeError {
  if (error instanceof AcmeError) return error;
  if (recorded?.type) {
    return new AcmeError(
      recorded.detail ?? (error as Error).message,
      { type: recorded.type, detail: recorded.detail },
      recorded.retryAfterMs,
    );
  }
  // acme-client 5 turns a request that got no HTTP response into this TypeError, losing the cause.
  if (error instanceof TypeError && error.message.includes("reading 'config'")) {
    return new AcmeError('no answer from the ACME server (connection failed)', undefined, undefined);
  }
  const response = (
    error as { response?: { status?: number; headers?: Record<string, string>; data?: { type?: string; detail?: string } } }
  ).response;
  const problem =
    response?.data && typeof response.data === 'object' ? { type: response.data.type, detail: response.data.detail } : undefined;
  const message = problem?.detail ?? (error as Error).message ?? String(error);
  return new AcmeError(message, problem, retryAfterMs(response?.headers?.['retry-after']));
}

/** An IMF-fixdate (RFC 9110 §5.6.7), the HTTP date every server sends: `Sun, 06 Nov 1994 08:49:37 GMT`. */
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * RFC 9110 §10.2.3: Retry-After is a number of seconds or an HTTP date; a CA says with it when
 * a rate-limited client may come back (RFC 8555 §6.6). Undefined for a missing, past or malformed value.
 */
export function retryAfterMs(header: unknown, now: number = Date.now()): number | undefined {
  if (typeof header !== 'string') return undefined;
  const text = header.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) > 0 ? Number(text) * 1000 : undefined;
  if (!HTTP_DATE.test(text)) return undefined;
  const at = Date.parse(text);
  return at > now ? at - now : undefined;
}
