import { printable } from '../text/printable.js';

/** Why a file could not be read, in the words every message about a file uses; anything else as the system says it (cut, escaped). */
export function readErrorReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return printable(error instanceof Error ? error.message : String(error), 160);
}
