// The preprocessing of `ocpipe predict`, step by step, for the exported page.
//
// Each function mirrors one Python function (named in its comment) closely
// enough to give the same numbers: float32 arithmetic is rounded where NumPy,
// OpenCV or TensorFlow round (Math.fround), integer arithmetic is integer, and
// Python's round() rounds half to even. tests/test_export_preprocess.py runs
// this module under Node.js and compares every step with the Python original.
//
// An image is {width, height, data}: data a Uint8Array of RGBA rows (4 bytes a
// pixel), as readers.read_picture returns it.

const f = Math.fround;

// Defaults mirrored from ocpipe/config.py, hashing.py and data.py.
export const WORK_MAX_SIDE = 1024;
const THUMB_SIDE = 192;
const ALPHA_DRAWN = 24;
const COLOUR_DRAWN = 40;
const DETAILED_BACKGROUND = 6.0;
const UNEXPLAINED_BORDER = 3.0;
const TRANSPARENT_SHARE = 0.05;
const CONTENT_MARGIN = 0.08;
export const PREDICT_BACKGROUND = 128.0;
const HASH_BACKGROUND = 128;

/** Python's round(): to the nearest integer, halves to even. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** OpenCV's cvRound / saturate_cast<uchar>(float): nearest, halves to even, clamped to 0..255. */
function saturateU8(x) {
  const r = roundHalfEven(x);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

// ---------------------------------------------------------------- decoding

/** PNG bytes -> image, exactly as Pillow decodes them and readers.read_picture
 * converts them to RGBA (palette with tRNS, grey, grey+alpha, 16-bit samples
 * by their high byte, Adam7 interlacing). An APNG gives its default image, as
 * Pillow's first frame does; `animated` says when there are more frames. */
export async function decodePng(bytes, maxPixels = Infinity) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (bytes.length < 8 || signature.some((value, i) => bytes[i] !== value)) throw new Error("not a PNG file");
  let offset = 8;
  let header = null;
  let palette = null;
  let transparency = null;
  let frames = 0;
  let defaultInAnimation = false;
  const idat = [];
  while (offset + 8 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (body.length < length) throw new Error("truncated PNG data");
    offset += 12 + length;
    if (type === "IHDR") {
      header = {
        width: view.getUint32(body.byteOffset - bytes.byteOffset), height: view.getUint32(body.byteOffset - bytes.byteOffset + 4),
        depth: body[8], colourType: body[9], interlace: body[12],
      };
    } else if (type === "PLTE") {
      palette = body;
    } else if (type === "tRNS") {
      transparency = body;
    } else if (type === "acTL") {
      frames = view.getUint32(body.byteOffset - bytes.byteOffset);
    } else if (type === "fcTL" && idat.length === 0) {
      defaultInAnimation = true;
    } else if (type === "IDAT") {
      idat.push(body);
    } else if (type === "IEND") {
      break;
    }
  }
  if (!header || !idat.length) throw new Error("corrupt PNG: no image data");
  const { width, height, depth, colourType, interlace } = header;
  checkPixels(width, height, maxPixels);
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colourType];
  if (!channels || ![1, 2, 4, 8, 16].includes(depth)) throw new Error("unsupported PNG variant");
  const raw = await inflate(idat);
  const bitsPerPixel = channels * depth;
  const passes = interlace
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  // Sample values (0..255, or 0..65535 for 16-bit) per pixel and channel, before conversion.
  const samples = new Uint16Array(width * height * channels);
  let position = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const passWidth = Math.ceil((width - x0) / dx);
    const passHeight = Math.ceil((height - y0) / dy);
    if (passWidth <= 0 || passHeight <= 0) continue;
    const stride = Math.ceil((passWidth * bitsPerPixel) / 8);
    const rows = unfilter(raw, position, stride, passHeight, Math.max(1, bitsPerPixel >> 3));
    position += (stride + 1) * passHeight;
    for (let y = 0; y < passHeight; y++) {
      const row = rows.subarray(y * stride, (y + 1) * stride);
      for (let x = 0; x < passWidth; x++) {
        const target = ((y0 + y * dy) * width + x0 + x * dx) * channels;
        for (let c = 0; c < channels; c++) samples[target + c] = sample(row, x * channels + c, depth);
      }
    }
  }
  const animated = frames + (frames && !defaultInAnimation ? 1 : 0) > 1;
  return { width, height, data: toRgba(samples, width * height, colourType, depth, palette, transparency), animated,
           alphaMode: colourType === 4 || colourType === 6 || colourType === 3 };
}

