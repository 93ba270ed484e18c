import type { DestinationConfig } from '../config/schema.js';

/** Where one copy of the outputs goes. */
export interface DeliveryTarget {
  /** Stable key in the delivery journal: the destination name, or "<name>/mirror" for its mirror copy. */
  key: string;
  calledAeTitle: string;
  host: string;
  port: number;
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
    targets.push({ key: d.name, calledAeTitle: d.ae_title, host: d.host, port: d.port });
    if (!d.mirror) continue;
    if (senderAe) targets.push({ key: `${d.name}/mirror`, calledAeTitle: senderAe, host: d.host, port: d.port });
    else mirrorSkipped = `mirror of ${destinations.filter((x) => x.mirror).map((x) => x.name).join(', ')} skipped: the task came from the hot folder, not from a DICOM sender`;
  }
  return { targets, mirrorSkipped };
}
