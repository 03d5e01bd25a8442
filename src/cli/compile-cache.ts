import { lstatSync, mkdirSync } from 'node:fs';
import module from 'node:module';
import { isAbsolute, join } from 'node:path';

/** module.enableCompileCache, which Node 20's types (the oldest Node supported) do not have. */
type CompileCacheModule = { enableCompileCache?: (directory: string) => { status: number; directory?: string } };

/**
 * The folder for the compiled code of the CLI: $XDG_CACHE_HOME/mta-sts-server/compile-cache, else
 * ~/.cache/...; undefined when there is no home to put it in.
 */
export function compileCacheDirectory(env: NodeJS.ProcessEnv): string | undefined {
  const base = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : env.HOME && join(env.HOME, '.cache');
  return base ? join(base, 'mta-sts-server', 'compile-cache') : undefined;
}

/**
 * Node 22.1+ keeps the code it compiled for the modules loaded after this call on disk, and
 * reuses it on the next run: most of what a short command costs above Node's own start-up is
 * compiling the config's schema library. The folder is the user's own (compileCacheDirectory),
 * never Node's default in the shared /tmp: cached code runs as whoever runs the command, so a
 * folder that someone else owns, or may write to, is not used. Node 20 has no compile cache; a
 * folder that cannot be made (read-only home) leaves it off. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
export function enableCompileCache(env: NodeJS.ProcessEnv): void {
  const enable = (module as CompileCacheModule).enableCompileCache;
  const directory = compileCacheDirectory(env);
  if (enable === undefined || directory === undefined) return;
  try {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    const folder = lstatSync(directory);
    if (!folder.isDirectory() || folder.uid !== process.getuid?.() || (folder.mode & 0o022) !== 0) return;
    enable(directory);
  } catch {
    // No cache is only slower.
  }
}
