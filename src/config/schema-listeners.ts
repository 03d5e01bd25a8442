import { asCidr, parseCidr } from '../net/ip-ranges.js';
import { quote } from '../text/quote.js';
import { mapping } from './issues.js';
import { ipAddress, list, onOff, port, text } from './schema-values.js';

/** The config's listeners: `listen` (the policy host), `trust_proxy` (proxies in front of it) and `admin`. */

export const listen = mapping({ address: ipAddress.default('::'), https: port.default(443), http: port.default(80) });

const cidr = text('an IP address or CIDR range').refine(
  (value) => {
    try {
      parseCidr(asCidr(value));
      return true;
    } catch {
      return false;
    }
  },
  {
    error: (issue) =>
      `${quote(issue.input)} is not an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8 (no host bits after the prefix)`,
  },
);

/** Proxies whose Forwarded and X-Forwarded-For headers are believed, as addresses or CIDR ranges. */
export const trustProxy = list(cidr, 'a list of addresses or CIDR ranges');

/** The admin listener's bearer token: the same rules for admin.token and for MTA_STS_ADMIN_TOKEN. */
export const adminToken = text('a bearer token of at least 16 characters (or set MTA_STS_ADMIN_TOKEN)').min(16, {
  error: 'must be at least 16 characters',
});

export const admin = mapping({
  enabled: onOff.default(true),
  address: ipAddress.default('127.0.0.1'),
  port: port.default(9464),
  token: adminToken.optional(),
});
