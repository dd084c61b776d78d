// One phase's model in the page: the trunk (ONNX Runtime Web) gives the Grad-CAM
// layer's activations and the head's input features; the head, the open-set
// answer and Grad-CAM are computed here from the exported weights.
//
// Mirrors ocpipe/predict.py (Predictor.run / describe / summary), ocpipe/openset.py
// (score) and ocpipe/gradcam.py (gradcam_heatmaps, unletterbox, overlay).

import { prepare, composeOver, roundHalfEven } from "./preprocess.mjs";

const f = Math.fround;

/** IEEE half floats (uint16) as a Float32Array: numpy's float16 values, exactly. */
export function halfFloats(halves) {
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) {
    const h = halves[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    out[i] = exponent === 0 ? sign * mantissa * 2 ** -24
      : exponent === 31 ? (mantissa ? NaN : sign * Infinity)
      : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return out;
}

export class PhaseModel {
  /** meta: models/<phase>.json; session: an ort.InferenceSession of its trunk;
   * references: her training frames' unit features (count x dims, row-major) for
   * the familiarity floor, or null. */
  constructor(meta, session, ort, references = null) {
    this.references = references;
    this.meta = meta;
    this.session = session;
    this.ort = ort;
    this.classes = meta.classes;
    this.size = meta.image_size;
    this.zoom = meta.input_zoom ?? 1.0;  // sites exported before the prediction zoom show drawings at 1.0
    const head = meta.head;
    this.kernel = Float32Array.from(head.kernel);  // features x classes, row-major
    this.bias = Float32Array.from(head.bias);
    this.noneKernel = meta.open_set ? Float32Array.from(meta.open_set.none_kernel) : null;
  }

  /** The trunk's outputs for a prepared input (height x width x 3 float32). */
  async trunk(inputs) {
    const [height, width] = this.size;
    const tensor = new this.ort.Tensor("float32", inputs, [1, height, width, 3]);
    const out = await this.session.run({ [this.session.inputNames[0]]: tensor });
    const map = out[this.meta.head.gradcam.output];
    return { features: out[this.meta.head.features_output].data, map: map.data, mapHeight: map.dims[1], mapWidth: map.dims[2] };
  }

  /** Logits of the Dense head (and the open-set 'none' logit) for pooled features. */
  logits(features) {
    const classes = this.classes.length;
    const z = Array.from(this.bias, Number);
    let none = this.noneKernel ? this.meta.open_set.none_bias : null;
    for (let d = 0; d < features.length; d++) {
      const value = features[d];
      if (value === 0) continue;
      const row = d * classes;
      for (let c = 0; c < classes; c++) z[c] += value * this.kernel[row + c];
      if (this.noneKernel) none += value * this.noneKernel[d];
    }
    return { z, none };
  }

  /** openset.familiarity: cosine similarity of the features to the most similar reference. */
  familiarity(features) {
    const dims = features.length;
    let norm = 0;
    for (let d = 0; d < dims; d++) norm += features[d] * features[d];
    norm = Math.max(Math.sqrt(norm), 1e-12);
    let best = -Infinity;
    for (let r = 0; r + dims <= this.references.length; r += dims) {
      let dot = 0;
      for (let d = 0; d < dims; d++) dot += features[d] * this.references[r + d];
      if (dot > best) best = dot;
    }
    return best / norm;
  }

  /** Class probabilities as the float32 model output gives them. */
  probabilities(z) {
    if (this.meta.multi_label) return z.map((v) => f(1 / (1 + Math.exp(-v))));
    const top = Math.max(...z);
    const e = z.map((v) => Math.exp(v - top));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => f(v / total));
  }

  /** Grad-CAM of class `index` in closed form, 0..1 at the map's resolution (rows).
   * The Grad-CAM layer reaches the scores through global average pooling and one
   * Dense layer, so d p_c / d A[i,j,k] is the same at every position and equals,
   * up to a positive factor, g . W[offset + k, :] with g = d p_c / d logits:
   * softmax g_j = (delta_cj - p_c) p_j, sigmoid g_c = p_c (1 - p_c). p is taken
   * as float32, as TensorFlow's gradient sees it (a p_c of exactly 1.0 drops
   * its own term there too). The map is relu(sum_k A[., ., k] w_k) over its maximum. */
  gradcam(trunkOut, probabilities, index) {
    const classes = this.classes.length;
    const g = new Float64Array(classes);
    if (this.meta.multi_label) {
      g[index] = f(probabilities[index] * f(1 - probabilities[index]));
    } else {
      const pc = probabilities[index];
      for (let j = 0; j < classes; j++) g[j] = f(f((j === index ? 1 : 0) - pc) * probabilities[j]);
    }
    const { offset, channels } = this.meta.head.gradcam;
    const weights = new Float64Array(channels);
    for (let k = 0; k < channels; k++) {
      const row = (offset + k) * classes;
      let w = 0;
      for (let j = 0; j < classes; j++) w += g[j] * this.kernel[row + j];
      weights[k] = w;
    }
    const { map, mapHeight, mapWidth } = trunkOut;
    const heat = new Float64Array(mapHeight * mapWidth);
    let peak = 0;
    for (let p = 0; p < heat.length; p++) {
      let v = 0;
      const base = p * channels;
      for (let k = 0; k < channels; k++) v += map[base + k] * weights[k];
      heat[p] = v > 0 ? v : 0;
      if (heat[p] > peak) peak = heat[p];
    }
    const rows = [];
    for (let y = 0; y < mapHeight; y++) {
      rows.push(Array.from(heat.subarray(y * mapWidth, (y + 1) * mapWidth), (v) => (peak > 0 ? v / peak : 0)));
    }
    return rows;
  }

  /** predict.Predictor.predict_rgba + explain: the contract's answer for one RGBA image.
   * `explain`: the class names to draw heat maps for (default: the labels found,
   * for a multi-label phase, else the top class), as explain.explain_rgba. */
  async classify(image, explain = null) {
    const started = performance.now();
    const prepared = prepare(image, this.size, this.meta.whole_frame, this.zoom);
    const preparedAt = performance.now();
    const out = await this.trunk(prepared.inputs);
    const networkAt = performance.now();
    const { z, none } = this.logits(out.features);
    const probabilities = this.probabilities(z);
    const familiar = this.references ? this.familiarity(out.features) : null;
    const unfamiliar = familiar !== null && familiar < this.meta.familiarity.floor;
    const scores = Object.fromEntries(this.classes.map((name, i) => [name, probabilities[i]]));
    let top = 0;
    probabilities.forEach((p, i) => { if (p > probabilities[top]) top = i; });
    const result = { top: this.classes[top], scores };
    let explained = [top];
    if (this.meta.multi_label) {
      const thresholds = this.meta.thresholds || {};
      result.labels = prepared.blank || unfamiliar ? [] : this.classes.filter((name) => scores[name] >= (thresholds[name] ?? 0.5));
      result.recognised = result.labels.length > 0;
      if (result.labels.length) explained = result.labels.map((name) => this.classes.indexOf(name));
    } else if (this.meta.open_set) {
      const score = openSetScore(z, none);
      result.recognised = !prepared.blank && score >= this.meta.open_set.threshold && !unfamiliar;
      result.open_set_score = score;
    } else {
      result.recognised = !prepared.blank && !unfamiliar;
    }
    if (familiar !== null) result.familiarity = familiar;
    if (unfamiliar && !prepared.blank) result.unfamiliar = true;
    if (prepared.blank) result.blank = true;
    if (explain) {
      const unknown = explain.filter((name) => !this.classes.includes(name));
      if (unknown.length) throw new Error(`unknown class ${unknown.join(", ")} (the ${this.meta.phase} model knows ${this.classes.join(", ")})`);
      explained = explain.map((name) => this.classes.indexOf(name));
    }
    result.heatmap = this.gradcam(out, probabilities, top);
    result.heatmaps = Object.fromEntries(explained.map((i) => [this.classes[i], i === top ? result.heatmap : this.gradcam(out, probabilities, i)]));
    result.box = prepared.box;
    result.phase = this.meta.phase;
    result.summary = summary(result);
    result.timings_ms = { prepare: preparedAt - started, network: networkAt - preparedAt, head_and_gradcam: performance.now() - networkAt };
    return result;
  }
}

