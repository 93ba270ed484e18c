/**
 * Known PET radiopharmaceuticals and how a series' RadiopharmaceuticalInformationSequence is matched
 * against them. The validator refuses a series whose tracer is not in the table; operators extend
 * the table (`petspool radiopharmaceuticals add`, stored in the database) with entries of the same
 * shape as the seed below.
 *
 * Matching, in this order:
 *  1. by code (RadiopharmaceuticalCodeSequence): equal value within the same coding-scheme family
 *     (SRT, SCT, SNM3 and "SNOMED..." spellings are one family: the SNOMED-RT style "C-B1031" and the
 *     SNOMED CT id "35321007" cannot collide, and writers label them inconsistently);
 *  2. by Radiopharmaceutical (0018,0031) against names and synonyms;
 *  3. by the code meaning against names and synonyms.
 * Names compare case-, accent- and punctuation-insensitively after taking out the nuclide
 * ("18F-FDG", "F-18 FDG", "^18^F-FDG", "[18F]FDG", "Fludeoxyglucose F 18" all become "fdg"/
 * "fludeoxyglucose" plus F-18). A nuclide in the name must agree with the entry's nuclide, which also
 * separates "11C-choline" from "18F-choline" and "68Ga-DOTATATE" from "64Cu-DOTATATE".
 * A name that fits several entries matches none (ambiguity is reported as unknown, never guessed).
 */
import type { RadiopharmaceuticalInfo } from '../dicom/instance-header.js';

export interface CodedConcept {
  /** Coding scheme designator as in DICOM: SCT, SRT, DCM, NCIt, UMLS... */
  scheme: string;
  value: string;
}

export interface RadiopharmaceuticalEntry {
  /** Stable key, e.g. "fdg" */
  id: string;
  /** Short name shown to operators, e.g. "FDG" */
  name: string;
  synonyms: string[];
  /** Codes as DICOM CID 4021 "PET Radiopharmaceutical" uses them (old SRT and current SCT where both exist). */
  codes: CodedConcept[];
  /** "F-18", "Ga-68", ... */
  nuclide: string;
  halfLifeSeconds: number;
}

interface NuclideFacts {
  symbol: string;
  element: string;
  mass: number;
  halfLifeSeconds: number;
  /** Codes of DICOM CID 4020 "PET Radionuclide" (only those verified) */
  codes: CodedConcept[];
}

/** Physical half-lives (NNDC evaluated values). Keyed by the canonical "Symbol-Mass" spelling. */
export const NUCLIDES: Readonly<Record<string, NuclideFacts>> = {
  'F-18': { symbol: 'F', element: 'fluorine', mass: 18, halfLifeSeconds: 6586.2, codes: [{ scheme: 'SRT', value: 'C-111A1' }, { scheme: 'SCT', value: '77004003' }] },
  'Ga-68': { symbol: 'Ga', element: 'gallium', mass: 68, halfLifeSeconds: 4062.6, codes: [{ scheme: 'SRT', value: 'C-131A3' }, { scheme: 'SCT', value: '35337001' }] },
  'C-11': { symbol: 'C', element: 'carbon', mass: 11, halfLifeSeconds: 1221.8, codes: [{ scheme: 'SRT', value: 'C-105A1' }, { scheme: 'SCT', value: '40565003' }] },
  'N-13': { symbol: 'N', element: 'nitrogen', mass: 13, halfLifeSeconds: 597.9, codes: [{ scheme: 'SRT', value: 'C-107A1' }, { scheme: 'SCT', value: '21576001' }] },
  'O-15': { symbol: 'O', element: 'oxygen', mass: 15, halfLifeSeconds: 122.24, codes: [] },
  'Rb-82': { symbol: 'Rb', element: 'rubidium', mass: 82, halfLifeSeconds: 75.45, codes: [{ scheme: 'SRT', value: 'C-159A2' }, { scheme: 'SCT', value: '79197006' }] },
  'Cu-64': { symbol: 'Cu', element: 'copper', mass: 64, halfLifeSeconds: 45723.6, codes: [{ scheme: 'SRT', value: 'C-127A2' }, { scheme: 'SCT', value: '3932008' }] },
  'Zr-89': { symbol: 'Zr', element: 'zirconium', mass: 89, halfLifeSeconds: 282276, codes: [{ scheme: 'SCT', value: '63360001' }] },
  'I-124': { symbol: 'I', element: 'iodine', mass: 124, halfLifeSeconds: 360806, codes: [] },
};