/** readers.check_pixels: refuse an image over the pixel budget, from its header, before decoding it. */
export function checkPixels(width, height, maxPixels = Infinity) {
  if (width < 1 || height < 1) throw new Error(`the image has no pixels (${width}x${height})`);
  if (width * height > maxPixels) {
    const mp = (width * height) / 1e6;
    throw new Error(`this image is ${mp >= 10 ? mp.toFixed(0) : mp.toFixed(1)} megapixels (${width}x${height}); `
      + `ocpipe reads up to ${maxPixels / 1e6} megapixels`);
  }
}

async function inflate(parts) {
  const stream = new Blob(parts).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function unfilter(raw, start, stride, rows, bpp) {
  const out = new Uint8Array(stride * rows);
  for (let y = 0; y < rows; y++) {
    const kind = raw[start + y * (stride + 1)];
    const input = start + y * (stride + 1) + 1;
    const row = y * stride;
    const prior = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[prior + x] : 0;
      const c = x >= bpp && y > 0 ? out[prior + x - bpp] : 0;
      let predicted = 0;
      if (kind === 1) predicted = a;
      else if (kind === 2) predicted = b;
      else if (kind === 3) predicted = (a + b) >> 1;
      else if (kind === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (kind !== 0) throw new Error("corrupt PNG: bad filter");
      out[row + x] = (raw[input + x] + predicted) & 255;
    }
  }
  return out;
}

function sample(row, index, depth) {
  if (depth === 8) return row[index];
  if (depth === 16) return (row[2 * index] << 8) | row[2 * index + 1];
  const perByte = 8 / depth;
  const byte = row[Math.floor(index / perByte)];
  const shift = 8 - depth * ((index % perByte) + 1);
  return (byte >> shift) & ((1 << depth) - 1);
}

function toRgba(samples, count, colourType, depth, palette, transparency) {
  const out = new Uint8Array(count * 4);
  // Pillow reads 16-bit samples by their high byte; 2- and 4-bit grey scaled to 0..255; 1-bit is 0 or 255.
  const eight = depth === 16 ? (v) => v >> 8 : depth === 8 ? (v) => v : (v) => v * (255 / ((1 << depth) - 1));
  const key = transparency && transparency.length >= 2 ? (transparency[0] << 8) | transparency[1] : -1;
  for (let i = 0; i < count; i++) {
    const o = 4 * i;
    if (colourType === 3) {
      const index = samples[i];
      out[o] = palette ? palette[3 * index] : 0;
      out[o + 1] = palette ? palette[3 * index + 1] : 0;
      out[o + 2] = palette ? palette[3 * index + 2] : 0;
      out[o + 3] = transparency && index < transparency.length ? transparency[index] : 255;
    } else if (colourType === 0) {
      const v = eight(samples[i]);
      out[o] = out[o + 1] = out[o + 2] = v;
      // Pillow applies a grey tRNS key to 8-bit and lower images (readers.to_8bit drops it for 16-bit).
      out[o + 3] = depth !== 16 && v === key ? 0 : 255;
    } else if (colourType === 4) {
      out[o] = out[o + 1] = out[o + 2] = eight(samples[2 * i]);
      out[o + 3] = eight(samples[2 * i + 1]);
    } else if (colourType === 2) {
      const r = eight(samples[3 * i]), g = eight(samples[3 * i + 1]), b = eight(samples[3 * i + 2]);
      out[o] = r; out[o + 1] = g; out[o + 2] = b;
      const keyed = transparency && transparency.length >= 6 && r === ((transparency[0] << 8) | transparency[1])
        && g === ((transparency[2] << 8) | transparency[3]) && b === ((transparency[4] << 8) | transparency[5]);
      out[o + 3] = keyed ? 0 : 255;
    } else {
      for (let c = 0; c < 4; c++) out[o + c] = eight(samples[4 * i + c]);
    }
  }
  return out;
}

// ------------------------------------------------- readers.shrink (Pillow)

/** readers.shrink: the longest side at most maxSide, with Pillow's LANCZOS
 * resampling on premultiplied RGBA (Pillow's "RGBa"), 8-bit fixed point. Pillow
 * first box-reduces opaque images shrunk more than 6x (reducing_gap=3); that
 * step is not mirrored. */
export function shrink(image, maxSide = WORK_MAX_SIDE) {
  const { width, height } = image;
  if (!maxSide || Math.max(width, height) <= maxSide) return image;
  const scale = maxSide / Math.max(width, height);
  const outWidth = Math.max(1, roundHalfEven(width * scale));
  const outHeight = Math.max(1, roundHalfEven(height * scale));
  const premultiplied = new Uint8Array(image.data.length);
  for (let i = 0; i < image.data.length; i += 4) {
    const alpha = image.data[i + 3];
    for (let c = 0; c < 3; c++) {
      const tmp = image.data[i + c] * alpha + 128;
      premultiplied[i + c] = ((tmp >> 8) + tmp) >> 8;
    }
    premultiplied[i + 3] = alpha;
  }
  let pixels = premultiplied, w = width, h = height;
  const vertical = lanczosCoefficients(height, outHeight);
  const firstRow = vertical.bounds[0];
  const lastRow = vertical.bounds[2 * outHeight - 2] + vertical.bounds[2 * outHeight - 1];
  if (outWidth !== width) {
    const horizontal = lanczosCoefficients(width, outWidth);
    const rows = lastRow - firstRow;
    const out = new Uint8Array(outWidth * rows * 4);
    for (let y = 0; y < rows; y++) {
      const row = (y + firstRow) * w * 4;
      for (let x = 0; x < outWidth; x++) {
        const start = horizontal.bounds[2 * x], count = horizontal.bounds[2 * x + 1];
        const k = x * horizontal.size;
        for (let c = 0; c < 4; c++) {
          let sum = 1 << 21;
          for (let i = 0; i < count; i++) sum += pixels[row + (start + i) * 4 + c] * horizontal.weights[k + i];
          out[(y * outWidth + x) * 4 + c] = clip8(sum);
        }
      }
    }
    pixels = out; w = outWidth; h = rows;
    for (let y = 0; y < outHeight; y++) vertical.bounds[2 * y] -= firstRow;
  }
  if (outHeight !== height) {
    const out = new Uint8Array(w * outHeight * 4);
    for (let y = 0; y < outHeight; y++) {
      const start = vertical.bounds[2 * y], count = vertical.bounds[2 * y + 1];
      const k = y * vertical.size;
      for (let x = 0; x < w; x++) {
        for (let c = 0; c < 4; c++) {
          let sum = 1 << 21;
          for (let i = 0; i < count; i++) sum += pixels[((start + i) * w + x) * 4 + c] * vertical.weights[k + i];
          out[(y * w + x) * 4 + c] = clip8(sum);
        }
      }
    }
    pixels = out; h = outHeight;
  }
  // Pillow's RGBa -> RGBA: integer division, alpha 0 and 255 copied as they are.
  for (let i = 0; i < pixels.length; i += 4) {
    const alpha = pixels[i + 3];
    if (alpha !== 0 && alpha !== 255) {
      for (let c = 0; c < 3; c++) pixels[i + c] = Math.min(255, Math.floor((255 * pixels[i + c]) / alpha));
    }
  }
  return { ...image, width: w, height: h, data: pixels };
}

function clip8(sum) {
  const v = sum >> 22;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function lanczos(x) {
  const sinc = (t) => (t === 0 ? 1 : Math.sin(t * Math.PI) / (t * Math.PI));
  return x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for LANCZOS. */
function lanczosCoefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 3 * filterScale;
  const size = Math.ceil(support) * 2 + 1;
  const weights = new Int32Array(outSize * size);
  const bounds = new Int32Array(outSize * 2);
  for (let xx = 0; xx < outSize; xx++) {
    const centre = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(0, Math.trunc(centre - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(centre + support + 0.5)) - xmin;
    const k = new Float64Array(xmax);
    let total = 0;
    for (let x = 0; x < xmax; x++) { k[x] = lanczos((x + xmin - centre + 0.5) * ss); total += k[x]; }
    for (let x = 0; x < xmax; x++) {
      const w = total !== 0 ? k[x] / total : k[x];
      weights[xx * size + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << 22)) : Math.trunc(0.5 + w * (1 << 22));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { weights, bounds, size };
}

// ------------------------------------------------------ OpenCV resizing

/** cv2.resize(..., INTER_AREA) of uint8 pixels with `cn` channels, shrinking. */
export function resizeArea(src, width, height, cn, outWidth, outHeight) {
  const scaleX = 1 / (outWidth / width), scaleY = 1 / (outHeight / height);
  const intX = roundHalfEven(scaleX), intY = roundHalfEven(scaleY);
  const out = new Uint8Array(outWidth * outHeight * cn);
  if (Math.abs(scaleX - intX) < Number.EPSILON && Math.abs(scaleY - intY) < Number.EPSILON) {
    const area = intX * intY;
    const inverse = f(1 / area);
    for (let y = 0; y < outHeight; y++) {
      for (let x = 0; x < outWidth; x++) {
        for (let c = 0; c < cn; c++) {
          let sum = 0;
          for (let j = 0; j < intY; j++) for (let i = 0; i < intX; i++) sum += src[((y * intY + j) * width + x * intX + i) * cn + c];
          out[(y * outWidth + x) * cn + c] = intX === 2 && intY === 2 ? (sum + 2) >> 2 : saturateU8(f(sum * inverse));
        }
      }
    }
    return out;
  }
  const xtab = areaTable(width, outWidth, scaleX);
  const ytab = areaTable(height, outHeight, scaleY);
  const rowWidth = outWidth * cn;
  const buffer = new Float32Array(rowWidth);
  const sum = new Float32Array(rowWidth);
  let previous = ytab[0].di;
  for (const { si: sy, di: dy, alpha: beta } of ytab) {
    buffer.fill(0);
    const row = sy * width * cn;
    for (const { si, di, alpha } of xtab) {
      for (let c = 0; c < cn; c++) buffer[di * cn + c] = f(buffer[di * cn + c] + f(src[row + si * cn + c] * alpha));
    }
    if (dy !== previous) {
      for (let x = 0; x < rowWidth; x++) { out[previous * rowWidth + x] = saturateU8(sum[x]); sum[x] = f(beta * buffer[x]); }
      previous = dy;
    } else {
      for (let x = 0; x < rowWidth; x++) sum[x] = f(sum[x] + f(beta * buffer[x]));
    }
  }
  for (let x = 0; x < rowWidth; x++) out[previous * rowWidth + x] = saturateU8(sum[x]);
  return out;
}

/** OpenCV's computeResizeAreaTab. */
function areaTable(inSize, outSize, scale) {
  const table = [];
  for (let dx = 0; dx < outSize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, inSize - fsx1);
    let sx1 = Math.ceil(fsx1), sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, inSize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) table.push({ di: dx, si: sx1 - 1, alpha: f((sx1 - fsx1) / cellWidth) });
    for (let sx = sx1; sx < sx2; sx++) table.push({ di: dx, si: sx, alpha: f(1 / cellWidth) });
    if (fsx2 - sx2 > 1e-3) table.push({ di: dx, si: sx2, alpha: f(Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth) });
  }
  return table;
}

/** cv2.resize(..., INTER_LINEAR) of uint8 pixels: 11-bit fixed-point weights. */
export function resizeLinear(src, width, height, cn, outWidth, outHeight) {
  const scaleX = 1 / (outWidth / width), scaleY = 1 / (outHeight / height);
  if (roundHalfEven(scaleX) === 2 && roundHalfEven(scaleY) === 2 && Math.abs(scaleX - 2) < Number.EPSILON
      && Math.abs(scaleY - 2) < Number.EPSILON) {
    return resizeArea(src, width, height, cn, outWidth, outHeight);  // what OpenCV does for an exact halving
  }
  const taps = (inSize, outSize, scale) => {
    const index = new Int32Array(outSize), weight = new Int32Array(outSize * 2);
    for (let d = 0; d < outSize; d++) {
      let fx = f((d + 0.5) * scale - 0.5);
      let sx = Math.floor(fx);
      fx = f(fx - sx);
      if (sx < 0) { fx = 0; sx = 0; }
      if (sx >= inSize - 1) { fx = 0; sx = inSize - 1; }
      index[d] = sx;
      weight[2 * d] = roundHalfEven(f(f(1 - fx) * 2048));
      weight[2 * d + 1] = roundHalfEven(f(fx * 2048));
    }
    return { index, weight };
  };
  const xs = taps(width, outWidth, scaleX), ys = taps(height, outHeight, scaleY);
  const rowWidth = outWidth * cn;
  const horizontal = (sy) => {
    const row = new Int32Array(rowWidth);
    const base = sy * width * cn;
    for (let x = 0; x < outWidth; x++) {
      const sx = xs.index[x], next = Math.min(sx + 1, width - 1);
      for (let c = 0; c < cn; c++) {
        row[x * cn + c] = src[base + sx * cn + c] * xs.weight[2 * x] + src[base + next * cn + c] * xs.weight[2 * x + 1];
      }
    }
    return row;
  };
  const out = new Uint8Array(outHeight * rowWidth);
  for (let y = 0; y < outHeight; y++) {
    const sy = ys.index[y];
    const top = horizontal(sy), bottom = horizontal(Math.min(sy + 1, height - 1));
    const b0 = ys.weight[2 * y], b1 = ys.weight[2 * y + 1];
    for (let x = 0; x < rowWidth; x++) {
      // OpenCV's SIMD path (VResizeLinearVec_32s8u): 16-bit high products, then a rounding shift by 2.
      const value = ((((top[x] >> 4) * b0) >> 16) + (((bottom[x] >> 4) * b1) >> 16) + 2) >> 2;
      out[y * rowWidth + x] = value < 0 ? 0 : value > 255 ? 255 : value;
    }
  }
  return out;
}

// ------------------------------------------------------------ hashing.py

/** hashing._thumbnails: (thumbnail, its scale). */
export function thumbnail(image) {
  const { width, height, data } = image;
  const scale = Math.min(1.0, THUMB_SIDE / Math.max(height, width));
  if (scale === 1.0) return { thumb: image, scale };
  const w = Math.max(1, roundHalfEven(width * scale)), h = Math.max(1, roundHalfEven(height * scale));
  let source = data, sw = width, sh = height;
  if (scale < 0.25) {
    source = resizeLinear(data, width, height, 4, 2 * w, 2 * h);
    sw = 2 * w; sh = 2 * h;
  }
  return { thumb: { width: w, height: h, data: resizeArea(source, sw, sh, 4, w, h) }, scale };
}

/** The (x, y) pixel indices of a border ring `width` pixels wide, in hashing._ring's order. */
function ringIndices(w, h, width = 2) {
  const out = [];
  for (let y = 0; y < width; y++) for (let x = 0; x < w; x++) out.push(y * w + x);
  for (let y = h - width; y < h; y++) for (let x = 0; x < w; x++) out.push(y * w + x);
  for (let y = width; y < h - width; y++) for (let x = 0; x < width; x++) out.push(y * w + x);
  for (let y = width; y < h - width; y++) for (let x = w - width; x < w; x++) out.push(y * w + x);
  return out;
}

/** hashing.fit_background: least-squares plane a + b*u + c*v per channel over the
 * border ring (u, v: 0..1 across the width and height). Returns [[a0,a1,a2],[b..],[c..]]. */
export function fitBackground(thumb) {
  const { width: w, height: h, data } = thumb;
  const ata = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  const atb = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (const i of ringIndices(w, h)) {
    const row = [1, (i % w) / Math.max(w - 1, 1), Math.floor(i / w) / Math.max(h - 1, 1)];
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) ata[r][c] += row[r] * row[c];
      for (let ch = 0; ch < 3; ch++) atb[r][ch] += row[r] * data[4 * i + ch];
    }
  }
  return solve3(ata, atb);
}

