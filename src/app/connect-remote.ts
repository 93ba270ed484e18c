import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ApplianceParts, Service } from '../runner/appliance-parts.js';
import type { Logger } from '../log/logger.js';
import type { LoadedConfig } from '../config/load.js';
import { RemoteClient } from '../remote/client.js';
import { startReferenceService, type ReferenceService } from '../reference-service/reference-service.js';
import { TEMPORARY_NAME } from '../remote/zip-pack.js';
import { localApiAgent } from '../api/local-access.js';

export interface RemoteConnection {
  client: RemoteClient;
  /** The embedded reference service when `remote.url: embedded` (stopped with the appliance). */
  services: Service[];
  embedded?: ReferenceService;
  /** When the embedded service started: it knows nothing uploaded before (a restart loses its work). */
  embeddedSince?: number;
}

/**
 * The remote processing service as the stages see it: a RemoteClient. With `remote.url: embedded`
 * the reference service is started inside the appliance on loopback, reading uploads from
 * share.outbox and writing results to share.inbox exactly as a remote peer would, with every licence
 * active; it calls back with api.callback_token (over HTTPS trusting exactly api.tls.cert_file).
 */
export async function connectRemote(parts: Pick<ApplianceParts, 'config' | 'log'>): Promise<RemoteConnection> {
  const { config, log } = parts;
  const clientFor = (baseUrl: string) => new RemoteClient({
    baseUrl, token: config.remote.token, clientId: config.remote.client_id, caFile: config.remote.ca_file,
  });
  // Half-copied uploads of a run that died: only this appliance writes to the outbox.
  await removeLeftovers(config.share.outbox, log);
  if (config.remote.url !== 'embedded') return { client: clientFor(config.remote.url), services: [] };

  // Embedded, the share folders are local: make them. (A real share is a mount the operator provides;
  // creating a folder there would hide a missing mount.) A failure is reported by the uploader's retries.
  for (const dir of [config.share.outbox, config.share.inbox]) {
    await mkdir(dir, { recursive: true }).catch((err: Error) => log.warn(`cannot create share folder ${dir}: ${err.message}`));
  }
  // Embedded, the results folder is written by this process too.
  await removeLeftovers(config.share.inbox, log);
  const embedded = await startReferenceService({
    host: '127.0.0.1', port: 0, token: config.remote.token, callbackToken: config.api.callback_token, callbackAgent: localApiAgent(config),
    outboxDir: config.share.outbox, inboxDir: config.share.inbox, licences: { active: true },
    logger: log.child({ stage: 'reference' }),
  });
  return {
    client: clientFor(embedded.url),
    services: [{ name: 'embedded reference service', stop: () => embedded.close() }],
    embedded,
    embeddedSince: Date.now(),
  };
}

/**
 * Where the remote service calls back: api.public_url when set (the address the service can reach
 * over the VPN), else the running API server's own address.
 */
export function callbackUrlFor(config: Pick<LoadedConfig, 'api'>, apiUrl: string): string {
  return `${(config.api.public_url ?? apiUrl).replace(/\/+$/, '')}/process_ready`;
}

/** Remove temporary files (temporaryNameFor) a killed run left in a share folder. */
async function removeLeftovers(dir: string, log: Logger): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => TEMPORARY_NAME.test(n))) {
    await rm(path.join(dir, name), { force: true });
    log.warn(`removed ${name}, a half-written file left in ${dir} by the last run`);
  }
}
