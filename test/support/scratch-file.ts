import { openSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new empty file in a directory of its own, open for writing: a log writer's real file descriptor. */
export async function scratchFile(): Promise<{ path: string; fd: number }> {
  const path = join(await mkdtemp(join(tmpdir(), 'mta-sts-log-')), 'log');
  return { path, fd: openSync(path, 'w') };
}