/** Solve the 3x3 system A X = B (B with 3 columns); least squares via the pseudo-inverse
 * when A is singular (a ring one pixel tall or wide). */
function solve3(a, b) {
  const det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
    + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  if (Math.abs(det) < 1e-9) {
    // Degenerate geometry: fall back to the mean colour (what the plane fit reduces to).
    const n = a[0][0];
    return [[b[0][0] / n, b[0][1] / n, b[0][2] / n], [0, 0, 0], [0, 0, 0]];
  }
  const inv = [
    [a[1][1] * a[2][2] - a[1][2] * a[2][1], a[0][2] * a[2][1] - a[0][1] * a[2][2], a[0][1] * a[1][2] - a[0][2] * a[1][1]],
    [a[1][2] * a[2][0] - a[1][0] * a[2][2], a[0][0] * a[2][2] - a[0][2] * a[2][0], a[0][2] * a[1][0] - a[0][0] * a[1][2]],
    [a[1][0] * a[2][1] - a[1][1] * a[2][0], a[0][1] * a[2][0] - a[0][0] * a[2][1], a[0][0] * a[1][1] - a[0][1] * a[1][0]],
  ];
  const out = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let r = 0; r < 3; r++) for (let ch = 0; ch < 3; ch++) {
    out[r][ch] = (inv[r][0] * b[0][ch] + inv[r][1] * b[1][ch] + inv[r][2] * b[2][ch]) / det;
  }
  return out;
}