/** A file's half-life may differ from the table by this fraction (scanners round, tables differ). */
export const HALF_LIFE_TOLERANCE = 0.05;

const srt = (value: string): CodedConcept => ({ scheme: 'SRT', value });
const sct = (value: string): CodedConcept => ({ scheme: 'SCT', value });
const dcm = (value: string): CodedConcept => ({ scheme: 'DCM', value });
const ncit = (value: string): CodedConcept => ({ scheme: 'NCIt', value });
const umls = (value: string): CodedConcept => ({ scheme: 'UMLS', value });

function tracer(id: string, name: string, nuclide: keyof typeof NUCLIDES, synonyms: string[], codes: CodedConcept[]): RadiopharmaceuticalEntry {
  return { id, name, synonyms, codes, nuclide, halfLifeSeconds: NUCLIDES[nuclide].halfLifeSeconds };
}

/** Codes from DICOM PS3.16 CID 4021; tracers without a code there match by name only. */
export const SEED_RADIOPHARMACEUTICALS: readonly RadiopharmaceuticalEntry[] = [
  tracer('fdg', 'FDG', 'F-18', ['Fluorodeoxyglucose', 'Fludeoxyglucose', 'Fluorodeoxyglucose F^18^',
    '2-deoxy-2-fluoro-D-glucose', '2-fluoro-2-deoxy-D-glucose'], [srt('C-B1031'), sct('35321007')]),
  tracer('psma-11', 'PSMA-11', 'Ga-68', ['Gozetotide', 'PSMA-HBED-CC', 'PSMA-11 Ga^68^', 'Illuccix', 'Locametz'],
    [ncit('C118961')]),
  tracer('psma-1007', 'PSMA-1007', 'F-18', ['PSMA-1007 F^18^', 'Radelumin'], [dcm('126758')]),
  tracer('dcfpyl', 'DCFPyL', 'F-18', ['Piflufolastat', 'Piflufolastat F^18^', 'DCFPyL F^18^', 'Pylarify'],
    [ncit('C116352')]),
  tracer('ga68-dotatate', 'DOTATATE', 'Ga-68', ['DOTA-TATE', 'Dotatate Ga^68^', 'Gallium Ga 68 dotatate',
    'tyrosine-3-octreotate Ga^68^', 'DOTA-Tyr3-octreotate', 'Netspot'], [sct('724025002'), umls('C1742831')]),
  tracer('ga68-dotatoc', 'DOTATOC', 'Ga-68', ['DOTA-TOC', 'Edotreotide', 'Edotreotide Ga^68^',
    'DOTA-Tyr3-octreotide', 'SomaKit TOC'], [umls('C2713594')]),
  tracer('ga68-dotanoc', 'DOTANOC', 'Ga-68', ['DOTA-NOC', 'DOTA-1-Nal3-octreotide'], []),
  tracer('flt', 'FLT', 'F-18', ['Fluorothymidine', "3'-deoxy-3'-fluorothymidine", 'Alovudine',
    'Thymidine F^18^', 'Thymidine (FLT) F^18^'], [srt('C-B1036'), sct('129502002')]),
  tracer('fes', 'FES', 'F-18', ['Fluoroestradiol', '16alpha-fluoroestradiol', 'Fluoroestradiol F^18^',
    'Fluoroestradiol (FES) F^18^', 'Cerianna'], [sct('926372005'), umls('C1831937')]),
  tracer('fluorocholine', 'Fluorocholine', 'F-18', ['FCH', 'Fluoromethylcholine', 'FMCH', '18F-choline',
    'Fluorocholine F^18^'], [srt('C-E0273'), sct('456992002')]),
  tracer('choline-c11', 'Choline C-11', 'C-11', ['Choline', 'Choline C^11^'], [dcm('126703')]),
  tracer('naf', 'NaF', 'F-18', ['Sodium fluoride', 'Fluoride', 'Sodium fluoride F^18^'],
    [srt('C-B1032'), sct('129501009')]),
  tracer('florbetapir', 'Florbetapir', 'F-18', ['Florbetapir F^18^', 'AV-45', 'Amyvid'],
    [srt('C-E0269'), sct('456995000')]),
  tracer('florbetaben', 'Florbetaben', 'F-18', ['Florbetaben F^18^', 'BAY 94-9172', 'Neuraceq'],
    [srt('C-D6858'), sct('712736002')]),
  tracer('flutemetamol', 'Flutemetamol', 'F-18', ['Flutemetamol F^18^', 'GE-067', 'Vizamyl'],
    [srt('C-E0267'), sct('456997008')]),
  tracer('fdopa', 'FDOPA', 'F-18', ['F-DOPA', 'Fluorodopa', 'Fluoro-L-dopa', '6-fluoro-L-DOPA',
    'Fluoro-L-dopa F^18^'], [srt('C-B1034'), sct('5811000122108')]),
  tracer('fluciclovine', 'Fluciclovine', 'F-18', ['Fluciclovine F^18^', 'FACBC', 'anti-3-FACBC', 'Axumin'],
    [srt('C-E026A'), sct('457000009')]),
  tracer('rb82', 'Rb-82', 'Rb-82', ['Rubidium', 'Rubidium chloride', 'Rubidium chloride Rb^82^', 'RbCl',
    'Cardiogen-82'], [srt('C-B1037'), sct('129503007')]),
  tracer('n13-ammonia', 'N-13 ammonia', 'N-13', ['Ammonia', 'Ammonia N^13^', 'NH3'],
    [srt('C-B103C'), sct('129508003')]),
  tracer('o15-water', 'O-15 water', 'O-15', ['Water', 'Oxygen-water O^15^', 'H2O'],
    [srt('C-B1039'), sct('129505000')]),
  tracer('fet', 'FET', 'F-18', ['Fluoroethyltyrosine', 'Fluorethyltyrosin', 'Fluorethyltyrosin F^18^',
    'O-(2-fluoroethyl)-L-tyrosine', 'Fluoroethyl-L-tyrosine'], [srt('C-B07E0'), sct('424708001')]),
  tracer('cu64-dotatate', 'Cu-64 DOTATATE', 'Cu-64', ['Copper Cu 64 dotatate', 'Detectnet'], []),
  tracer('ga68-fapi', 'FAPI', 'Ga-68', ['Ga-68 FAPI', 'FAPI-04', 'FAPI-46'], []),
];

