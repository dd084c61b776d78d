// The page: loads every phase's model once, reads pictures the way `ocpipe
// predict` does, and shows the answer with confidence bars and the heat map.
//
// For scripts and tests (CONTRACT.md, "export"):
//   window.ocpipe.ready            resolves once the models are loaded
//   window.ocpipe.classify(url, phase)  -> {top, scores, heatmap, ...}
//   window.ocpipe.overlay(url, phase)   -> the overlay as the page draws it (PNG data URL)

import * as ort from "./runtime/ort.wasm.bundle.min.mjs";
import { checkPixels, decodePng, shrink } from "./preprocess.mjs";
import { PhaseModel, halfFloats, overlay, unletterbox } from "./model.mjs";

// readers.py's pixel budget and working size, and app.py's scene rule, come from
// site.json (state.site, loaded before any picture is read).
const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

const PHASE_NAMES = { eyes: "eyes", headshot: "headshot", fullbody: "full body", multi: "scene (several characters)" };

const $ = (id) => document.getElementById(id);

async function fetchJson(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

async function load() {
  const site = await fetchJson("site.json");
  // Threads need a cross-origin-isolated page (special server headers); plain static hosts get one thread.
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  // Only the .wasm file is fetched: the bundle carries its own loader.
  ort.env.wasm.wasmPaths = { wasm: new URL("runtime/ort-wasm-simd-threaded.wasm", document.baseURI).href };
  const sessions = new Map();
  const models = {};
  for (const phase of site.phases) {
    const meta = await fetchJson(`models/${phase}.json`);
    if (!sessions.has(meta.trunk)) {
      sessions.set(meta.trunk, ort.InferenceSession.create(meta.trunk, { executionProviders: ["wasm"], graphOptimizationLevel: "all" }));
    }
    const familiar = meta.familiarity;
    let references = null;
    if (familiar) {
      const response = await fetch(familiar.file);
      if (!response.ok) throw new Error(`${familiar.file}: ${response.status}`);
      references = halfFloats(new Uint16Array(await response.arrayBuffer()));
      if (references.length !== familiar.count * familiar.dims) throw new Error(`${familiar.file}: ${references.length} values, not ${familiar.count} x ${familiar.dims}`);
    }
    models[phase] = new PhaseModel(meta, await sessions.get(meta.trunk), ort, references);
  }
  return { site, models };
}

/** An image file's bytes as {width, height, data (RGBA)}: readers.read_picture at the working size. */
export async function readImage(bytes) {
  const { max_image_pixels: maxPixels, work_max_side: maxSide } = state.site;
  let image;
  if (bytes.length >= 8 && PNG_SIGNATURE.every((v, i) => bytes[i] === v)) {
    image = await decodePng(bytes, maxPixels);
  } else {
    // JPEG, GIF, WebP: the browser decodes (EXIF rotation applied, no colour management).
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([bytes]), { premultiplyAlpha: "none", colorSpaceConversion: "none", imageOrientation: "from-image" });
    } catch {
      throw new Error("not an image this page can read (PNG, JPEG, GIF or WebP)");
    }
    checkPixels(bitmap.width, bitmap.height, maxPixels);
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    image = { width: bitmap.width, height: bitmap.height, data: new Uint8Array(context.getImageData(0, 0, bitmap.width, bitmap.height).data.buffer), decodedBy: "browser" };
    bitmap.close();
  }
  return shrink(image, maxSide);
}

/** app.Models.pick_phase: the trained phase whose input shape is closest to the picture's. */
function pickPhase(models, image) {
  const aspect = Math.log(image.width / image.height);
  const trained = Object.keys(models);
  if (models.multi && image.width >= state.site.scene_width && aspect > 0.3) return "multi";
  const candidates = trained.filter((p) => p !== "multi").length ? trained.filter((p) => p !== "multi") : trained;
  const distance = (p) => Math.abs(Math.log(models[p].size[1] / models[p].size[0]) - aspect);
  return candidates.reduce((best, p) => (distance(p) < distance(best) ? p : best));
}

const state = { loaded: null, last: null };

async function classifyImage(image, phase, explain = null) {
  const { models } = await state.loaded;
  const chosen = !phase || phase === "auto" ? pickPhase(models, image) : phase;
  if (!models[chosen]) throw new Error(`no model for phase '${chosen}' here (this page has: ${Object.keys(models).join(", ")})`);
  const result = await models[chosen].classify(image, explain);
  result.auto = chosen !== phase;
  if (image.animated) result.note = "an animated image: its first frame is used";
  return result;
}

