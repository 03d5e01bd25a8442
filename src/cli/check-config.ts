import { readFile } from 'node:fs';
import { promisify } from 'node:util';
import { loadConfigFile } from '../config/load.js';

/** Validates the config (and the certificate and provider files it names); exit code 0 when usable, 2 otherwise. */
export async function checkConfig(path: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const loaded = await loadConfigFile(path, process.env);
  if (!loaded.ok) {
    for (const error of loaded.errors) err.write(`${error}\n`);
    err.write(`${path}: ${loaded.errors.length} problem${loaded.errors.length === 1 ? '' : 's'}; nothing was changed\n`);
    return 2;
  }
  for (const warning of loaded.warnings) err.write(`warning: ${warning}\n`);
  const { config } = loaded;
  if (config.providersFile !== undefined) {
    // As `serve` reads them: the shipped list with the user's file over it, each file checked on its own first.
    const { ProviderClassifier, SHIPPED_PROVIDERS_FILE } = await import('../fetches/providers.js');
    const problems = await ProviderClassifier.fromFiles([SHIPPED_PROVIDERS_FILE, config.providersFile]).then(
      () => [],
      (error: Error) => error.message.split('\n'),
    );
    for (const problem of problems) err.write(`${problem}\n`);
    if (problems.length > 0) return 2;
  }
  if (config.tls.source === 'files') {
    // Imported only here: reading certificates loads node:tls and node:crypto, a third of Node's own start-up.
    const { CertificateFiles } = await import('../tls/certificate-files.js');
    const { errors } = await new CertificateFiles(config.tls.certificates).reload();
    for (const error of errors) err.write(`${error}\n`);
    if (errors.length > 0) return 2;
  }
  if (config.tls.source === 'acme' && config.tls.acme.ca_bundle) {
    const bundle = config.tls.acme.ca_bundle;
    // node:fs's callback, as the config itself is read (src/config/yaml-document.ts): node:fs/promises costs start-up.
    const readable = await promisify(readFile)(bundle, 'utf8').then(
      (text) => text.includes('-----BEGIN CERTIFICATE-----'),
      () => false,
    );
    if (!readable) {
      err.write(`${bundle}: tls.acme.ca_bundle is not a readable PEM file of CA certificates\n`);
      return 2;
    }
  }
  out.write(`${path}: ok, ${config.domains.length} domain${config.domains.length === 1 ? '' : 's'}\n`);
  return 0;
}