/** openset.score: the top character probability when a 'none of them' logit competes. */
export function openSetScore(z, none) {
  const all = [...z, none];
  const top = Math.max(...all);
  const e = all.map((v) => Math.exp(v - top));
  const total = e.reduce((a, b) => a + b, 0);
  return Math.max(...e.slice(0, -1)) / total;
}

const percent = (p, digits) => `${(100 * p).toFixed(digits)}%`;

/** predict.summary: one line of plain words for a result. */
export function summary(result, top = 3) {
  const ranked = Object.entries(result.scores).sort((a, b) => b[1] - a[1]);
  if ("labels" in result) {
    const listed = ranked.slice(0, top).map(([n, s]) => `${n} ${percent(s, 1)}`).join(", ");
    const found = result.labels.length ? result.labels.join(", ") : "no character over its threshold";
    return `${found}  (${listed})`;
  }
  if (result.recognised ?? true) return ranked.slice(0, top).map(([n, s]) => `${n} ${percent(s, 1)}`).join(", ");
  const why = result.blank ? "nothing drawn" : `closest: ${ranked[0][0]} ${percent(ranked[0][1], 0)}`;
  return `none of the trained characters (${why})`;
}

// ------------------------------------------------------------ the overlay

function cubicWeights(x) {
  const A = -0.75;
  const w0 = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  const w1 = ((A + 2) * x - (A + 3)) * x * x + 1;
  const w2 = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  return [w0, w1, w2, 1 - w0 - w1 - w2];
}

