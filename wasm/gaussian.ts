// The inner loops of the separable Gaussian (src/imaging/gaussian-kernel.ts) in WebAssembly SIMD,
// four float32 voxels per instruction. AssemblyScript, compiled by `npm run build` (asc) into
// dist/wasm/gaussian.wasm. Every pointer is a byte address in this module's memory, laid out by
// the caller; nothing here allocates. Weights are half kernels: w[0] the centre tap, w[k] the taps
// at ±k. Sums are float32, which keeps the result within a few float32 roundings of scipy's
// float64 sums (far below the int16 step the output is stored with).

/** sum + weight·(the 4 floats at `before` + the 4 at `after`): one symmetric tap pair for four voxels. */
// @ts-ignore: decorator
@inline
function addTap(sum: v128, before: usize, after: usize, weight: v128): v128 {
  return f32x4.add(sum, f32x4.mul(f32x4.add(v128.load(before), v128.load(after)), weight));
}

/**
 * dst[i] = w[0]·line_R[i] + Σ_{k=1..R} w[k]·(line_{R-k}[i] + line_{R+k}[i]) for i < n, where
 * lines holds the 2R+1 line addresses (u32): R+k is the line k steps after the centre one.
 */
export function combineLines(lines: usize, radius: i32, weights: usize, dst: usize, n: i32): void {
  const centre = <usize>load<u32>(lines + (<usize>radius << 2));
  const w0 = load<f32>(weights);
  const wide0 = f32x4.splat(w0);
  const n16 = n & ~15;
  const n4 = n & ~3;
  let i = 0;
  // Sixteen voxels per step: each tap's line addresses and weight are loaded once for four vectors.
  for (; i < n16; i += 16) {
    const at = <usize>i << 2;
    let sum0 = f32x4.mul(v128.load(centre + at), wide0);
    let sum1 = f32x4.mul(v128.load(centre + at, 16), wide0);
    let sum2 = f32x4.mul(v128.load(centre + at, 32), wide0);
    let sum3 = f32x4.mul(v128.load(centre + at, 48), wide0);
    for (let k = 1; k <= radius; k++) {
      const before = <usize>load<u32>(lines + (<usize>(radius - k) << 2)) + at;
      const after = <usize>load<u32>(lines + (<usize>(radius + k) << 2)) + at;
      const weight = f32x4.splat(load<f32>(weights + (<usize>k << 2)));
      sum0 = addTap(sum0, before, after, weight);
      sum1 = addTap(sum1, before + 16, after + 16, weight);
      sum2 = addTap(sum2, before + 32, after + 32, weight);
      sum3 = addTap(sum3, before + 48, after + 48, weight);
    }
    v128.store(dst + at, sum0);
    v128.store(dst + at, sum1, 16);
    v128.store(dst + at, sum2, 32);
    v128.store(dst + at, sum3, 48);
  }
  for (; i < n4; i += 4) {
    const at = <usize>i << 2;
    let sum = f32x4.mul(v128.load(centre + at), wide0);
    for (let k = 1; k <= radius; k++) {
      const before = <usize>load<u32>(lines + (<usize>(radius - k) << 2));
      const after = <usize>load<u32>(lines + (<usize>(radius + k) << 2));
      sum = addTap(sum, before + at, after + at, f32x4.splat(load<f32>(weights + (<usize>k << 2))));
    }
    v128.store(dst + at, sum);
  }
  for (; i < n; i++) {
    const at = <usize>i << 2;
    let sum = load<f32>(centre + at) * w0;
    for (let k = 1; k <= radius; k++) {
      const before = <usize>load<u32>(lines + (<usize>(radius - k) << 2));
      const after = <usize>load<u32>(lines + (<usize>(radius + k) << 2));
      sum += (load<f32>(before + at) + load<f32>(after + at)) * load<f32>(weights + (<usize>k << 2));
    }
    store<f32>(dst + at, sum);
  }
}

