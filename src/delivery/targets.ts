import type { DestinationConfig } from '../config/schema.js';
import type { PeerTls } from '../dicom/scu.js';

/** Where one copy of the outputs goes. */
export interface DeliveryTarget {
  /** Stable key in the delivery journal: the destination name, or "<name>/mirror" for its mirror copy. */
  key: string;
  calledAeTitle: string;
  host: string;
  port: number;
  /** DICOM TLS settings of the destination (its mirror copy goes to the same host and port, so uses them too). */
  tls?: PeerTls;
}

/**
 * The targets for a task from `sender` ("ae:<AE>" or "hotfolder"). A mirror destination also sends
 * to the original sender's AE title at the destination's host and port; a hot-folder task has no
 * sending AE, so its mirror copies are skipped and `mirrorSkipped` says so.
 */
export function deliveryTargets(destinations: readonly DestinationConfig[], sender: string): { targets: DeliveryTarget[]; mirrorSkipped?: string } {
  const targets: DeliveryTarget[] = [];
  const senderAe = sender.startsWith('ae:') ? sender.slice(3) : undefined;
  let mirrorSkipped: string | undefined;
  for (const d of destinations) {
    const tls = d.tls && { caFile: d.tls.ca_file, certFile: d.tls.cert_file, keyFile: d.tls.key_file, where: `destinations[${d.name}].tls` };
    const address = { host: d.host, port: d.port, ...(tls && { tls }) };
    targets.push({ key: d.name, calledAeTitle: d.ae_title, ...address });
    if (!d.mirror) continue;
    if (senderAe) targets.push({ key: `${d.name}/mirror`, calledAeTitle: senderAe, ...address });
    else mirrorSkipped = `mirror of ${destinations.filter((x) => x.mirror).map((x) => x.name).join(', ')} skipped: the task came from the hot folder, not from a DICOM sender`;
  }
  return { targets, mirrorSkipped };
}