/** np.linspace(start, stop, count, dtype=np.float32). */
function linspace32(start, stop, count) {
  const out = new Float32Array(count);
  const div = count - 1;
  const step = div > 0 ? (stop - start) / div : NaN;
  for (let i = 0; i < count; i++) out[i] = div > 0 ? i * step + start : start;
  if (count > 1) out[count - 1] = stop;
  return out;
}

/** hashing.background_difference: per pixel, the largest |pixel - fitted plane|
 * over the channels, float32. `region` = (u0, v0, u1, v1) of the frame the plane was fit on. */
export function backgroundDifference(image, coefficients, region = [0, 0, 1, 1]) {
  const { width: w, height: h, data } = image;
  const c = coefficients.map((row) => row.map(f));
  const us = linspace32(region[0], region[2], w), vs = linspace32(region[1], region[3], h);
  const across = new Float32Array(w * 3);
  for (let x = 0; x < w; x++) for (let ch = 0; ch < 3; ch++) across[3 * x + ch] = f(c[0][ch] + f(c[1][ch] * us[x]));
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const down = [f(c[2][0] * vs[y]), f(c[2][1] * vs[y]), f(c[2][2] * vs[y])];
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      let most = 0;
      for (let ch = 0; ch < 3; ch++) {
        const d = Math.abs(f(data[4 * i + ch] - f(down[ch] + across[3 * x + ch])));
        if (d > most) most = d;
      }
      out[i] = most;
    }
  }
  return out;
}

