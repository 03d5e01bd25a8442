import { ipBytes } from '../net/ip-address.js';
import { quote } from '../text/quote.js';
import type { Problem } from './issues.js';

/** 127.0.0.0/8, also written IPv4-mapped (::ffff:127.0.0.1, which ipBytes gives as 4 bytes), or ::1. */
const isLoopback = (bytes: Uint8Array): boolean =>
  bytes.length === 4 ? bytes[0] === 127 : bytes.every((byte, index) => byte === (index === 15 ? 1 : 0));

/**
 * An admin listener that other machines can reach must ask for a token: it lists every hosted
 * domain, its policy id and certificate expiry. Checked on the written data, beside the schema's
 * own problems, because the token may come from the environment, which the schema does not see.
 */
export function adminExposure(data: unknown, tokenInEnvironment: boolean): Problem[] {
  const admin = (data as { admin?: unknown } | null)?.admin as { enabled?: unknown; address?: unknown; token?: unknown } | null;
  if (tokenInEnvironment || typeof admin !== 'object' || admin === null) return [];
  const { enabled = true, address, token } = admin;
  // A token written in the file, even a broken one, is the schema's to report.
  if (enabled !== true || token !== undefined || typeof address !== 'string') return [];
  // Text that is not an address is the schema's to report.
  const bytes = ipBytes(address);
  if (bytes === undefined || isLoopback(bytes)) return [];
  return [
    {
      path: ['admin', 'address'],
      // Stryker disable next-line StringLiteral: offsetOf tells only 'key' apart; any other value locates the value
      at: 'value',
      message:
        `${quote(address)} is not a loopback address and the admin listener has no token: anyone who reaches it ` +
        'would see every domain, its policy id and certificate expiry; set admin.token or MTA_STS_ADMIN_TOKEN, or listen on 127.0.0.1',
    },
  ];
}
