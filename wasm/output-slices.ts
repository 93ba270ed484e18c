// The voxel loops of making output slices (src/imaging/quantise.ts, output-slices.ts) in
// WebAssembly SIMD. AssemblyScript, compiled by `npm run build` (asc) into
// dist/wasm/output-slices.wasm. Pointers are byte addresses in this module's memory, laid out by
// the caller; nothing here allocates. Each loop gives exactly what the JavaScript it replaces gave:
// NaN is passed over by the maxima, and stored as 0.

/** The largest |v| of the n float32 values at `values` (NaN passed over; 0 for none). */
export function maxAbs(values: usize, n: i32): f32 {
  let wide = f32x4.splat(0);
  const n4 = n & ~3;
  let i = 0;
  // pmax(a, b) = a < b ? b : a keeps a when b is NaN.
  for (; i < n4; i += 4) wide = f32x4.pmax(wide, f32x4.abs(v128.load(values + (<usize>i << 2))));
  let largest: f32 = 0;
  for (let lane = 0; lane < 4; lane++) {
    const v = f32x4.extract_lane(wide, 0);
    if (v > largest) largest = v;
    wide = v128.shuffle<f32>(wide, wide, 1, 2, 3, 0);
  }
  for (; i < n; i++) {
    const v = abs(load<f32>(values + (<usize>i << 2)));
    if (v > largest) largest = v;
  }
  return largest;
}

/**
 * pixels[i] = clamp(roundHalfUp(values[i] / slope), ±32767) as int16, NaN as 0, for i < n; the
 * division and rounding in float64 like JavaScript's: floor(y + 0.5), one less where that
 * rounded y + 0.5 up across an integer (y just below one half).
 */
export function quantise(values: usize, n: i32, slope: f64, pixels: usize): void {
  const wideSlope = f64x2.splat(slope);
  const half = f64x2.splat(0.5);
  const one = f64x2.splat(1);
  const top = f64x2.splat(32767);
  const bottom = f64x2.splat(-32767);
  const n8 = n & ~7;
  let i = 0;
  for (; i < n8; i += 8) {
    const at = values + (<usize>i << 2);
    const a = v128.load(at);
    const b = v128.load(at, 16);
    const q0 = storedPair(f64x2.promote_low_f32x4(a), wideSlope, half, one, top, bottom);
    const q1 = storedPair(f64x2.promote_low_f32x4(v128.shuffle<f32>(a, a, 2, 3, 0, 1)), wideSlope, half, one, top, bottom);
    const q2 = storedPair(f64x2.promote_low_f32x4(b), wideSlope, half, one, top, bottom);
    const q3 = storedPair(f64x2.promote_low_f32x4(v128.shuffle<f32>(b, b, 2, 3, 0, 1)), wideSlope, half, one, top, bottom);
    const low = v128.shuffle<i32>(q0, q1, 0, 1, 4, 5);
    const high = v128.shuffle<i32>(q2, q3, 0, 1, 4, 5);
    v128.store(pixels + (<usize>i << 1), i16x8.narrow_i32x4_s(low, high));
  }
  for (; i < n; i++) {
    const y = <f64>load<f32>(values + (<usize>i << 2)) / slope;
    let r = floor(y + 0.5);
    if (r - 0.5 > y) r -= 1;
    const stored: i32 = r != r ? 0 : <i32>(r > 32767 ? 32767 : r < -32767 ? -32767 : r);
    store<i16>(pixels + (<usize>i << 1), <i16>stored);
  }
}

/** Two float64 values to their stored int32 values in lanes 0 and 1 (see quantise). */
// @ts-ignore: decorator
@inline
function storedPair(v: v128, slope: v128, half: v128, one: v128, top: v128, bottom: v128): v128 {
  const y = f64x2.div(v, slope);
  const up = f64x2.floor(f64x2.add(y, half));
  const r = v128.bitselect(f64x2.sub(up, one), up, f64x2.gt(f64x2.sub(up, half), y));
  // pmin/pmax keep NaN (in their first operand), which the saturating conversion makes 0.
  return i32x4.trunc_sat_f64x2_s_zero(f64x2.pmax(f64x2.pmin(r, top), bottom));
}

/** out[x] = the largest of column x over the rows of one rows×cols slice (NaN passed over, unless in row 0). */
export function columnMaxima(slice: usize, rows: i32, cols: i32, out: usize): void {
  memory.copy(out, slice, <usize>cols << 2);
  const cols4 = cols & ~3;
  for (let y = 1; y < rows; y++) {
    const row = slice + ((<usize>y * <usize>cols) << 2);
    let x = 0;
    for (; x < cols4; x += 4) {
      const at = <usize>x << 2;
      // pmax(a, b) = a < b ? b : a: like "if (v > out) out = v".
      v128.store(out + at, f32x4.pmax(v128.load(out + at), v128.load(row + at)));
    }
    for (; x < cols; x++) {
      const v = load<f32>(row + (<usize>x << 2));
      if (v > load<f32>(out + (<usize>x << 2))) store<f32>(out + (<usize>x << 2), v);
    }
  }
}