function usesAlpha(image) {
  for (let i = 3; i < image.data.length; i += 4) if (image.data[i] < 255) return true;
  return false;
}

/** cv2.cvtColor(..., COLOR_BGR2GRAY) on uint8; `bgr` says which order the bytes hold. */
function grey(image, bgr) {
  const { width: w, height: h, data } = image;
  const [k0, k2] = bgr ? [1868, 4899] : [4899, 1868];
  const out = new Int32Array(w * h);
  for (let i = 0; i < w * h; i++) out[i] = (data[4 * i] * k0 + data[4 * i + 1] * 9617 + data[4 * i + 2] * k2 + 8192) >> 14;
  return out;
}

/** |cv2.Laplacian(grey, CV_16S, ksize=3)| (kernel [[2,0,2],[0,-8,0],[2,0,2]], border reflect-101). */
function absLaplacian(g, w, h) {
  const at = (x, y) => {
    const rx = w === 1 ? 0 : x < 0 ? -x : x >= w ? 2 * w - 2 - x : x;
    const ry = h === 1 ? 0 : y < 0 ? -y : y >= h ? 2 * h - 2 - y : y;
    return g[ry * w + rx];
  };
  const out = new Int32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = 2 * (at(x - 1, y - 1) + at(x + 1, y - 1) + at(x - 1, y + 1) + at(x + 1, y + 1)) - 8 * at(x, y);
    out[y * w + x] = Math.abs(Math.max(-32768, Math.min(32767, v)));
  }
  return out;
}

