/**
 * How a program on the appliance machine reaches this appliance's own API: the CLI, `petspool
 * submit` to the local appliance, and the embedded reference service's callback. Under HTTPS the
 * certificate of api.tls.cert_file is pinned (util/pinned-tls-agent.ts).
 */
import type http from 'node:http';
import { readFileSync } from 'node:fs';
import { ConfigError, type LoadedConfig } from '../config/load.js';
import { PinnedCertificateAgent } from '../util/pinned-tls-agent.js';

/** The API's base URL from this machine (a wildcard listen address is reached on loopback). */
export function localApiUrl(config: Pick<LoadedConfig, 'api'>): string {
  const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return `${config.api.tls ? 'https' : 'http'}://${hostPart}:${config.api.port}`;
}

/** The agent for this machine's own API: the configured certificate pinned under HTTPS, none under HTTP. */
export function localApiAgent(config: Pick<LoadedConfig, 'api' | 'configPath'>): http.Agent | undefined {
  const certFile = config.api.tls?.cert_file;
  if (!certFile) return undefined;
  try {
    return new PinnedCertificateAgent(readFileSync(certFile));
  } catch (err) {
    throw new ConfigError(config.configPath, [`api.tls.cert_file: cannot read ${certFile} as a PEM certificate (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
}
