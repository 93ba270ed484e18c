import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PHILIPS_PET_CREATOR, readPhilipsPetFactors } from '../../../src/dicom/philips-pet-private.js';

test('the Philips PET block is the lowest one its creator reserved, whatever else group 7053 holds', () => {
  const factors = readPhilipsPetFactors({
    '00100010': { vr: 'PN', Value: ['DOE^JANE'] },
    '70530010': { vr: 'LO', Value: ['ANOTHER VENDOR'] },
    '70531009': { vr: 'DS', Value: ['7'] },
    '70530012': { vr: 'LO', Value: [PHILIPS_PET_CREATOR] },
    '70531209': { vr: 'DS', Value: ['3'] },
    '70530011': { vr: 'UN', Value: [Buffer.from(`${PHILIPS_PET_CREATOR} `, 'latin1')] },
    '70531109': { vr: 'DS', Value: ['2.5'] },
    '70531100': { vr: 'DS', Value: ['0.001'] },
  });
  assert.deepEqual(factors, { block: 0x11, activityConcentrationElement: '(7053,1109)', activityConcentrationFactor: 2.5, suvFactor: 0.001 });
});

test('a header without the Philips PET creator has no Philips factors, even with group 7053 elements', () => {
  assert.equal(readPhilipsPetFactors({ '70530010': { vr: 'LO', Value: ['ANOTHER VENDOR'] }, '70531009': { vr: 'DS', Value: ['7'] } }), undefined);
});