/** Seed plus operator-added entries; an added entry with a seed entry's id replaces it. */
export function mergeRadiopharmaceuticals(
  seed: readonly RadiopharmaceuticalEntry[], added: readonly RadiopharmaceuticalEntry[],
): RadiopharmaceuticalEntry[] {
  const byId = new Map<string, RadiopharmaceuticalEntry>();
  for (const entry of [...seed, ...added]) byId.set(entry.id.toLowerCase(), entry);
  return [...byId.values()];
}

export function matchRadiopharmaceutical(
  info: RadiopharmaceuticalInfo, table: readonly RadiopharmaceuticalEntry[],
): RadiopharmaceuticalEntry | undefined {
  const { code } = info;
  if (code) {
    const byCode = table.find((entry) => entry.codes.some((known) => sameCode(known, code)));
    if (byCode) return byCode;
  }
  if (info.name) {
    const byName = matchByName(info.name, table);
    if (byName) return byName;
  }
  return code?.meaning ? matchByName(code.meaning, table) : undefined;
}

/** Code values compare within a scheme family, case- and blank-insensitively. */
export function sameCode(a: CodedConcept, b: CodedConcept): boolean {
  return schemeFamily(a.scheme) === schemeFamily(b.scheme)
    && a.value.trim().toUpperCase() === b.value.trim().toUpperCase();
}