/** hashing.classify_background: 'transparent', 'plain' or 'detailed'. */
export function classifyBackground(thumb, difference, bgr) {
  const { width: w, height: h, data } = thumb;
  let clear = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] < 255) clear++;
  if (clear / (w * h) > TRANSPARENT_SHARE) return "transparent";
  const laplacian = absLaplacian(grey(thumb, bgr), w, h);
  let values;
  if (Math.min(w, h) > 10) {
    values = ringIndices(w - 2, h - 2, 3).map((i) => laplacian[(Math.floor(i / (w - 2)) + 1) * w + (i % (w - 2)) + 1]);
  } else {
    values = Array.from(laplacian);
  }
  if (mean(values) > DETAILED_BACKGROUND) return "detailed";
  const residual = difference ?? backgroundDifference(thumb, fitBackground(thumb));
  return mean(ringIndices(w, h).map((i) => residual[i])) > UNEXPLAINED_BORDER ? "detailed" : "plain";
}

function mean(values) {
  let total = 0;
  for (const v of values) total += v;
  return total / values.length;
}

/** hashing.plain_background_matte: an alpha channel that cuts away a plain
 * (solid or gradient) opaque background connected to the border, or null. */
export function plainBackgroundMatte(image) {
  if (usesAlpha(image)) return null;
  const { thumb } = thumbnail(image);
  const coefficients = fitBackground(thumb);
  // data.matte hands hashing its RGBA bytes, which OpenCV reads as BGR: the grey weighs them in that order.
  if (classifyBackground(thumb, backgroundDifference(thumb, coefficients), true) !== "plain") return null;
  const { width: w, height: h } = image;
  const difference = backgroundDifference(image, coefficients);
  // Near pixels connected (4-neighbours) to a near pixel of the outer ring: cv2.connectedComponents + np.isin.
  const background = new Uint8Array(w * h);
  const stack = new Int32Array(w * h);
  let top = 0;
  const push = (i) => { if (!background[i] && difference[i] <= COLOUR_DRAWN) { background[i] = 1; stack[top++] = i; } };
  for (const i of ringIndices(w, h, 1)) push(i);
  if (top === 0) return null;
  while (top > 0) {
    const i = stack[--top];
    const x = i % w, y = (i - x) / w;
    if (x > 0) push(i - 1);
    if (x < w - 1) push(i + 1);
    if (y > 0) push(i - w);
    if (y < h - 1) push(i + w);
  }
  let count = 0;
  for (let i = 0; i < w * h; i++) count += background[i];
  const share = count / (w * h);
  if (share < 0.05 || share > 0.995) return null;
  const alpha = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    if (!background[i]) { alpha[i] = 255; continue; }
    let soft = f(f(difference[i] - COLOUR_DRAWN / 4) / (COLOUR_DRAWN * 0.75));
    soft = soft < 0 ? 0 : soft > 1 ? 1 : soft;
    alpha[i] = Math.trunc(f(soft * 255));
  }
  return alpha;
}

/** data.matte: the image with its plain background made transparent (else unchanged). */
export function matte(image) {
  const alpha = plainBackgroundMatte(image);
  if (!alpha) return image;
  const data = image.data.slice();
  for (let i = 0; i < alpha.length; i++) data[4 * i + 3] = alpha[i];
  return { ...image, data };
}

/** hashing.content_box: [left, top, right, bottom) of a mask, or null. */
export function contentBox(mask, w, h) {
  let left = w, top = h, right = -1, bottom = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if (mask[y * w + x]) {
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      bottom = y;
    }
  }
  return right < 0 ? null : [left, top, right + 1, bottom + 1];
}

