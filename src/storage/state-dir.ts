import { access, constants, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { receivesReports, type Config } from '../config/schema.js';
import { StartError } from '../config/start-error.js';

/**
 * Self-signed and ACME certificates, statistics, TLS reports and the policy history (for retiring
 * removed domains) live in state_dir; certificate files with all the others off need none.
 */
export function usesStateDir(config: Config): boolean {
  return (
    config.tls.source !== 'files' || config.statistics.enabled || receivesReports(config.reports) || config.retireRemovedDomains
  );
}

/**
 * The embedded database in the state directory (src/storage/sqlite-database.ts): fetch
 * statistics, TLS reports and the policy history, each part with its own tables and schema
 * version, so parts are added (or moved to a shared database) one at a time. Its path is here,
 * apart from the module that opens it, so that a command can see whether it exists without
 * loading SQLite, which is native.
 */
export function stateDatabasePath(stateDir: string): string {
  return join(stateDir, 'mta-sts.db');
}

/** Makes state_dir, and makes sure this user can write there, before anything is written to it. */
export async function prepareStateDir(stateDir: string): Promise<void> {
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await access(stateDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw stateDirFailure(error, stateDir) ?? error;
  }
}

const STATE_DIR_PROBLEMS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'part of the path is a file, not a folder',
  EEXIST: 'it is a file, not a folder',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/** A file-system error in state_dir as a state_dir problem; undefined for any other error. */
export function stateDirFailure(error: unknown, stateDir: string): StartError | undefined {
  const { code, path } = error as NodeJS.ErrnoException;
  const problem = code === undefined ? undefined : STATE_DIR_PROBLEMS[code];
  if (problem === undefined || path === undefined || (path !== stateDir && !path.startsWith(`${stateDir}/`))) return undefined;
  const user = process.getuid ? ` (uid ${process.getuid()})` : '';
  const at = path !== stateDir ? ` at ${path}` : '';
  return new StartError(`state_dir ${stateDir}: ${problem}${at}; it must be a folder the service's user${user} can write to`, {
    setting: 'state_dir',
    path: stateDir,
    code,
  });
}
