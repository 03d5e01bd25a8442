import { printable } from '../text/printable.js';

/** The checks of one domain, in the order they are shown; ids are fixed, scripts read them. */
export const CHECK_IDS = [
  'sts_txt',
  'sts_txt_id',
  'policy_host_dns',
  'policy_fetch',
  'policy_certificate',
  'mx_covered',
  'mx_starttls',
  'tlsrpt_txt',
] as const;
export type CheckId = (typeof CHECK_IDS)[number];

export const CHECK_STATUSES = ['ok', 'warn', 'fail'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

export interface CheckResult {
  readonly id: CheckId;
  readonly status: CheckStatus;
  /** One sentence that says what was seen and, when not ok, what to fix. */
  readonly message: string;
  readonly details: Record<string, unknown>;
}

/** The worst of the statuses; ok for none. */
export function worstStatus(statuses: Iterable<CheckStatus>): CheckStatus {
  let worst: CheckStatus = 'ok';
  for (const status of statuses) if (CHECK_STATUSES.indexOf(status) > CHECK_STATUSES.indexOf(worst)) worst = status;
  return worst;
}

/** Characters of outside text (a DNS answer, an SMTP reply, a certificate name) a message keeps. */
export const SHOWN_TEXT_LIMIT = 200;

/** Text an outside server gave (DNS, SMTP, a certificate): bounded and escaped before it is shown anywhere. */
export const shown = (text: string): string => printable(text, SHOWN_TEXT_LIMIT);

/** Certificates with this many days left or fewer are a warning, and below CERTIFICATE_FAIL_DAYS a failure. */
export const CERTIFICATE_WARN_DAYS = 14;
export const CERTIFICATE_FAIL_DAYS = 3;

/** The status of a certificate that expires `daysLeft` days from now. */
export function expiryStatus(daysLeft: number): CheckStatus {
  if (daysLeft < CERTIFICATE_FAIL_DAYS) return 'fail';
  return daysLeft <= CERTIFICATE_WARN_DAYS ? 'warn' : 'ok';
}
