/**
 * Why the service did not start, in terms of the config: the `service_failed` line names the
 * setting to blame. Each part that can fail at start (config, state_dir, listeners) throws one.
 */

/** What the `service_failed` line says besides the reason: the setting to blame and what it names. */
export interface StartFailureFields {
  /** The config field to blame: `listen.https`, `admin.port`, `state_dir`, ... */
  setting?: string;
  /** Located problems (`file:line:column field.path: message`) when the config is invalid. */
  errors?: string[];
  address?: string;
  port?: number;
  path?: string;
  /** The system's error code, such as EADDRINUSE. */
  code?: string;
}

/** Why the service did not start: the reason a person can act on, and the exit status. */
export class StartError extends Error {
  readonly code: string | undefined;

  constructor(
    reason: string,
    readonly fields: StartFailureFields = {},
    /** 2 for an invalid config, as check-config exits; 1 for everything else. */
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(reason);
    this.code = fields.code;
  }
}

export class ConfigError extends StartError {
  constructor(readonly problems: string[]) {
    super(
      `the config has ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was started`,
      { errors: problems },
      2,
    );
  }
}
