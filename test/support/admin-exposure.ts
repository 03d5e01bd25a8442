/** The admin-exposure checks' inputs and words, shared by the in-process tests and the ones over real listeners. */

export const TOKEN = 'admin-token-0123456789';
export const DOMAINS = 'domains: { example.com: { mode: none } }\n';

/** The error for an admin listener on `address` with no token. */
export const exposed = (address: string) =>
  `"${address}" is not a loopback address and the admin listener has no token: anyone who reaches it would see every domain, ` +
  'its policy id and certificate expiry; set admin.token or MTA_STS_ADMIN_TOKEN, or listen on 127.0.0.1';
export const TOO_SHORT = 'MTA_STS_ADMIN_TOKEN (environment): must be at least 16 characters';
export const EMPTY = 'MTA_STS_ADMIN_TOKEN (environment): is empty; set a token of at least 16 characters, or unset the variable';

/** A config of one domain with `admin: { <admin> }` on line 2. */
export const adminConfig = (admin: string) => `${DOMAINS}admin: { ${admin} }\n`;
