import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';

/**
 * The config a command works from, or undefined once its problems are printed on `err`, one
 * located line each, after any the command found itself (`problems`); the command then exits 2.
 */
export async function loadConfigOrReport(
  path: string,
  err: NodeJS.WritableStream,
  problems: readonly string[] = [],
): Promise<{ config: Config; warnings: string[] } | undefined> {
  const loaded = await loadConfigFile(path, process.env);
  const all = loaded.ok ? problems : [...problems, ...loaded.errors];
  for (const problem of all) err.write(`${problem}\n`);
  return loaded.ok && all.length === 0 ? loaded : undefined;
}
