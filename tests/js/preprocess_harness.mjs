// Runs ocpipe/export/web/preprocess.mjs on jobs from a JSON file and writes the
// results as JSON (arrays as base64), for tests/test_export_preprocess.py:
//   node preprocess_harness.mjs PREPROCESS_MJS_URL JOBS.json OUT.json
import { readFileSync, writeFileSync } from "node:fs";

const P = await import(process.argv[2]);
const jobs = JSON.parse(readFileSync(process.argv[3], "utf8"));
const b64 = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64");
const bytes = (text) => new Uint8Array(Buffer.from(text, "base64"));
const out = [];
for (const job of jobs) {
  try {
    if (job.op === "prepare") {
      const decoded = await P.decodePng(new Uint8Array(readFileSync(job.path)), 50_000_000);
      const image = P.shrink(decoded, P.WORK_MAX_SIDE);
      const matted = P.matte(image);
      const content = P.findContent(matted, job.whole);
      const prepared = P.prepare(image, job.size, job.whole, job.zoom ?? 1.0);
      out.push({ width: image.width, height: image.height, rgba: b64(image.data), animated: decoded.animated,
                 matte: b64(matted.data), content, inputs: b64(prepared.inputs), box: prepared.box, blank: prepared.blank });
    } else if (job.op === "area" || job.op === "linear") {
      const resize = job.op === "area" ? P.resizeArea : P.resizeLinear;
      out.push({ out: b64(resize(bytes(job.data), job.width, job.height, job.channels, job.outWidth, job.outHeight)) });
    } else if (job.op === "tfarea") {
      const source = new Float32Array(bytes(job.data).buffer);
      out.push({ out: b64(P.resizeAreaTf(source, job.height, job.width, job.channels, job.outHeight, job.outWidth)) });
    } else {
      out.push({ error: `unknown op ${job.op}` });
    }
  } catch (error) {
    out.push({ error: String(error && error.message) });
  }
}
writeFileSync(process.argv[4], JSON.stringify(out));