function schemeFamily(scheme: string): string {
  const upper = scheme.trim().toUpperCase();
  if (upper === 'SRT' || upper === 'SCT' || upper === 'SNM3' || upper.startsWith('SNOMED')) return 'SNOMED';
  if (upper === 'NCI') return 'NCIT';
  return upper;
}

/**
 * A name split into the nuclide it mentions (if any) and the rest, lower-case letters and digits only.
 * A nuclide written with its element name may also belong to the chemical name ("Rubidium-82
 * chloride" is rubidium chloride), so such names have a second core that keeps the element word.
 */
interface ParsedName {
  cores: string[];
  nuclide?: string;
}

/** `^`, brackets and braces only decorate mass numbers ("^18^F", "[18F]"). */
const DECORATION = /[\^[\]{}]/g;

const nuclidePatterns: { nuclide: string; element: string; pattern: RegExp }[] = Object.entries(NUCLIDES).map(([nuclide, facts]) => {
  const symbol = facts.symbol.toLowerCase();
  const sep = '\\s*-?\\s*';
  const forms = [
    `${facts.element}${sep}${symbol}${sep}${facts.mass}`, // "gallium ga 68" (USAN style)
    `(?:${symbol}|${facts.element})${sep}${facts.mass}`, // "ga-68", "gallium-68", "f18"
    // "68ga", "18-fluorine", and "[68Ga]Ga-" of chelate names like "[68Ga]Ga-PSMA-11"
    `${facts.mass}${sep}(?:${symbol}|${facts.element})(?:\\s+${symbol}(?=\\s*-))?`,
  ];
  return {
    nuclide,
    element: facts.element,
    pattern: new RegExp(`(?<![a-z0-9])(?:${forms.join('|')})(?![a-z0-9])`, 'g'),
  };
});

function simplify(text: string): string {
  return text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(DECORATION, ' ');
}

function parseName(text: string): ParsedName {
  let rest = simplify(text);
  let keepingElement = rest;
  let nuclide: string | undefined;
  for (const { nuclide: candidate, element, pattern } of nuclidePatterns) {
    const stripped = rest.replace(pattern, ' ');
    if (stripped !== rest) {
      nuclide ??= candidate;
      rest = stripped;
      keepingElement = keepingElement.replace(pattern, (mention) => (mention.includes(element) ? ` ${element} ` : ' '));
    }
  }
  const cores = [...new Set([rest, keepingElement].map((name) => name.replace(/[^a-z0-9]/g, '')))]
    // A name that is only a nuclide ("Rb-82") names a tracer; an empty name without one names nothing.
    .filter((core) => core !== '' || nuclide !== undefined);
  return { cores, nuclide };
}

/** "FDG -- fluorodeoxyglucose", "Fluoroestradiol (FES)": parts that may each name the tracer. */
const PART_SEPARATORS = /-{2,}|\s-\s|[/,;|()]/;

function matchByName(text: string, table: readonly RadiopharmaceuticalEntry[]): RadiopharmaceuticalEntry | undefined {
  const whole = parseName(text);
  const found = lookUpCores(whole.cores, whole.nuclide, table);
  if (found.length > 0) return found.length === 1 ? found[0] : undefined;
  const fromParts = new Set<RadiopharmaceuticalEntry>();
  for (const part of text.split(PART_SEPARATORS)) {
    const cores = parseName(part).cores.filter((core) => core !== '');
    for (const entry of lookUpCores(cores, whole.nuclide, table)) fromParts.add(entry);
  }
  return fromParts.size === 1 ? [...fromParts][0] : undefined;
}

/**
 * Entries with a name or synonym of one of these cores. With a nuclide, only entries of that nuclide; without,
 * synonyms that mention no nuclide win over those that do ("Choline" is C-11 choline, "18F-choline"
 * is fluorocholine).
 */
