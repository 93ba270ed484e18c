/**
 * Maximum intensity projection previews of a PET volume as greyscale PNG, the way PET readers like
 * them: inverted grey (hot spots black on white), scaled to the 99.5th percentile of the projection,
 * resampled so that a millimetre is as wide as it is high, head at the top.
 * Axis names assume an axial acquisition: coronal projects along the rows (front to back),
 * sagittal along the columns (side to side), axial along the slices.
 */
import { PNG } from 'pngjs';
import { sliceNormal, type Volume } from './volume.js';
import { outputSliceLoops } from './output-slice-loops.js';
import { layoutRegions } from './wasm-loops.js';

export type MipAxis = 'coronal' | 'sagittal' | 'axial';

export interface MipOptions {
  axis?: MipAxis;
  /** Output width in pixels at most (default 512); the height follows the aspect ratio. */
  maxWidth?: number;
}

const SCALE_PERCENTILE = 0.995;

/** A 2D float image, row-major, with the size of its pixels in mm. */
export interface Projection {
  values: Float32Array;
  width: number;
  height: number;
  pixelWidthMm: number;
  pixelHeightMm: number;
}

/** out[x] = the maximum of column x over the rows of one slice (out has `columns` values; WebAssembly SIMD). */
export function columnMaxima(slice: Float32Array, rows: number, columns: number, out: Float32Array): void {
  const layout = layoutRegions({ slice: rows * columns * 4, out: columns * 4 });
  const { loops, memory } = outputSliceLoops.withMemory(layout.end);
  new Float32Array(memory.buffer, layout.slice, rows * columns).set(slice.subarray(0, rows * columns));
  loops.columnMaxima(layout.slice, rows, columns, layout.out);
  out.set(new Float32Array(memory.buffer, layout.out, columns));
}

/** Coronal and sagittal images are slices high; image row 0 is the most superior slice. */
function imageRowOf(vol: Pick<Volume, 'shape' | 'orientation'>): (z: number) => number {
  const slices = vol.shape[0];
  const headFirst = sliceNormal(vol.orientation)[2] > 0;
  return (z) => (headFirst ? slices - 1 - z : z);
}

/**
 * The coronal projection from each slice's column maxima (`rows[z * columns + x]`, as
 * output-slices.ts computes them alongside the stored values), without another pass over the volume.
 */
export function coronalProjectionFromRows(rows: Float32Array, vol: Pick<Volume, 'shape' | 'orientation' | 'spacing'>): Projection {
  const [slices, , cols] = vol.shape;
  if (rows.length !== slices * cols) throw new RangeError(`${rows.length} column maxima for ${slices} slices of ${cols} columns`);
  const imageRow = imageRowOf(vol);
  const values = new Float32Array(slices * cols);
  for (let z = 0; z < slices; z++) values.set(rows.subarray(z * cols, (z + 1) * cols), imageRow(z) * cols);
  return { values, width: cols, height: slices, pixelWidthMm: vol.spacing[2], pixelHeightMm: vol.spacing[0] };
}

export function maximumIntensityProjection(vol: Volume, axis: MipAxis): Projection {
  const [slices, rows, cols] = vol.shape;
  const plane = rows * cols;
  const data = vol.data;
  if (axis === 'axial') {
    const values = new Float32Array(plane).fill(-Infinity);
    for (let z = 0; z < slices; z++) {
      const base = z * plane;
      for (let i = 0; i < plane; i++) if (data[base + i] > values[i]) values[i] = data[base + i];
    }
    return { values, width: cols, height: rows, pixelWidthMm: vol.spacing[2], pixelHeightMm: vol.spacing[1] };
  }
  if (axis === 'coronal') {
    const maxima = new Float32Array(slices * cols);
    for (let z = 0; z < slices; z++) columnMaxima(data.subarray(z * plane, (z + 1) * plane), rows, cols, maxima.subarray(z * cols, (z + 1) * cols));
    return coronalProjectionFromRows(maxima, vol);
  }
  const imageRow = imageRowOf(vol);
  const values = new Float32Array(rows * slices);
  for (let z = 0; z < slices; z++) {
    const out = imageRow(z) * rows;
    for (let y = 0; y < rows; y++) {
      const base = z * plane + y * cols;
      let max = data[base]!;
      for (let x = 1; x < cols; x++) if (data[base + x]! > max) max = data[base + x]!;
      values[out + y] = max;
    }
  }
  return { values, width: rows, height: slices, pixelWidthMm: vol.spacing[1], pixelHeightMm: vol.spacing[0] };
}

function scaleValue(values: Float32Array): number {
  const sorted = Float32Array.from(values).sort();
  const percentile = sorted[Math.min(sorted.length - 1, Math.floor(SCALE_PERCENTILE * (sorted.length - 1)))];
  return percentile > 0 ? percentile : sorted[sorted.length - 1];
}

/** Bilinear sample at fractional pixel coordinates, clamped to the image. */
function sample(p: Projection, x: number, y: number): number {
  const cx = Math.min(Math.max(x, 0), p.width - 1);
  const cy = Math.min(Math.max(y, 0), p.height - 1);
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(x0 + 1, p.width - 1);
  const y1 = Math.min(y0 + 1, p.height - 1);
  const fx = cx - x0;
  const fy = cy - y0;
  const top = p.values[y0 * p.width + x0] * (1 - fx) + p.values[y0 * p.width + x1] * fx;
  const bottom = p.values[y1 * p.width + x0] * (1 - fx) + p.values[y1 * p.width + x1] * fx;
  return top * (1 - fy) + bottom * fy;
}

export function mipPng(vol: Volume, opts: MipOptions = {}): Buffer {
  return projectionPng(maximumIntensityProjection(vol, opts.axis ?? 'coronal'), opts.maxWidth);
}

/** A projection as a preview PNG, at most `maxWidth` (default 512) pixels wide. */
export function projectionPng(projection: Projection, maxWidth = 512): Buffer {
  const widthMm = projection.width * projection.pixelWidthMm;
  const heightMm = projection.height * projection.pixelHeightMm;
  // Square output pixels no coarser than the finer input axis, then shrunk to maxWidth.
  let pixelMm = Math.min(projection.pixelWidthMm, projection.pixelHeightMm);
  if (widthMm / pixelMm > maxWidth) pixelMm = widthMm / maxWidth;
  const width = Math.max(1, Math.round(widthMm / pixelMm));
  const height = Math.max(1, Math.round(heightMm / pixelMm));

  const scale = scaleValue(projection.values);
  const grey = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) {
    // Centre of the output pixel, in input pixel coordinates.
    const sy = ((y + 0.5) * heightMm) / height / projection.pixelHeightMm - 0.5;
    for (let x = 0; x < width; x++) {
      const sx = ((x + 0.5) * widthMm) / width / projection.pixelWidthMm - 0.5;
      const level = scale > 0 ? Math.min(Math.max(sample(projection, sx, sy) / scale, 0), 1) : 0;
      grey[y * width + x] = Math.round(255 * (1 - level));
    }
  }
  // Grey bytes in, grey PNG out (no RGBA repacking); zlib's default level, not pngjs' 9: a preview
  // a few per cent larger, written several times faster. One row filter (Sub: a row's neighbours
  // predict these smooth images well) rather than pngjs trying all five on every row, 4x the work.
  return PNG.sync.write({ width, height, data: grey } as PNG, { colorType: 0, inputColorType: 0, deflateLevel: 6, filterType: 1 });
}