function crop(image, [x0, y0, x1, y1]) {
  const w = x1 - x0, h = y1 - y0;
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) data.set(image.data.subarray(((y0 + y) * image.width + x0) * 4, ((y0 + y) * image.width + x1) * 4), y * w * 4);
  return { width: w, height: h, data };
}

/** hashing._refine_box: a thumbnail box made pixel-exact on the full frame. */
function refineBox(frame, thumb, box, scale) {
  const { width, height } = frame;
  const [left, top, right, bottom] = box;
  const grow = 1.0 / scale;
  const region = [
    Math.max(0, Math.trunc((left - 1) * grow)), Math.max(0, Math.trunc((top - 1) * grow)),
    Math.min(width, Math.ceil((right + 1) * grow)), Math.min(height, Math.ceil((bottom + 1) * grow)),
  ];
  if (scale === 1.0) return box;
  const [x0, y0, x1, y1] = region;
  const patch = crop(frame, region);
  let mask;
  if (usesAlpha(thumb)) {
    mask = new Uint8Array(patch.width * patch.height);
    for (let i = 0; i < mask.length; i++) mask[i] = patch.data[4 * i + 3] > ALPHA_DRAWN;
  } else {
    const fraction = [x0 / Math.max(width - 1, 1), y0 / Math.max(height - 1, 1), (x1 - 1) / Math.max(width - 1, 1), (y1 - 1) / Math.max(height - 1, 1)];
    const difference = backgroundDifference(patch, fitBackground(thumb), fraction);
    mask = difference.map((d) => (d > COLOUR_DRAWN ? 1 : 0));
  }
  const exact = contentBox(mask, patch.width, patch.height);
  return exact ? [exact[0] + x0, exact[1] + y0, exact[2] + x0, exact[3] + y0] : region;
}

/** The box, blank flag and background kind of hashing.hash_frame (what find_content uses of it). */
export function drawnContent(image) {
  const { thumb, scale } = thumbnail(image);
  const difference = usesAlpha(thumb) ? null : backgroundDifference(thumb, fitBackground(thumb));
  const n = thumb.width * thumb.height;
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) mask[i] = difference ? difference[i] > COLOUR_DRAWN : thumb.data[4 * i + 3] > ALPHA_DRAWN;
  // hash_frame gets the frame as BGRA (data.find_content swaps the channels), so its grey is the true one.
  const background = classifyBackground(thumb, difference, false);
  const { width, height } = image;
  const thumbBox = contentBox(mask, thumb.width, thumb.height);
  let drawn = 0;
  for (let i = 0; i < n; i++) drawn += mask[i];
  const blank = thumbBox === null || drawn < Math.max(4, Math.floor(n / 2000));
  let box;
  if (blank) box = [0, 0, width, height];
  else if (background === "detailed") {
    const [l, t, r, b] = thumbBox;
    box = [Math.trunc(l / scale), Math.trunc(t / scale), Math.min(width, Math.ceil(r / scale)), Math.min(height, Math.ceil(b / scale))];
  } else box = refineBox(image, thumb, thumbBox, scale);
  return { box, blank, background };
}

// --------------------------------------------------------------- data.py

/** data.crop_box: a content box grown by CONTENT_MARGIN of its size, clipped. */
export function cropBox([left, top, right, bottom], width, height, margin = CONTENT_MARGIN) {
  if (right <= left || bottom <= top) return [0, 0, width, height];
  const growX = Math.trunc((right - left) * margin), growY = Math.trunc((bottom - top) * margin);
  return [Math.max(0, left - growX), Math.max(0, top - growY), Math.min(width, right + growX), Math.min(height, bottom + growY)];
}

/** data.find_content: (crop box, blank). */
export function findContent(image, wholeFrame = false) {
  const { box, blank } = drawnContent(image);
  if (wholeFrame || blank) return { box: [0, 0, image.width, image.height], blank };
  return { box: cropBox(box, image.width, image.height), blank: false };
}