/** dst[x] = w[0]·src[x+R] + Σ_{k=1..R} w[k]·(src[x+R-k] + src[x+R+k]) for x < n: src is padded by R on each side. */
function convolvePaddedLine(src: usize, radius: i32, weights: usize, dst: usize, n: i32): void {
  const w0 = load<f32>(weights);
  const wide0 = f32x4.splat(w0);
  const centre = src + (<usize>radius << 2);
  const n16 = n & ~15;
  const n4 = n & ~3;
  let x = 0;
  // Sixteen voxels per step, as in combineLines.
  for (; x < n16; x += 16) {
    const at = centre + (<usize>x << 2);
    let sum0 = f32x4.mul(v128.load(at), wide0);
    let sum1 = f32x4.mul(v128.load(at, 16), wide0);
    let sum2 = f32x4.mul(v128.load(at, 32), wide0);
    let sum3 = f32x4.mul(v128.load(at, 48), wide0);
    for (let k = 1; k <= radius; k++) {
      const before = at - (<usize>k << 2);
      const after = at + (<usize>k << 2);
      const weight = f32x4.splat(load<f32>(weights + (<usize>k << 2)));
      sum0 = addTap(sum0, before, after, weight);
      sum1 = addTap(sum1, before + 16, after + 16, weight);
      sum2 = addTap(sum2, before + 32, after + 32, weight);
      sum3 = addTap(sum3, before + 48, after + 48, weight);
    }
    const out = dst + (<usize>x << 2);
    v128.store(out, sum0);
    v128.store(out, sum1, 16);
    v128.store(out, sum2, 32);
    v128.store(out, sum3, 48);
  }
  for (; x < n4; x += 4) {
    const at = centre + (<usize>x << 2);
    let sum = f32x4.mul(v128.load(at), wide0);
    for (let k = 1; k <= radius; k++) {
      sum = addTap(sum, at - (<usize>k << 2), at + (<usize>k << 2), f32x4.splat(load<f32>(weights + (<usize>k << 2))));
    }
    v128.store(dst + (<usize>x << 2), sum);
  }
  for (; x < n; x++) {
    const at = centre + (<usize>x << 2);
    let sum = load<f32>(at) * w0;
    for (let k = 1; k <= radius; k++) {
      sum += (load<f32>(at - (<usize>k << 2)) + load<f32>(at + (<usize>k << 2))) * load<f32>(weights + (<usize>k << 2));
    }
    store<f32>(dst + (<usize>x << 2), sum);
  }
}

/**
 * Filters one rows×cols slice at `src` along its rows, then its columns, into `dst`. `scratch`
 * holds rows × (cols + 2·colRadius) floats (the row-axis result with the column filter's replicated
 * edges), `lines` room for 2·rowRadius+1 addresses. Edges are replicated on both axes.
 */
export function filterInPlane(
  src: usize, rows: i32, cols: i32,
  rowRadius: i32, rowWeights: usize, colRadius: i32, colWeights: usize,
  scratch: usize, lines: usize, dst: usize,
): void {
  const padded = cols + 2 * colRadius;
  const rowBytes = <usize>cols << 2;
  for (let y = 0; y < rows; y++) {
    for (let k = -rowRadius; k <= rowRadius; k++) {
      const j = min(max(y + k, 0), rows - 1);
      store<u32>(lines + (<usize>(k + rowRadius) << 2), <u32>(src + <usize>j * rowBytes));
    }
    const start = scratch + ((<usize>y * <usize>padded) << 2);
    const first = start + (<usize>colRadius << 2);
    combineLines(lines, rowRadius, rowWeights, first, cols);
    const firstValue = load<f32>(first);
    const lastValue = load<f32>(first + rowBytes - 4);
    for (let x = 0; x < colRadius; x++) {
      store<f32>(start + (<usize>x << 2), firstValue);
      store<f32>(first + rowBytes + (<usize>x << 2), lastValue);
    }
  }
  for (let y = 0; y < rows; y++) {
    convolvePaddedLine(scratch + ((<usize>y * <usize>padded) << 2), colRadius, colWeights, dst + <usize>y * rowBytes, cols);
  }
}
