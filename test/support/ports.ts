import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

/** Where Linux's ephemeral range starts by default; macOS and the BSDs start theirs higher, at 49152. */
const USUAL_EPHEMERAL_LOW = 32_768;
const LOWEST_TEST_PORT = 10_000;

/**
 * Free ports for listeners that must be named before they start (pebble's, the service's port 80).
 * They come from below the kernel's ephemeral range: a port taken from that range and released
 * could be handed to the next listen(0) in the meantime, say the service's own HTTPS listener,
 * which then holds the port the test meant for something else.
 */
export async function freePorts(count: number): Promise<number[]> {
  const below = await ephemeralLow();
  const ports = new Set<number>();
  while (ports.size < count) {
    const port = LOWEST_TEST_PORT + Math.floor(Math.random() * (below - LOWEST_TEST_PORT));
    if (!ports.has(port) && (await canListen(port))) ports.add(port);
  }
  return [...ports];
}

/** Linux tells where its range starts; other systems (no /proc) get the usual start, below theirs. */
async function ephemeralLow(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const low = Number(range.split(/\s+/)[0]);
  return Number.isInteger(low) && low > LOWEST_TEST_PORT + 1_000 ? low : USUAL_EPHEMERAL_LOW;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
