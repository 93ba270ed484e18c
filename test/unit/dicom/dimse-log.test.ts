import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { routeDimseLog } from '../../../src/dicom/dimse-log.js';
import { silentLogger } from '../../../src/log/logger.js';

const dimse = createRequire(import.meta.url)('dcmjs-dimse') as typeof import('dcmjs-dimse');

test('with its log routed, dcmjs-dimse describes an association in one line, not one per presentation context', () => {
  routeDimseLog(silentLogger);
  const association = new dimse.association.Association('STORESCU', 'PETSPOOL');
  // storescu proposes 128 presentation contexts; dcmjs-dimse would name each in its log lines.
  for (const sopClass of Object.values(dimse.constants.StorageClass).slice(0, 40)) {
    const id = association.addPresentationContext(sopClass as string);
    association.addTransferSyntaxToPresentationContext(id, '1.2.840.10008.1.2.1');
  }
  association.getPresentationContext(1).setResult(dimse.constants.PresentationContextResult.Accept, '1.2.840.10008.1.2.1');
  const description = association.toString();
  assert.doesNotMatch(description, /\n/);
  assert.match(description, /^STORESCU -> PETSPOOL, 40 presentation contexts \(1 accepted\), max PDU \d+$/);
});
