import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalNuclide, checkNewEntry, checkNuclide, matchRadiopharmaceutical, mergeRadiopharmaceuticals, NUCLIDES,
  SEED_RADIOPHARMACEUTICALS as SEED, type RadiopharmaceuticalEntry,
} from '../../../src/rules/radiopharmaceuticals.js';

const byName = (name: string) => matchRadiopharmaceutical({ name }, SEED)?.id;

test('seed covers the common PET tracers, each with a known nuclide and its half-life', () => {
  const ids = SEED.map((entry) => entry.id);
  for (const id of ['fdg', 'psma-11', 'psma-1007', 'dcfpyl', 'ga68-dotatate', 'ga68-dotatoc', 'ga68-dotanoc', 'flt',
    'fes', 'fluorocholine', 'choline-c11', 'naf', 'florbetapir', 'florbetaben', 'flutemetamol', 'fdopa',
    'fluciclovine', 'rb82', 'n13-ammonia', 'o15-water', 'fet', 'cu64-dotatate', 'ga68-fapi']) {
    assert.ok(ids.includes(id), id);
  }
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  for (const entry of SEED) {
    assert.equal(entry.halfLifeSeconds, NUCLIDES[entry.nuclide]?.halfLifeSeconds, entry.id);
  }
});

test('seed is self-consistent: every name matches its own entry and no entry clashes with another', () => {
  for (const entry of SEED) {
    for (const name of [entry.name, ...entry.synonyms]) assert.equal(byName(name), entry.id, `"${name}"`);
    assert.deepEqual(checkNewEntry(entry, SEED), [], entry.id);
  }
});

const names: [string, string | undefined][] = [
  ['Fluorodeoxyglucose', 'fdg'],
  ['FLUORODEOXYGLUCOSE', 'fdg'],
  ['18F-FDG', 'fdg'],
  ['FDG -- fluorodeoxyglucose', 'fdg'],
  ['F-18 FDG', 'fdg'],
  ['^18^F-FDG', 'fdg'],
  ['[18F]FDG', 'fdg'],
  ['Fludeoxyglucose F 18', 'fdg'],
  ['Fluorodeoxyglucose F^18^', 'fdg'],
  ['fluorine-18 FDG', 'fdg'],
  ['Ga-68 FDG', undefined],
  ['68Ga-PSMA-11', 'psma-11'],
  ['Gallium Ga 68 gozetotide', 'psma-11'],
  ['[18F]PSMA-1007', 'psma-1007'],
  ['PSMA', undefined],
  ['Piflufolastat F 18', 'dcfpyl'],
  ['18F-DCFPyL', 'dcfpyl'],
  ['68Ga-DOTA-TATE', 'ga68-dotatate'],
  ['DOTATATE', 'ga68-dotatate'],
  ['Cu-64 DOTATATE', 'cu64-dotatate'],
  ['Copper Cu 64 dotatate', 'cu64-dotatate'],
  ['F-18 DOTATATE', undefined],
  ['Ga68-DOTATOC', 'ga68-dotatoc'],
  ['68Ga-DOTANOC', 'ga68-dotanoc'],
  ["3'-deoxy-3'-[18F]fluorothymidine", 'flt'],
  ['18F-FES', 'fes'],
  ['Fluoroestradiol (FES) F^18^', 'fes'],
  ['Choline', 'choline-c11'],
  ['11C-Choline', 'choline-c11'],
  ['18F-Choline', 'fluorocholine'],
  ['F-18 fluorocholine', 'fluorocholine'],
  ['Na18F', undefined],
  ['18F-NaF', 'naf'],
  ['18F-sodium fluoride', 'naf'],
  ['AV-45', 'florbetapir'],
  ['Neuraceq', 'florbetaben'],
  ['[18F]Flutemetamol', 'flutemetamol'],
  ['6-[18F]fluoro-L-DOPA', 'fdopa'],
  ['18F-FDOPA', 'fdopa'],
  ['anti-3-[18F]FACBC', 'fluciclovine'],
  ['Rb-82', 'rb82'],
  ['Rubidium-82 chloride', 'rb82'],
  ['13N-Ammonia', 'n13-ammonia'],
  ['[15O]H2O', 'o15-water'],
  ['O-15 water', 'o15-water'],
  ['O-(2-[18F]fluoroethyl)-L-tyrosine', 'fet'],
  ['18F-FET', 'fet'],
  ['[68Ga]Ga-FAPI-46', 'ga68-fapi'],
  ['[68Ga]Ga-PSMA-11', 'psma-11'],
  ['[64Cu]Cu-DOTATATE', 'cu64-dotatate'],
  ['Gallium-68', undefined],
  ['18F-FAPI-74', undefined],
  ['XYZ-123', undefined],
  ['F-18', undefined],
  ['', undefined],
];

for (const [name, expected] of names) {
  test(`tracer by name: "${name}" -> ${expected ?? 'unknown'}`, () => assert.equal(byName(name), expected));
}

