import { request, type Agent } from 'node:https';

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
  /** SNI when it is not `host`: a connection made for one host that asks for another. */
  servername?: string;
  /** GET unless given. */
  method?: string;
}

/** A request for the policy path over HTTPS, the way a sending MTA does it (GET, SNI and Host naming the policy host). */
export function fetchPolicy({
  port,
  host,
  ca,
  address = '127.0.0.1',
  agent = false,
  headers = {},
  servername = host,
  method = 'GET',
}: PolicyFetchOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(
      { host: address, port, method, path: '/.well-known/mta-sts.txt', servername, headers: { ...headers, host }, ca, agent },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    )
      .on('error', reject)
      .end();
  });
}
