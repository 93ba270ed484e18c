/**
 * The dcmjs-dimse internals the Store SCP relies on, in one place. scp.ts reads the socket and the
 * P-DATA itself (measured faster than dcmjs-dimse's public streaming hooks, docs/decisions.md) and
 * leaves association negotiation, release and abort to dcmjs-dimse. That takes two things its
 * type declarations do not promise:
 * - its Scp constructor attaches exactly one 'data' listener to the socket, its PDU reader, which
 *   scp.ts replaces with its own;
 * - `_processPdu(pdu)` takes one whole PDU (header included) and emits associationRequested,
 *   associationReleaseRequested or abort for it.
 * package.json pins dcmjs-dimse to the exact version these were checked against, and
 * test/integration/dimse-internals.test.ts fails on a real association when either changes.
 */
import type net from 'node:net';

interface NetworkInternals {
  _processPdu(pdu: Buffer): Promise<void>;
}

/** Throws, naming what changed, when the installed dcmjs-dimse lacks what this file relies on. */
export function assertDimseInternals(scpClass: { prototype: object }, version: string): void {
  const processPdu = (scpClass.prototype as Partial<NetworkInternals>)._processPdu;
  if (typeof processPdu !== 'function' || processPdu.length !== 1) {
    throw new Error(`dcmjs-dimse ${version} has no _processPdu(pdu) on its Scp: the Store SCP needs the version package.json pins (see src/dicom/dimse-internals.ts)`);
  }
}

/** Removes dcmjs-dimse's own socket reader, attached by its Scp constructor, so the caller reads the socket. */
export function detachDimseReader(socket: net.Socket): void {
  socket.removeAllListeners('data');
}

/** Hands one whole PDU other than P-DATA to dcmjs-dimse (association request, release, abort). */
export function processPduInDimse(scp: object, pdu: Buffer): void {
  void (scp as NetworkInternals)._processPdu(pdu);
}