function lookUpCores(cores: string[], nuclide: string | undefined, table: readonly RadiopharmaceuticalEntry[]): RadiopharmaceuticalEntry[] {
  if (cores.length === 0) return [];
  const hits: { entry: RadiopharmaceuticalEntry; namesNuclide: boolean }[] = [];
  for (const entry of table) {
    if (nuclide && canonicalNuclide(entry.nuclide) !== nuclide) continue;
    for (const name of [entry.name, ...entry.synonyms]) {
      const parsed = parseName(name);
      if (parsed.cores.some((core) => cores.includes(core))) hits.push({ entry, namesNuclide: parsed.nuclide !== undefined });
    }
  }
  const plain = hits.filter((hit) => !hit.namesNuclide);
  const chosen = !nuclide && plain.length > 0 ? plain : hits;
  return [...new Set(chosen.map((hit) => hit.entry))];
}

/** "F18", "18F", "^18^F", "fluorine-18" -> "F-18"; text that is not a known nuclide comes back trimmed. */
export function canonicalNuclide(text: string): string {
  const parsed = parseName(text);
  return parsed.nuclide && parsed.cores[0] === '' ? parsed.nuclide : text.trim();
}

/**
 * Sanity check of the file against the table: the RadionuclideHalfLife within `tolerance` of the
 * entry's, and the RadionuclideCodeSequence (when it names a nuclide we know) the entry's nuclide.
 * Returns the reasons it does not fit (empty when it does or when the file says nothing).
 */
export function checkNuclide(
  info: RadiopharmaceuticalInfo, entry: RadiopharmaceuticalEntry, tolerance = HALF_LIFE_TOLERANCE,
): string[] {
  const reasons: string[] = [];
  const { halfLife, nuclideCode } = info;
  if (halfLife !== undefined && Math.abs(halfLife - entry.halfLifeSeconds) > tolerance * entry.halfLifeSeconds) {
    reasons.push(`RadionuclideHalfLife ${halfLife} s does not fit ${entry.name} (${entry.nuclide}, ${entry.halfLifeSeconds} s)`);
  }
  if (nuclideCode) {
    const coded = Object.entries(NUCLIDES).find(([, facts]) => facts.codes.some((known) => sameCode(known, nuclideCode)));
    if (coded && coded[0] !== canonicalNuclide(entry.nuclide)) {
      reasons.push(`RadionuclideCodeSequence says ${coded[0]}, but ${entry.name} is ${entry.nuclide}`);
    }
  }
  return reasons;
}

/**
 * What is wrong with an entry an operator wants to add (empty when it can be added). An entry with the
 * id of an existing one replaces it, so that one is left out of the clash checks.
 */
export function checkNewEntry(entry: RadiopharmaceuticalEntry, table: readonly RadiopharmaceuticalEntry[]): string[] {
  const problems: string[] = [];
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/i.test(entry.id)) problems.push('id must be 1-64 letters, digits, ., _ or -');
  if (entry.name.trim() === '') problems.push('name must not be empty');
  if (!(Number.isFinite(entry.halfLifeSeconds) && entry.halfLifeSeconds > 0)) problems.push('half-life must be a number of seconds > 0');
  const nuclide = canonicalNuclide(entry.nuclide);
  if (nuclide === '') problems.push('nuclide must not be empty');
  const known = NUCLIDES[nuclide];
  if (known && Math.abs(entry.halfLifeSeconds - known.halfLifeSeconds) > HALF_LIFE_TOLERANCE * known.halfLifeSeconds) {
    problems.push(`half-life ${entry.halfLifeSeconds} s does not fit ${nuclide} (${known.halfLifeSeconds} s)`);
  }
  const others = table.filter((other) => other.id.toLowerCase() !== entry.id.toLowerCase());
  for (const name of [entry.name, ...entry.synonyms]) {
    const parsed = parseName(name);
    if (parsed.nuclide && parsed.nuclide !== nuclide) problems.push(`"${name}" names ${parsed.nuclide}, not ${nuclide}`);
    const clash = lookUpCores(parsed.cores, parsed.nuclide ?? nuclide, others);
    if (clash.length > 0) problems.push(`"${name}" already names ${clash.map((other) => other.name).join(', ')}`);
  }
  for (const code of entry.codes) {
    const clash = others.find((other) => other.codes.some((known) => sameCode(known, code)));
    if (clash) problems.push(`code ${code.scheme} ${code.value} already belongs to ${clash.name}`);
  }
  return problems;
}
