import type { ChildProcess } from 'node:child_process';

const running = new Set<ChildProcess>();

function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

process.once('exit', killAll);
// A test runner that times out a whole file (Node 20) sends it SIGTERM, which skips 'exit' handlers.
process.once('SIGTERM', () => {
  killAll();
  // Unless someone else handles it, end the way SIGTERM would have.
  if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
});

/**
 * Makes a long-running child (a service, say) end with this test process, however that ends: a
 * test that times out is not there to stop it, and it would go on holding its ports and files.
 */
export function endsWithThisProcess<Child extends ChildProcess>(child: Child): Child {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}
