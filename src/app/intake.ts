import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { startStoreScp, type StoreScpStats, type StoredInstance } from '../dicom/scp.js';
import { CollectingIndex } from '../stages/collecting-index.js';
import { Receiver } from '../stages/receiver.js';
import { startHotFolder } from '../stages/hot-folder.js';
import { ZipIntake, zipLimits } from '../stages/zip-intake.js';
import { compilatorStage } from '../stages/compilator.js';
import type { Stage } from '../runner/stage.js';
import type { PackAhead } from '../stages/pack-ahead.js';
import type { ApplianceParts, Service } from '../runner/appliance-parts.js';

/** How often received/ is swept for instances whose hand-over to the receiver failed. */
const RECEIVED_SWEEP_MS = 60_000;

export interface Intake {
  stages: Stage[];
  services: Service[];
  receiver: Receiver;
  /** The Store SCP's plain port (0 when dicom.plain is false). */
  scpPort: number;
  /** Its DICOM TLS port, when dicom.tls is set. */
  scpTlsPort?: number;
  /** The Store SCP's counters (metrics). */
  scpStats(): StoreScpStats;
  /** Resolves when the hot folder has nothing queued (tests, submit). */
  hotFolderIdle(): Promise<void>;
}

/**
 * The front door: the collecting index rebuilt from disk, the receiver, the Store SCP (it first
 * restores what its intake journal holds), instances left in received/ by the last run, the hot
 * folder, and the compilator that closes complete series (and hands quiet ones to `packAhead`).
 */
export async function startIntake(parts: ApplianceParts, packAhead?: PackAhead): Promise<Intake> {
  const { config, spool, store, log } = parts;
  const index = await CollectingIndex.rebuild(spool, log);
  // The compilator times its looks at a task from its first one: the quiet wait, the pack ahead half-way.
  const receiver = new Receiver(spool, store, index, config.compilator, log, () => parts.runner.nudge('compilator'));
  const receivedDir = spool.layout.folder('received');
  const inFlight = new Set<string>();

  const hand = (file: string, stored?: StoredInstance) => {
    if (inFlight.has(file)) return;
    inFlight.add(file);
    const sender = `ae:${path.basename(path.dirname(file))}`;
    const work = !stored ? receiver.receiveFile(file, sender)
      : stored.header ? receiver.receive(file, stored.header, sender, stored.pixelProblem)
        : receiver.receiveUnreadable(file, sender, stored.unreadable);
    void work.catch((err: Error) => log.error(`could not take ${path.relative(spool.root, file)}: ${err.message}; retried within a minute`,
      { stage: 'receiver' })).finally(() => inFlight.delete(file));
  };
  const tls = config.dicom.tls;
  // Started before the first sweep: it restores into received/ what its journal still holds.
  const scp = await startStoreScp({
    host: config.dicom.host, port: config.dicom.port, plain: config.dicom.plain, aeTitle: config.ae_title,
    tls: tls && {
      port: tls.port, certFile: tls.cert_file, keyFile: tls.key_file, caFile: tls.ca_file, requireClientCertificate: tls.require_client_certificate,
    },
    allowedCallingAeTitles: config.dicom.allowed_calling_ae_titles, maxAssociations: config.dicom.max_associations,
    minFreeMb: config.dicom.min_free_mb, receivedDir, logger: log.child({ stage: 'scp' }),
    onStored: (instance) => hand(instance.path, instance),
  });
  const sweepReceived = async () => {
    for (const ae of await readdir(receivedDir, { withFileTypes: true })) {
      if (!ae.isDirectory() || ae.name.startsWith('.')) continue;
      const dir = path.join(receivedDir, ae.name);
      for (const name of (await readdir(dir)).filter((n) => n.endsWith('.dcm') && !n.startsWith('.')).sort()) {
        const file = path.join(dir, name);
        // The SCP hands its instances on itself, once their files are durable.
        if (!scp.isHandingOn(file)) hand(file);
      }
    }
  };
  await sweepReceived();
  const sweep = setInterval(() => void sweepReceived().catch(() => undefined), RECEIVED_SWEEP_MS);
  sweep.unref();

  const zips = new ZipIntake(spool, receiver, zipLimits(config.zip_intake), config.dicom.min_free_mb, log.child({ stage: 'hotfolder' }));
  const hotFolder = await startHotFolder({ dir: spool.layout.folder('incoming'), receiver, zips, log });
  return {
    stages: [compilatorStage(parts, index, packAhead, () => scp.handOnsPending() > 0)],
    services: [
      { name: 'Store SCP', stop: () => scp.close() },
      hotFolder,
      { name: 'received sweep', stop: async () => clearInterval(sweep) },
    ],
    receiver,
    scpPort: scp.port,
    scpTlsPort: scp.tlsPort,
    scpStats: () => scp.stats(),
    hotFolderIdle: () => hotFolder.idle(),
  };
}
