import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface Watch {
  close(): void;
}

/**
 * Whether an event in a watched folder may concern one of `names`. Editors save by renaming a
 * temporary file onto the name (the event names the file) and Kubernetes swaps its `..data`
 * symlink (the event names `..data` or its timestamped folder). Any other name is another
 * file: a log or a database written next to the config must not set off a re-read per write.
 */
function concernsWatched(names: ReadonlySet<string>, filename: string | null): boolean {
  // Some platforms name no file: the consumer's re-read decides.
  if (filename === null) return true;
  return names.has(filename) || filename.startsWith('..');
}

/**
 * Other files' changes in a folder within one window past which its watch is closed, leaving the
 * folder to the poll: a log written next to the config would otherwise wake the service for
 * every line it writes (the benchmark's setup, and a `serve > service.log` beside the config).
 */
export const BUSY_FOLDER: Readonly<{ otherChanges: number; windowMs: number }> = { otherChanges: 100, windowMs: 10_000 };

/**
 * Calls `onChange` soon after one of the files changes in its folder, and every `pollMs` as a
 * fallback (network file systems and some container mounts send no events; a folder busy with
 * other files' changes, BUSY_FOLDER, is left to it too). The consumer decides by re-reading
 * whether its file really changed.
 */
export function watchFiles(paths: readonly string[], onChange: () => void, { debounceMs = 100, pollMs = 2000 } = {}): Watch {
  let timer: NodeJS.Timeout | undefined;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const namesByFolder = new Map<string, Set<string>>();
  for (const path of paths) {
    const names = namesByFolder.get(dirname(path)) ?? new Set<string>();
    namesByFolder.set(dirname(path), names.add(basename(path)));
  }
  const watchers: FSWatcher[] = [];
  for (const [folder, names] of namesByFolder) {
    let windowStart = 0;
    let otherChanges = 0;
    try {
      const watcher = watch(folder, { persistent: false }, (_event, filename) => {
        if (concernsWatched(names, filename)) {
          soon();
          return;
        }
        const now = Date.now();
        if (now - windowStart >= BUSY_FOLDER.windowMs) [windowStart, otherChanges] = [now, 0];
        if (++otherChanges > BUSY_FOLDER.otherChanges) watcher.close();
      });
      watcher.on('error', () => undefined); // the folder went away; polling carries on
      watchers.push(watcher);
    } catch {
      // A folder that does not exist yet is picked up by polling once it does.
    }
  }
  const poll = setInterval(onChange, pollMs);
  poll.unref();
  return {
    close() {
      clearTimeout(timer);
      clearInterval(poll);
      for (const watcher of watchers) watcher.close();
    },
  };
}
