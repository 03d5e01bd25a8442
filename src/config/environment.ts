import { adminToken } from './schema.js';

/** Gives the admin listener's token outside the file, so that the secret can stay out of it. */
export const ADMIN_TOKEN_VARIABLE = 'MTA_STS_ADMIN_TOKEN';

/**
 * The environment variables config loading reads. The caller hands them in (serve, reload and
 * the commands pass process.env); loading never reads the process's environment itself, so that
 * it stays a function of the text, its path and this.
 */
export type ConfigEnvironment = Readonly<Partial<Record<typeof ADMIN_TOKEN_VARIABLE, string>>>;

/** No variable set: a token given only in the environment is not seen. */
export const NO_ENVIRONMENT: ConfigEnvironment = {};

export interface EnvironmentSettings {
  adminToken: string | undefined;
  /** `VARIABLE (environment): what is wrong`; never the value, which is a secret. */
  errors: string[];
}

/** The settings the environment gives, held to the rules of the file's own keys. */
export function readEnvironment(env: ConfigEnvironment): EnvironmentSettings {
  const token = env[ADMIN_TOKEN_VARIABLE];
  if (token === undefined) return { adminToken: undefined, errors: [] };
  const problem = (message: string) => ({ adminToken: undefined, errors: [`${ADMIN_TOKEN_VARIABLE} (environment): ${message}`] });
  // Not "no token": an empty value (an unset variable in a compose file, say) would otherwise open the listener.
  if (token === '') return problem('is empty; set a token of at least 16 characters, or unset the variable');
  const checked = adminToken.safeParse(token);
  return checked.success
    ? { adminToken: token, errors: [] }
    : problem(checked.error.issues.map(({ message }) => message).join('; '));
}