const codes: [string, { scheme: string; value: string }, string | undefined][] = [
  ['FDG, SRT', { scheme: 'SRT', value: 'C-B1031' }, 'fdg'],
  ['FDG, SCT', { scheme: 'SCT', value: '35321007' }, 'fdg'],
  ['FDG, SNOMED-CT spelled out', { scheme: 'SNOMED-CT', value: '35321007' }, 'fdg'],
  ['FDG, SRT value labelled SCT by the writer', { scheme: 'SCT', value: 'c-b1031 ' }, 'fdg'],
  ['FDG value under an unrelated scheme', { scheme: 'DCM', value: 'C-B1031' }, undefined],
  ['PSMA-11, NCIt', { scheme: 'NCIt', value: 'C118961' }, 'psma-11'],
  ['PSMA-1007, DCM', { scheme: 'DCM', value: '126758' }, 'psma-1007'],
  ['DOTATATE, SCT', { scheme: 'SCT', value: '724025002' }, 'ga68-dotatate'],
  ['FES, SCT', { scheme: 'SCT', value: '926372005' }, 'fes'],
  ['Rb-82, SRT', { scheme: 'SRT', value: 'C-B1037' }, 'rb82'],
  ['unknown code', { scheme: 'SCT', value: '1' }, undefined],
];

for (const [label, code, expected] of codes) {
  test(`tracer by code: ${label}`, () => assert.equal(matchRadiopharmaceutical({ code }, SEED)?.id, expected));
}

test('the code wins over the name, and the code meaning is the last resort', () => {
  assert.equal(matchRadiopharmaceutical({ name: 'Choline', code: { scheme: 'SCT', value: '35321007' } }, SEED)?.id, 'fdg');
  assert.equal(matchRadiopharmaceutical({ name: 'XYZ', code: { scheme: '99LOCAL', value: 'X1', meaning: 'Fluorocholine F^18^' } }, SEED)?.id, 'fluorocholine');
  assert.equal(matchRadiopharmaceutical({}, SEED), undefined);
});

const psma617: RadiopharmaceuticalEntry = {
  id: 'psma-617', name: 'PSMA-617', synonyms: ['Vipivotide tetraxetan Ga-68'], codes: [{ scheme: 'DCM', value: '126759' }],
  nuclide: 'Ga-68', halfLifeSeconds: 4062.6,
};

test('operator-added entries extend the table and replace a seed entry with the same id', () => {
  const ownFdg = { ...SEED[0], synonyms: [...SEED[0].synonyms, 'Glucose tracer'] };
  const table = mergeRadiopharmaceuticals(SEED, [psma617, ownFdg]);
  assert.equal(table.length, SEED.length + 1);
  assert.equal(matchRadiopharmaceutical({ name: '68Ga-PSMA-617' }, table)?.id, 'psma-617');
  assert.equal(matchRadiopharmaceutical({ name: 'glucose tracer' }, table)?.id, 'fdg');
  assert.equal(matchRadiopharmaceutical({ name: '68Ga-PSMA-617' }, SEED), undefined, 'the seed itself is untouched');
});

test('checkNewEntry names what is wrong with an entry to add', () => {
  assert.deepEqual(checkNewEntry(psma617, SEED), []);
  assert.deepEqual(checkNewEntry({ ...psma617, id: 'bad id!', name: ' ', halfLifeSeconds: 0 }, SEED), [
    'id must be 1-64 letters, digits, ., _ or -',
    'name must not be empty',
    'half-life must be a number of seconds > 0',
    'half-life 0 s does not fit Ga-68 (4062.6 s)',
  ]);
  assert.deepEqual(checkNewEntry({ ...psma617, synonyms: ['F-18 PSMA-617', 'Gozetotide'], codes: [{ scheme: 'SCT', value: '35321007' }] }, SEED), [
    '"F-18 PSMA-617" names F-18, not Ga-68',
    '"Gozetotide" already names PSMA-11',
    'code SCT 35321007 already belongs to FDG',
  ]);
});

test('nuclide sanity check: half-life within a few % and the nuclide code', () => {
  const fdg = SEED[0];
  assert.deepEqual(checkNuclide({ halfLife: 6588 }, fdg), []);
  assert.deepEqual(checkNuclide({ halfLife: 6586.2 * 1.04 }, fdg), []);
  assert.deepEqual(checkNuclide({ halfLife: 1223 }, fdg), ['RadionuclideHalfLife 1223 s does not fit FDG (F-18, 6586.2 s)']);
  assert.deepEqual(checkNuclide({ halfLife: 6586.2 * 1.04 }, fdg, 0.01).length, 1);
  assert.deepEqual(checkNuclide({ nuclideCode: { scheme: 'SRT', value: 'C-111A1' } }, fdg), []);
  assert.deepEqual(checkNuclide({ nuclideCode: { scheme: 'SCT', value: '40565003' } }, fdg), ['RadionuclideCodeSequence says C-11, but FDG is F-18']);
  assert.deepEqual(checkNuclide({ nuclideCode: { scheme: 'SCT', value: '12345' } }, fdg), [], 'an unknown nuclide code says nothing');
  assert.deepEqual(checkNuclide({}, fdg), []);
});

test('canonicalNuclide reads the usual spellings', () => {
  for (const spelling of ['F-18', '18F', 'F18', '^18^F', 'fluorine-18', '[18F]']) assert.equal(canonicalNuclide(spelling), 'F-18', spelling);
  assert.equal(canonicalNuclide('68Ga'), 'Ga-68');
  assert.equal(canonicalNuclide(' Sc-44 '), 'Sc-44');
});
