import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { exitWithParent, toParent, type ServerCommand, type ServerReport } from './protocol.js';

export interface ControlledServer {
  port: number;
  startMs: number;
  stop(): Promise<void>;
  reload?(text: string): Promise<Extract<ServerReport, { type: 'reloaded' }>>;
}

/**
 * The child side of a server under test: reports readiness, answers CPU/RSS samples (the parent
 * takes one at each end of a measuring window) and stops on request, reporting its peak RSS.
 */
export function serveControl(server: ControlledServer): void {
  exitWithParent();
  process.on('message', (command: ServerCommand) => {
    switch (command.type) {
      case 'sample': {
        const cpu = process.cpuUsage();
        void toParent({ type: 'sample', cpuUs: cpu.user + cpu.system, atMs: performance.now(), maxRssKb: maxRssKb() });
        return;
      }
      case 'reload':
        if (!server.reload) throw new Error('this server cannot reload');
        void server.reload(command.text).then((report) => toParent(report));
        return;
      case 'profile-start':
        void startProfiling().then(() => toParent({ type: 'profiling' }));
        return;
      case 'profile-stop':
        void stopProfiling(command.path).then(() => toParent({ type: 'profiled' }));
        return;
      case 'stop':
        void server
          .stop()
          .then(() => toParent({ type: 'stopped', maxRssKb: maxRssKb() }))
          .then(() => process.disconnect()); // which ends the process: see exitWithParent
        return;
    }
  });
  void toParent({ type: 'ready', port: server.port, startMs: server.startMs, rssKb: process.memoryUsage.rss() / 1024 });
}

function maxRssKb(): number {
  return process.resourceUsage().maxRSS;
}

/** Profiling from inside, on request, covers only the measuring window: not start-up, not the warm-up. */
const inspector = new Session();

async function startProfiling(): Promise<void> {
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.start');
}

async function stopProfiling(path: string): Promise<void> {
  const { profile } = await inspector.post('Profiler.stop');
  inspector.disconnect();
  await writeFile(path, JSON.stringify(profile));
}
