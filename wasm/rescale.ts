// The voxel loop of decoding a slice (src/imaging/decode-pixels.ts) in WebAssembly SIMD.
// AssemblyScript, compiled by `npm run build` (asc) into dist/wasm/rescale.wasm. Pointers are byte
// addresses in this module's memory, laid out by the caller; nothing here allocates. It gives
// exactly what the JavaScript it replaces gave: value · slope + intercept in float64 (multiply,
// then add: WebAssembly never fuses them), rounded to float32.

/**
 * out[i] = f32(stored[i] · slope + intercept) for the n 16-bit little-endian stored values at
 * `stored`, read as signed or unsigned.
 */
export function rescale16(stored: usize, n: i32, signed: bool, slope: f64, intercept: f64, out: usize): void {
  const wideSlope = f64x2.splat(slope);
  const wideIntercept = f64x2.splat(intercept);
  const n8 = n & ~7;
  let i = 0;
  for (; i < n8; i += 8) {
    const values = v128.load(stored + (<usize>i << 1));
    const low = signed ? i32x4.extend_low_i16x8_s(values) : i32x4.extend_low_i16x8_u(values);
    const high = signed ? i32x4.extend_high_i16x8_s(values) : i32x4.extend_high_i16x8_u(values);
    const at = out + (<usize>i << 2);
    v128.store(at, rescaleFour(low, wideSlope, wideIntercept));
    v128.store(at, rescaleFour(high, wideSlope, wideIntercept), 16);
  }
  for (; i < n; i++) {
    const raw = load<u16>(stored + (<usize>i << 1));
    const value: f64 = signed ? <f64><i16>raw : <f64>raw;
    store<f32>(out + (<usize>i << 2), <f32>(value * slope + intercept));
  }
}

/** Four int32 values (exact in float64) rescaled and rounded to four float32 values. */
// @ts-ignore: decorator
@inline
function rescaleFour(values: v128, slope: v128, intercept: v128): v128 {
  const first = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(values), slope), intercept);
  const second = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(v128.shuffle<i32>(values, values, 2, 3, 0, 1)), slope), intercept);
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(first), f32x4.demote_f64x2_zero(second), 0, 1, 4, 5);
}
