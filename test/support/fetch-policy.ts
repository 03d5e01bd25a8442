import { get, type Agent } from 'node:https';

export interface PolicyFetchOptions {
  port: number;
  /** The policy host: sent as SNI and Host. */
  host: string;
  ca: string | string[];
  /** Where to connect; loopback IPv4 unless given. */
  address?: string;
  agent?: Agent | false;
  /** Extra request headers, e.g. a User-Agent or the X-Forwarded-For a trusted proxy adds. */
  headers?: Record<string, string>;
}

/** GET of the policy path over HTTPS, the way a sending MTA does it. */
export function fetchPolicy({
  port,
  host,
  ca,
  address = '127.0.0.1',
  agent = false,
  headers = {},
}: PolicyFetchOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(
      { host: address, port, path: '/.well-known/mta-sts.txt', servername: host, headers: { ...headers, host }, ca, agent },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    ).on('error', reject);
  });
}
