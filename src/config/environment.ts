import { adminToken } from './schema-listeners.js';

/** Gives the admin listener's token outside the file, so that the secret can stay out of it. */
export const ADMIN_TOKEN_VARIABLE = 'MTA_STS_ADMIN_TOKEN';

/** The IMAP password of reports.imap: only ever in the environment, never in the file (which is often world-readable, and in version control). */
export const IMAP_PASSWORD_VARIABLE = 'MTA_STS_IMAP_PASSWORD';

/**
 * The environment variables config loading reads. The caller hands them in (serve, reload and
 * the commands pass process.env); loading never reads the process's environment itself, so that
 * it stays a function of the text, its path and this.
 */
export type ConfigEnvironment = Readonly<Partial<Record<typeof ADMIN_TOKEN_VARIABLE | typeof IMAP_PASSWORD_VARIABLE, string>>>;

/** No variable set: a token given only in the environment is not seen. */
export const NO_ENVIRONMENT: ConfigEnvironment = {};

export interface EnvironmentSettings {
  adminToken: string | undefined;
  imapPassword: string | undefined;
  /** `VARIABLE (environment): what is wrong`; never the value, which is a secret. */
  errors: string[];
}

/** The settings the environment gives, held to the rules of the file's own keys. */
export function readEnvironment(env: ConfigEnvironment): EnvironmentSettings {
  const token = readAdminToken(env[ADMIN_TOKEN_VARIABLE]);
  const password = env[IMAP_PASSWORD_VARIABLE];
  // An empty value (an unset variable in a compose file, say) is a mistake, not a password.
  const passwordErrors =
    password === '' ? [`${IMAP_PASSWORD_VARIABLE} (environment): is empty; set the IMAP password, or unset the variable`] : [];
  return {
    adminToken: token.value,
    imapPassword: password === '' ? undefined : password,
    errors: [...token.errors, ...passwordErrors],
  };
}

function readAdminToken(token: string | undefined): { value: string | undefined; errors: string[] } {
  if (token === undefined) return { value: undefined, errors: [] };
  const problem = (message: string) => ({ value: undefined, errors: [`${ADMIN_TOKEN_VARIABLE} (environment): ${message}`] });
  // Not "no token": an empty value (an unset variable in a compose file, say) would otherwise open the listener.
  if (token === '') return problem('is empty; set a token of at least 16 characters, or unset the variable');
  const checked = adminToken.safeParse(token);
  return checked.success ? { value: token, errors: [] } : problem(checked.error.issues.map(({ message }) => message).join('; '));
}