/** cv2.resize of a float map (rows) to outHeight x outWidth: INTER_CUBIC or INTER_LINEAR. */
function resizeMap(src, height, width, outHeight, outWidth, cubic) {
  const taps = (inSize, outSize) => {
    const scale = inSize / outSize;
    return Array.from({ length: outSize }, (_, d) => {
      const fx = (d + 0.5) * scale - 0.5;
      const sx = Math.floor(fx);
      const t = fx - sx;
      const clamp = (i) => Math.min(inSize - 1, Math.max(0, i));
      if (cubic) return cubicWeights(t).map((w, k) => [clamp(sx - 1 + k), w]);
      return [[clamp(sx), 1 - t], [clamp(sx + 1), t]];
    });
  };
  const ys = taps(height, outHeight), xs = taps(width, outWidth);
  const out = new Float32Array(outHeight * outWidth);
  for (let y = 0; y < outHeight; y++) for (let x = 0; x < outWidth; x++) {
    let v = 0;
    for (const [sy, wy] of ys[y]) for (const [sx, wx] of xs[x]) v += wy * wx * src[sy * width + sx];
    out[y * outWidth + x] = v;
  }
  return out;
}

/** gradcam.unletterbox: a map over the letterboxed input (the crop shown at `zoom`) laid back onto the image (zeros outside the box). */
export function unletterbox(rows, box, inputSize, imageWidth, imageHeight, zoom = 1.0) {
  const mapHeight = rows.length, mapWidth = rows[0].length;
  const flat = Float32Array.from(rows.flat());
  const [H, W] = inputSize;
  const full = resizeMap(flat, mapHeight, mapWidth, H, W, true).map((v) => Math.min(1, Math.max(0, v)));
  const [left, top, right, bottom] = box;
  const cropH = bottom - top, cropW = right - left;
  const scale = Math.min(H / cropH, W / cropW) * zoom;
  const contentH = Math.max(1, roundHalfEven(cropH * scale)), contentW = Math.max(1, roundHalfEven(cropW * scale));
  const offsetY = Math.floor((H - contentH) / 2), offsetX = Math.floor((W - contentW) / 2);
  const content = new Float32Array(contentH * contentW);
  for (let y = 0; y < contentH; y++) for (let x = 0; x < contentW; x++) content[y * contentW + x] = full[(offsetY + y) * W + offsetX + x];
  const placed = resizeMap(content, contentH, contentW, cropH, cropW, false);
  const out = new Float32Array(imageWidth * imageHeight);
  for (let y = 0; y < cropH; y++) out.set(placed.subarray(y * cropW, (y + 1) * cropW), (top + y) * imageWidth + left);
  return out;
}

/** gradcam.overlay over hashing.compose_over(image): RGBA bytes for a canvas. `heat` is 0..1 per image pixel. */
export function overlay(image, heat, colormap, alpha = 0.45) {
  const out = composeOver(image);
  for (let i = 0; i < heat.length; i++) {
    const h = heat[i];
    const colour = colormap[Math.trunc(h * 255)];
    const weight = alpha * h;
    for (let c = 0; c < 3; c++) out[4 * i + c] = Math.trunc(out[4 * i + c] * (1 - weight) + colour[c] * weight);
  }
  return out;
}
