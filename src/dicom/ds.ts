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

/** Every plausible spelling of x: fixed and exponential notation at every precision. */
function candidateSpellings(x: number): string[] {
  const spellings = [String(x)];
  for (let digits = 1; digits <= 17; digits++) {
    spellings.push(x.toPrecision(digits), x.toExponential(digits - 1));
  }
  if (Math.abs(x) < 1e21) {
    for (let decimals = 0; decimals <= 16; decimals++) spellings.push(x.toFixed(decimals));
  }
  return spellings.map(compact);
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
