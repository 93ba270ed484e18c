import { randomUUID } from 'node:crypto';

/**
 * New DICOM UIDs under the 2.25 root (ITU-T X.667): "2.25." followed by a random UUID written as
 * one decimal integer. Needs no registered organisation root and stays within 64 characters.
 */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString(10)}`;
}
