import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../src/config/load.js';

const configFile = (name: string) => fileURLToPath(new URL(`../../config/${name}`, import.meta.url));
const README = fileURLToPath(new URL('../../README.md', import.meta.url));

test('config/example.yaml runs locally as it is: self-signed, unprivileged ports, state beside the checkout', async () => {
  const loaded = await loadConfigFile(configFile('example.yaml'));
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
  assert.equal(loaded.config.tls.source, 'self-signed');
  assert.deepEqual(loaded.config.listen, { address: '::', https: 8443, http: 8080 });
  assert.equal(loaded.config.stateDir, fileURLToPath(new URL('../../.local-state', import.meta.url)));
});

test('config/production.yaml is what the container expects: ACME staging, ports 443/80, the image volume', async () => {
  const loaded = await loadConfigFile(configFile('production.yaml'));
  assert.ok(loaded.ok, loaded.ok ? '' : loaded.errors.join('\n'));
  assert.deepEqual(loaded.warnings, []);
  const { config } = loaded;
  assert.equal(config.tls.source, 'acme');
  assert.equal(config.tls.source === 'acme' && config.tls.acme.directory, 'letsencrypt-staging');
  assert.deepEqual(config.listen, { address: '::', https: 443, http: 80 });
  assert.equal(config.stateDir, '/var/lib/mta-sts');
  assert.equal(config.admin.address, '127.0.0.1');
  assert.deepEqual(
    config.domains.map((domain) => domain.policy.mode),
    ['testing'],
  );
});

test('the README runs the container with the config folder mounted, started from production.yaml', async () => {
  const readme = await readFile(README, 'utf8');
  const runs = readme.match(/docker run -d [^`]*?mta-sts-server\n/g) ?? [];
  assert.ok(runs.length > 0, 'no docker run -d line in the README');
  for (const run of runs) {
    assert.match(run, /-v \/srv\/mta-sts:\/etc\/mta-sts:ro/);
    assert.doesNotMatch(run, /\.yaml:\/etc\/mta-sts/, 'a single-file bind mount keeps the old inode after an edit');
  }
  assert.match(readme, /\/app\/config\/production\.yaml > \/srv\/mta-sts\/mta-sts\.yaml/);
});
