/**
 * The Philips PET private group: Philips PET series stored in counts (Units CNTS) carry the factor
 * that makes them activity concentration in a private block of group 7053, reserved by the private
 * creator "Philips PET Private Group". The block is found from the creator element (7053,0010-00FF)
 * rather than assumed (Philips uses 10, so the elements read (7053,1000) and (7053,1009)).
 *
 * The values are DS text in Explicit VR files, but Philips often sends Implicit VR Little Endian,
 * where a reader without Philips' private dictionary sees only bytes (VR UN): those bytes are DS
 * text or, from some software versions, an 8-byte binary FD. Both are read here.
 */
import type { PhilipsPetFactors } from './instance-header.js';

/** One element as dcmjs reads it: VR and the parsed values (strings, numbers, or an ArrayBuffer for UN). */
interface DcmjsElement { vr: string; Value?: unknown[] }

const PHILIPS_PET_GROUP = 0x7053;
export const PHILIPS_PET_CREATOR = 'Philips PET Private Group';
/** Element offsets inside the reserved block. */
const SUV_FACTOR = 0x00;
const ACTIVITY_CONCENTRATION_FACTOR = 0x09;

const DS_TEXT = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
const FD_BYTES = 8;

/** "(7053,1009)" for the block 0x10. */
function philipsElementName(block: number, offset: number): string {
  return `(${PHILIPS_PET_GROUP.toString(16).toUpperCase()},${((block << 8) | offset).toString(16).toUpperCase().padStart(4, '0')})`;
}

/**
 * The factors of the Philips PET private block, or undefined when the file has no such creator.
 * A value that is there but cannot be read as a number is named in `problem`, so the validator can
 * say so instead of calling it missing.
 */
export function readPhilipsPetFactors(dict: Record<string, DcmjsElement | undefined>): PhilipsPetFactors | undefined {
  const block = creatorBlock(dict);
  if (block === undefined) return undefined;
  const factors: PhilipsPetFactors = { block, activityConcentrationElement: philipsElementName(block, ACTIVITY_CONCENTRATION_FACTOR) };
  const problems: string[] = [];
  for (const [offset, key] of [[ACTIVITY_CONCENTRATION_FACTOR, 'activityConcentrationFactor'], [SUV_FACTOR, 'suvFactor']] as const) {
    const element = dict[tagKey(block, offset)];
    if (!element?.Value?.length) continue;
    const value = numberOf(element.Value[0]);
    if (value === undefined) problems.push(`${philipsElementName(block, offset)} is not a number (VR ${element.vr})`);
    else factors[key] = value;
  }
  if (problems.length) factors.problem = problems.join('; ');
  return factors;
}

/** Tags of the creator elements (7053,0010)-(7053,00FF), as dcmjs keys them. */
const CREATOR_TAG = /^705300[1-9A-F][0-9A-F]$/;

/**
 * The xx of the block whose creator (7053,00xx) is the Philips PET private group, the lowest if
 * several are. Only the header's own keys are looked at: asking for all 240 possible creators was
 * a sixth of the whole header read.
 */
function creatorBlock(dict: Record<string, DcmjsElement | undefined>): number | undefined {
  let found: number | undefined;
  for (const tag of Object.keys(dict)) {
    if (!CREATOR_TAG.test(tag)) continue;
    const block = Number.parseInt(tag.slice(6), 16);
    if (found !== undefined && found < block) continue;
    const creator = dict[tag]?.Value?.[0];
    const text = rawBytes(creator)?.toString('latin1') ?? creator;
    if (typeof text === 'string' && text.replace(/[\0 ]+$/, '').trim() === PHILIPS_PET_CREATOR) found = block;
  }
  return found;
}

function tagKey(block: number, offset: number): string {
  return `7053${((block << 8) | offset).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The bytes of a VR UN value: dcmjs gives an ArrayBuffer, or a view on the file when reading without copies. */
function rawBytes(value: unknown): Buffer | undefined {
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

/** A DS string, an FD number, or the raw bytes of either (VR UN). */
function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return DS_TEXT.test(value) ? Number.parseFloat(value) : undefined;
  const bytes = rawBytes(value);
  if (!bytes) return undefined;
  const text = bytes.toString('latin1').replace(/\0+$/, '').split('\\')[0]!;
  // DS text is printable; the 8 bytes of a double almost never are all digits, signs and points.
  if (DS_TEXT.test(text)) return Number.parseFloat(text);
  if (bytes.length === FD_BYTES) {
    const binary = bytes.readDoubleLE(0);
    return Number.isFinite(binary) ? binary : undefined;
  }
  return undefined;
}
