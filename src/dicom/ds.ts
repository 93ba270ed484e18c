/**
 * Decimal String (DS) formatting. DICOM limits a DS value to 16 characters; dcmjs would cut
 * longer JavaScript number strings itself, sometimes badly, so every DS petspool writes goes
 * through formatDS first and reaches dcmjs as a finished string.
 */

const DS_MAX_LENGTH = 16;

/** Removes what adds characters but no information: trailing fraction zeros, "+" and leading exponent zeros. */
function compact(text: string): string {
  let [mantissa, exponent] = text.split('e') as [string, string | undefined];
  if (mantissa.includes('.')) mantissa = mantissa.replace(/0+$/, '').replace(/\.$/, '');
  if (mantissa === '-0') mantissa = '0';
  if (exponent === undefined) return mantissa;
  const exponentValue = Number(exponent);
  return exponentValue === 0 ? mantissa : `${mantissa}e${exponentValue}`;
}

/**
 * The spellings that can be closest: the shortest round-trip text, and in each notation (fixed
 * decimals, significant digits, exponential) the most digits that still fit in 16 characters.
 * Fewer digits in the same notation are never closer: each coarser decimal grid is part of the
 * finer one, so rounding to the finer grid is at least as close. They can be as close once both
 * are read back as doubles (x halfway between two steps, or digits beyond double precision), and
 * then the shorter one is preferred, so fewer digits are taken as long as they are as close.
 * Near the largest double more digits can round up past it and read back as Infinity; those are
 * passed over. test/unit/dicom/ds.test.ts checks the choice against every spelling at every precision.
 */
function candidateSpellings(x: number): string[] {
  const errorOf = (spelling: string): number => Math.abs(Number(spelling) - x);
  const closestFitting = (spell: (digits: number) => string, most: number, fewest: number): string[] => {
    let digits = most;
    let spelling = compact(spell(digits));
    while ((spelling.length > DS_MAX_LENGTH || !Number.isFinite(Number(spelling))) && digits > fewest) spelling = compact(spell(--digits));
    if (spelling.length > DS_MAX_LENGTH) return [];
    const found = [spelling];
    const error = errorOf(spelling);
    while (digits > fewest) {
      const coarser = compact(spell(--digits));
      if (errorOf(coarser) > error) break;
      found.push(coarser);
    }
    return found;
  };
  return [
    compact(String(x)),
    ...closestFitting((d) => x.toPrecision(d), 17, 1),
    ...closestFitting((d) => x.toExponential(d), 16, 0),
    ...(Math.abs(x) < 1e21 ? closestFitting((d) => x.toFixed(d), 16, 0) : []),
  ];
}

/** Among equally close spellings: plain notation first (read by every parser), then the shortest. */
function preferable(a: string, b: string): boolean {
  const aExponential = a.includes('e');
  const bExponential = b.includes('e');
  if (aExponential !== bExponential) return !aExponential;
  return a.length < b.length;
}

/**
 * The decimal string of at most 16 characters closest to x; among equally close ones plain
 * notation before exponential, then the shortest.
 * Throws for NaN and infinities, which DS cannot hold.
 */
export function formatDS(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`DS cannot hold ${x}`);
  if (x === 0) return '0';
  // The shortest text that reads back as x, in plain notation: exact, so nothing is closer.
  const shortest = String(x);
  if (shortest.length <= DS_MAX_LENGTH && !shortest.includes('e')) return shortest;
  let best = '';
  let bestError = Infinity;
  for (const spelling of candidateSpellings(x)) {
    if (spelling.length > DS_MAX_LENGTH) continue;
    const error = Math.abs(Number(spelling) - x);
    if (error < bestError || (error === bestError && preferable(spelling, best))) {
      best = spelling;
      bestError = error;
    }
  }
  return best;
}

/** formatDS for each value of a multi-valued DS (e.g. PixelSpacing, ImagePositionPatient). */
export function formatDSList(values: readonly number[]): string[] {
  return values.map(formatDS);
}