/** tf.raw_ops.ResizeArea (align_corners=False) on float32 pixels with `cn` channels. */
export function resizeAreaTf(src, height, width, cn, outHeight, outWidth) {
  const heightScale = f(height / outHeight), widthScale = f(width / outWidth);
  const span = (index, scale) => {
    const start = f(index * scale), end = f((index + 1) * scale);
    const weight = (i) => (i < start ? (i + 1 > end ? scale : f(i + 1 - start)) : (i + 1 > end ? f(end - i) : 1.0));
    return { first: Math.floor(start), last: Math.ceil(end), weight };
  };
  const xs = [];
  for (let x = 0; x < outWidth; x++) {
    const s = span(x, widthScale);
    xs.push({ start: s.first, end: s.last, startScale: s.weight(s.first), endScale: s.weight(s.last - 1) });
  }
  const bound = (v, limit) => Math.min(limit - 1, Math.max(0, v));
  const scale = f(1.0 / f(heightScale * widthScale));
  const out = new Float32Array(outHeight * outWidth * cn);
  for (let y = 0; y < outHeight; y++) {
    const s = span(y, heightScale);
    const rows = [], weights = [];
    for (let i = s.first; i < s.last; i++) { rows.push(bound(i, height) * width * cn); weights.push(s.weight(i)); }
    for (let x = 0; x < outWidth; x++) {
      const { start, end, startScale, endScale } = xs[x];
      for (let c = 0; c < cn; c++) {
        let sum = 0;
        for (let r = 0; r < rows.length; r++) {
          const row = rows[r];
          let sumY = f(src[row + cn * bound(start, width) + c] * startScale);
          if (start + 1 !== end) {
            for (let xx = start + 1; xx < end - 1; xx++) sumY = f(sumY + src[row + cn * bound(xx, width) + c]);
            sumY = f(sumY + f(src[row + cn * bound(end - 1, width) + c] * endScale));
          }
          sum = f(sum + f(sumY * weights[r]));
        }
        out[(y * outWidth + x) * cn + c] = f(sum * scale);
      }
    }
  }
  return out;
}

/** data.letterbox: crop to `box`, fit into size = [height, width] keeping aspect
 * (premultiplied area resize), shrunk by `zoom`, centred on transparent padding.
 * RGBA float32, whole numbers in 0..255. */
export function letterbox(image, box, size, zoom = 1.0) {
  const [left, top, right, bottom] = box;
  const ch = bottom - top, cw = right - left;
  const premultiplied = new Float32Array(ch * cw * 4);
  for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) {
    const s = ((top + y) * image.width + left + x) * 4, o = (y * cw + x) * 4;
    const alpha = f(image.data[s + 3] / 255.0);
    for (let c = 0; c < 3; c++) premultiplied[o + c] = f(image.data[s + c] * alpha);
    premultiplied[o + 3] = image.data[s + 3];
  }
  const scale = f(Math.min(f(size[0] / ch), f(size[1] / cw)) * f(zoom));
  const fh = Math.max(roundHalfEven(f(ch * scale)), 1), fw = Math.max(roundHalfEven(f(cw * scale)), 1);
  const resized = resizeAreaTf(premultiplied, ch, cw, 4, fh, fw);
  // tf.image.resize_with_crop_or_pad: crop the centre if larger, pad around it if smaller.
  const [H, W] = size;
  const cropY = Math.max(Math.floor((fh - H) / 2), 0), cropX = Math.max(Math.floor((fw - W) / 2), 0);
  const padY = Math.max(Math.floor((H - fh) / 2), 0), padX = Math.max(Math.floor((W - fw) / 2), 0);
  const keptH = Math.min(H, fh), keptW = Math.min(W, fw);
  const out = new Float32Array(H * W * 4);
  for (let y = 0; y < keptH; y++) for (let x = 0; x < keptW; x++) {
    const s = ((y + cropY) * fw + x + cropX) * 4, o = ((y + padY) * W + x + padX) * 4;
    const alpha = f(resized[s + 3] / 255.0);
    for (let c = 0; c < 3; c++) {
      const colour = alpha === 0 ? 0 : f(resized[s + c] / alpha);
      out[o + c] = roundHalfEven(Math.min(255, Math.max(0, colour)));
    }
    out[o + 3] = roundHalfEven(Math.min(255, Math.max(0, resized[s + 3])));
  }
  return out;
}

/** data.compose: RGBA float over a grey -> RGB float32 (the model's input). */
export function compose(rgba, background = PREDICT_BACKGROUND) {
  const n = rgba.length / 4;
  const out = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const alpha = f(rgba[4 * i + 3] / 255.0);
    const rest = f(background * f(1.0 - alpha));
    for (let c = 0; c < 3; c++) out[3 * i + c] = f(f(rgba[4 * i + c] * alpha) + rest);
  }
  return out;
}

/** data.prepare: the model input (height x width x 3 float32) at `zoom`, the crop box and whether the image is blank. */
export function prepare(image, size, wholeFrame = false, zoom = 1.0) {
  const matted = matte(image);
  const { box, blank } = findContent(matted, wholeFrame);
  return { inputs: compose(letterbox(matted, box, size, zoom)), box, blank };
}

/** hashing.compose_over: RGBA uint8 over grey 128 -> RGB uint8 (the overlay's base picture). */
export function composeOver(image, value = HASH_BACKGROUND) {
  const n = image.width * image.height;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    const alpha = f(image.data[4 * i + 3] / 255);
    for (let c = 0; c < 3; c++) out[4 * i + c] = Math.trunc(f(f(image.data[4 * i + c] * alpha) + f(value * f(1 - alpha))));
    out[4 * i + 3] = 255;
  }
  return out;
}