async function bytesOf(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The overlay the page draws: heat maps of the explained classes (max of them), over the picture. */
function drawOverlay(image, result, site) {
  const model = state.models[result.phase];
  const maps = Object.values(result.heatmaps).map((rows) => unletterbox(rows, result.box, model.size, image.width, image.height, model.zoom));
  const heat = maps.reduce((a, b) => a.map((v, i) => Math.max(v, b[i])));
  return new ImageData(overlay(image, heat, site.colormap), image.width, image.height);
}

function show(image, result) {
  const { site } = state;
  const canvas = $("overlay");
  canvas.width = image.width;
  canvas.height = image.height;
  // Small drawings are shown larger (CSS keeps them within the screen).
  canvas.style.width = `${Math.max(image.width, Math.min(320, (320 * image.width) / image.height))}px`;
  const withHeat = drawOverlay(image, result, site);
  const plain = new ImageData(overlay(image, new Float32Array(image.width * image.height), site.colormap), image.width, image.height);
  const paint = () => canvas.getContext("2d").putImageData($("show-heat").checked ? withHeat : plain, 0, 0);
  $("show-heat").onchange = paint;
  paint();
  $("summary").textContent = result.summary;
  $("summary").className = result.recognised ? "found" : "unknown";
  const bars = $("bars");
  bars.replaceChildren();
  const labels = new Set(result.labels || []);
  for (const [name, score] of Object.entries(result.scores).sort((a, b) => b[1] - a[1])) {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "name";
    label.textContent = labels.has(name) ? `${name} ✓` : name;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${(100 * score).toFixed(1)}%`;
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = `${(100 * score).toFixed(1)}%`;
    item.append(label, track, value);
    bars.append(item);
  }
  const meta = state.models[result.phase].meta;
  const how = result.auto ? "picked by the picture's shape; choose another above" : meta.measured;
  $("phase-note").textContent = `Model: ${PHASE_NAMES[result.phase] || result.phase}${how ? ` (${how})` : ""}.`
    + (result.auto && meta.measured ? ` It was ${meta.measured}.` : "") + (result.note ? ` Note: ${result.note}.` : "");
  $("result").hidden = false;
}

async function tryPicture(bytes, source) {
  $("status").textContent = `Looking at ${source}…`;
  try {
    const image = await readImage(bytes);
    const result = await classifyImage(image, $("phase").value);
    show(image, result);
    $("status").textContent = "";
  } catch (error) {
    $("status").textContent = `Sorry: ${error.message}`;
  }
}

function wire(site) {
  for (const phase of site.phases) {
    const option = document.createElement("option");
    option.value = phase;
    option.textContent = PHASE_NAMES[phase] || phase;
    $("phase").append(option);
  }
  $("file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) await tryPicture(new Uint8Array(await file.arrayBuffer()), file.name);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) await tryPicture(new Uint8Array(await file.arrayBuffer()), file.name);
  });
  document.addEventListener("paste", async (event) => {
    const item = [...(event.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (item) await tryPicture(new Uint8Array(await item.getAsFile().arrayBuffer()), "the pasted picture");
  });
  const examples = $("examples");
  for (const phase of site.phases) {
    const meta = state.models[phase].meta;
    if (!meta.examples.length) continue;
    const heading = document.createElement("h2");
    heading.textContent = `Examples: ${PHASE_NAMES[phase] || phase}`;
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = meta.examples_note;
    const row = document.createElement("div");
    row.className = "gallery";
    for (const example of meta.examples) {
      const button = document.createElement("button");
      button.type = "button";
      button.title = example.label;
      const picture = document.createElement("img");
      picture.src = example.file;
      picture.alt = `an example of ${example.label}`;
      picture.loading = "lazy";
      const caption = document.createElement("span");
      caption.textContent = example.label;
      button.append(picture, caption);
      button.addEventListener("click", async () => {
        $("phase").value = phase;
        await tryPicture(await bytesOf(example.file), `an example of ${example.label}`);
      });
      row.append(button);
    }
    examples.append(heading, note, row);
  }
}

state.loaded = load();
const ready = state.loaded.then(({ site, models }) => {
  state.site = site;
  state.models = models;
  wire(site);
  $("status").textContent = "Ready: choose, drop or paste a picture, or click an example.";
  return site.phases;
});
ready.catch((error) => { $("status").textContent = `The model could not be loaded: ${error.message}`; });

window.ocpipe = {
  ready,
  /** CONTRACT.md: a Promise of {top, scores, heatmap, ...} for an image URL on this site. */
  async classify(url, phase) {
    await ready;
    const started = performance.now();
    const image = await readImage(await bytesOf(url));
    const read = performance.now() - started;
    const result = await classifyImage(image, phase);
    result.timings_ms = { read, ...result.timings_ms };
    return result;
  },
  /** The overlay the page draws for this image as a PNG data URL (tests compare it with `ocpipe explain`);
   * `className`: draw that class's heat map only (explain --class), else what the page shows. */
  async overlay(url, phase, className = null) {
    await ready;
    const image = await readImage(await bytesOf(url));
    const result = await classifyImage(image, phase, className ? [className] : null);
    const canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext("2d").putImageData(drawOverlay(image, result, state.site), 0, 0);
    return canvas.toDataURL("image/png");
  },
};
