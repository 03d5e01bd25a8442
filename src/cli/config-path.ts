/** `--config PATH`, else `MTA_STS_CONFIG`, else the default path next to the working directory. */
const DEFAULT_CONFIG_PATH = 'config/mta-sts.yaml';

export function configPathFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.MTA_STS_CONFIG ?? DEFAULT_CONFIG_PATH;
}
