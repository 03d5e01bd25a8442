import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';

export interface Watch {
  close(): void;
}

/**
 * Calls `onChange` soon after anything happens in the folders of the given files, and every
 * `pollMs` as a fallback (network file systems and some container mounts send no events).
 * Editors save by renaming and Kubernetes swaps a `..data` symlink, so events are taken for
 * the whole folder and the consumer decides by re-reading whether its file really changed.
 */
export function watchFiles(paths: readonly string[], onChange: () => void, { debounceMs = 100, pollMs = 2000 } = {}): Watch {
  let timer: NodeJS.Timeout | undefined;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const watchers: FSWatcher[] = [];
  for (const folder of new Set(paths.map((path) => dirname(path)))) {
    try {
      const watcher = watch(folder, { persistent: false }, soon);
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
