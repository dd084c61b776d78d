"""`ocpipe export web OUT_DIR`: a workspace's trained models as a static site.

What the site holds (all served as plain files; no server code):

    index.html, app.mjs, model.mjs, preprocess.mjs, style.css   the page (ocpipe/export/web)
    runtime/      ONNX Runtime Web (vendored, pinned, with its licence)
    models/       trunk-<digest>.onnx (one per distinct trunk: one for every phase of
                  the default backbone) and <phase>.json (classes, head weights,
                  open-set column and threshold, Grad-CAM offsets, examples)
    examples/     a few test-split frames per character, copied byte for byte
    site.json     title, phases, the colour map of the overlay
    README.md     front matter of a static Hugging Face Space, and how to publish

The page mirrors `ocpipe predict`'s preprocessing in JavaScript (preprocess.mjs,
checked against the Python functions by tests/test_export_preprocess.py), runs
the trunk with ONNX Runtime Web and computes the head, the open-set answer and
Grad-CAM itself (model.mjs). The site is written to a temporary folder and swapped
in, so a failed export leaves the previous one intact.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ..config import MAX_IMAGE_PIXELS, PHASES, SCENE_WIDTH, WORK_MAX_SIDE
from ..errors import ExportError, OcpipeError
from ..manifest import staged_folder
from ..workspace import Workspace

log = logging.getLogger(__name__)

# The vendored runtime (ocpipe/assets/onnxruntime-web, see its README.md).
RUNTIME_VERSION = "1.30.0"
RUNTIME_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm", "LICENSE", "ThirdPartyNotices.txt", "README.md")
PAGE_FILES = ("index.html", "app.mjs", "model.mjs", "preprocess.mjs", "style.css")
# Test-split frames copied per character and phase, by default.
DEFAULT_EXAMPLES = 3
DEFAULT_TITLE = "Who is this? My characters, recognised"
# A file in every exported site: an existing OUT_DIR is replaced only when it holds one.
MARKER = ".ocpipe-export"
# Prepared frames per phase that export runs through both Keras and the ONNX trunk.
VERIFY_FRAMES = 8
# With float16 weights export accepts this much difference from Keras (float32: graph.MAX_SCORE_DIFFERENCE);
# measured up to 0.0025 on `multi` scenes, against the 0.01 the page must agree with `ocpipe predict` within.
HALF_TOLERANCE = 0.005


@dataclass
class ExportResult:
    out_dir: Path
    phases: list[str]
    files: dict[str, int]  # relative path -> bytes
    max_score_difference: dict[str, float]  # phase -> ONNX vs Keras on its verification frames
    examples: int
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())

    def bytes_under(self, prefix: str) -> int:
        return sum(size for name, size in self.files.items() if name.startswith(prefix))


def _float32_list(values: np.ndarray) -> list[float]:
    """Numbers that read back (in JavaScript's Float32Array too) as exactly these float32 values, written short."""
    return [float(str(value)) for value in np.asarray(values, np.float32).ravel()]


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return slug[:40] or "character"


def _colormap() -> list[list[int]]:
    """OpenCV's COLORMAP_JET as RGB rows, the overlay's colours in `ocpipe explain`."""
    import cv2

    table = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), cv2.COLORMAP_JET)[:, 0, ::-1]
    return table.astype(int).tolist()


def pick_examples(workspace: Workspace, phase: str, per_character: int) -> list[dict]:
    """Up to `per_character` test-split frames of each character (labels) of a phase,
    taken from different animations first: [{"path": absolute Path, "label": str}]."""
    from ..manifest import read_table, split_labels

    if per_character <= 0 or not workspace.manifest.exists():
        return []
    by_label: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for row in read_table(workspace.manifest):
        if row["phase"] == phase and row["split"] == "test":
            path = workspace.absolute(row["path"])
            if path.exists():
                by_label[", ".join(split_labels(row["labels"]))][row["source_id"]].append(path)
    chosen = []
    for label in sorted(by_label, key=str.lower):
        sources = [sorted(paths) for _, paths in sorted(by_label[label].items())]
        picked: list[Path] = []
        depth = 0
        while len(picked) < per_character and any(depth < len(paths) for paths in sources):
            # Round-robin over the animations, each from its middle outwards, so the few shown differ.
            for paths in sources:
                order = sorted(range(len(paths)), key=lambda i: abs(i - len(paths) // 2))
                if depth < len(paths) and len(picked) < per_character:
                    picked.append(paths[order[depth]])
            depth += 1
        chosen += [{"path": path, "label": label} for path in picked]
    return chosen


def _measured(metrics: dict) -> str:
    """A short line on how well the phase did on drawings it had not seen, from metrics.json."""
    if metrics.get("test_accuracy") is not None:
        return f"{metrics['test_accuracy']:.0%} right on drawings it had not seen"
    if metrics.get("test_micro_f1") is not None:
        return f"micro-F1 {metrics['test_micro_f1']:.2f} on scenes it had not seen"
    return ""


def _examples_note(metrics: dict) -> str:
    if metrics.get("regime") == "cross-validation":
        return ("From the test split. Measured by cross-validation (each animation judged by a model that never saw it); "
                "the model on this page learned from every animation, these included.")
    return "From the test split: animations the model never saw while learning."


def _readme(title: str, phases: list[str], sizes: dict[str, int]) -> str:
    total = sum(sizes.values()) / 1e6
    heading = json.dumps(title[:60], ensure_ascii=False)
    return f"""---
title: {heading}
emoji: 🎨
colorFrom: purple
colorTo: pink
sdk: static
app_file: index.html
pinned: false
---

# {title}

A static page that recognises the characters ({", ".join(phases)}) in the visitor's browser and
shows where the model looked (Grad-CAM). Made with `ocpipe export web`. Nothing is uploaded anywhere:
the model runs in the page with ONNX Runtime Web {RUNTIME_VERSION} (WebAssembly, shipped in `runtime/`),
and the page requests nothing outside this folder. Size: {total:.1f} MB.

## Publish it

The folder is the whole site; any static host serves it as it is. It must be served over http(s),
not opened as a file (browsers refuse to load the model from `file://`). To look at it locally:
`python -m http.server -d THIS_FOLDER 8000`, then open http://127.0.0.1:8000.

* **Hugging Face Space (free):** create a Space with the *Static* SDK, then upload every file of this
  folder in the web interface ("Files" > "Add file" > "Upload files"), this README.md included (its header
  configures the Space). With git instead: `git lfs install`, clone the Space, copy the folder in,
  `git lfs track "*.wasm" "*.onnx"` (files over 10 MB must go through Git LFS), commit, push.
* **GitHub Pages (free):** put the folder's contents in a repository (the root, or `docs/`), then
  Settings > Pages > "Deploy from a branch". The empty `.nojekyll` file keeps every file served as it is.
* **Netlify, Cloudflare Pages and similar:** drag the folder onto their "deploy" page.
* **On a portfolio (Wix, Squarespace, WordPress, Carrd):** publish it with one of the above, then add an
  "Embed HTML" / iframe block:
  `<iframe src="https://YOUR-NAME.github.io/YOUR-REPO/" width="100%" height="1000" style="border:0"></iframe>`
  (for a Space, its direct address is `https://USER-SPACE.static.hf.space`).

For scripts: `window.ocpipe.ready` resolves once the models are loaded, and
`window.ocpipe.classify(url, phase)` answers `{{"top", "scores", "heatmap", ...}}` for an image on the site.
"""


def _write_page(staging: Path, title: str) -> None:
    import html

    web = resources.files("ocpipe.export").joinpath("web")
    for name in PAGE_FILES:
        text = web.joinpath(name).read_text(encoding="utf-8")
        if name == "index.html":
            text = text.replace("__TITLE__", html.escape(title)).replace("__ORT_VERSION__", RUNTIME_VERSION)
        (staging / name).write_text(text, encoding="utf-8")
    runtime = resources.files("ocpipe").joinpath("assets", "onnxruntime-web")
    (staging / "runtime").mkdir()
    for name in RUNTIME_FILES:
        entry = runtime.joinpath(name)
        if not entry.is_file():
            raise ExportError(f"the vendored runtime file {name} is missing from the ocpipe package; reinstall ocpipe")
        with resources.as_file(entry) as path:
            shutil.copyfile(path, staging / "runtime" / name)
    (staging / ".nojekyll").write_bytes(b"")
    (staging / MARKER).write_text("written by `ocpipe export web`; the next export replaces this folder\n", encoding="utf-8")


def _check_out_dir(out_dir: Path, workspace: Workspace) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file, not a folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise ExportError(f"{out_dir} is not empty and holds no earlier export; choose an empty or new folder")
    root = workspace.root
    if out_dir == root or root.is_relative_to(out_dir):
        raise ExportError(f"{out_dir} would replace the workspace itself; choose another folder")


def export_web(workspace: Workspace, out_dir: Path, phases: list[str] | None = None, title: str | None = None,
               examples: int = DEFAULT_EXAMPLES, half: bool = False, log: Callable[[str], None] = print) -> ExportResult:
    """Write the static site for `phases` (default: every trained phase) to `out_dir`.
    `half`: store the network's weights as float16 (graph.convert). Raises
    ExportError (missing extra, no model, unusable folder, a conversion that
    doesn't reproduce the Keras scores)."""
    from .graph import require_extra

    require_extra()
    out_dir = Path(out_dir).expanduser().resolve()
    _check_out_dir(out_dir, workspace)
    unknown = [phase for phase in phases or [] if phase not in PHASES]
    if unknown:
        raise ExportError(f"unknown phase {', '.join(unknown)} (choose from {', '.join(PHASES)})")
    trained = [p for p in PHASES if (workspace.model_dir(p) / "model.keras").exists()]
    wanted = [p for p in PHASES if p in phases] if phases else trained
    missing = [p for p in wanted if p not in trained]
    if missing or not wanted:
        raise ExportError(f"no trained model for {', '.join(missing) or 'any phase'} in {workspace.root / 'models'}; "
                          "run `ocpipe train` first")
    title = (title or DEFAULT_TITLE).strip() or DEFAULT_TITLE
    with staged_folder(out_dir) as staging:
        result = _build(workspace, staging, wanted, title, examples, half, log)
    result.out_dir = out_dir
    return result


def _build(workspace: Workspace, staging: Path, phases: list[str], title: str, examples: int, half: bool,
           log: Callable[[str], None]) -> ExportResult:
    from ..predict import Predictor
    from ..readers import read_picture
    from .graph import FEATURES_OUTPUT, MAP_OUTPUT, convert, split_model, verify

    _write_page(staging, title)
    (staging / "models").mkdir()
    trunks: dict[str, str] = {}  # digest -> file name
    differences: dict[str, float] = {}
    copied = 0
    notes: list[str] = []
    for phase in phases:
        predictor = Predictor.load(workspace, phase)
        split = split_model(predictor.model)
        name = trunks.get(split.digest)
        if name is None:
            name = f"models/trunk-{split.digest[:12]}.onnx"
            log(f"{phase}: converting the network to ONNX ({name})")
            try:
                convert(split.trunk, staging / name, half)
            except OcpipeError:
                raise
            except Exception as exc:  # tf2onnx fails in many ways on unusual layers
                raise ExportError(f"{phase}: tf2onnx could not convert the model ({type(exc).__name__}: {exc})") from exc
            trunks[split.digest] = name
        else:
            log(f"{phase}: same network as an earlier phase, sharing {name}")
        chosen = pick_examples(workspace, phase, examples)
        frames = [predictor.prepare(read_picture(item["path"], WORK_MAX_SIDE).rgba).inputs for item in chosen[:VERIFY_FRAMES]]
        if not frames:  # no test frames: a grey image still checks the conversion
            frames = [np.full((*predictor.image_size, 3), 128.0, np.float32)]
        differences[phase] = verify(staging / name, predictor.model, split.head, np.stack(frames), HALF_TOLERANCE if half else None)
        listed = []
        (staging / "examples" / phase).mkdir(parents=True, exist_ok=True)
        for index, item in enumerate(chosen):
            target = f"examples/{phase}/{index + 1:02d}-{_slug(item['label'])}{item['path'].suffix.lower()}"
            shutil.copyfile(item["path"], staging / target)
            listed.append({"file": target, "label": item["label"]})
        copied += len(listed)
        if not listed:
            notes.append(f"{phase}: no test-split frames to show as examples")
        metrics = workspace.metrics(phase)
        meta = {
            "phase": phase, "classes": predictor.classes, "image_size": list(predictor.image_size),
            "multi_label": predictor.multi_label, "whole_frame": predictor.whole_frame, "thresholds": predictor.thresholds,
            "input_zoom": predictor.zoom, "trunk": name,
            "head": {"activation": split.head.activation, "features_output": FEATURES_OUTPUT,
                     "features": int(split.head.kernel.shape[0]),
                     "kernel": _float32_list(split.head.kernel), "bias": _float32_list(split.head.bias),
                     "gradcam": {"layer": split.head.gradcam_layer, "output": MAP_OUTPUT,
                                 "offset": split.head.offset, "channels": split.head.channels}},
            "open_set": None, "examples": listed, "examples_note": _examples_note(metrics), "measured": _measured(metrics),
        }
        if predictor.open_set is not None and not predictor.multi_label:
            reads = split.head_input_layer
            if predictor.open_set["feature_layer"] != reads:
                raise ExportError(f"{phase}: the open-set column reads layer '{predictor.open_set['feature_layer']}', "
                                  f"not the scores' input ('{reads}'); export supports only that")
            head = predictor.open_set["head"]
            meta["open_set"] = {"none_kernel": _float32_list(head.none_kernel), "none_bias": float(head.none_bias),
                                "threshold": float(predictor.open_set["threshold"])}
        if predictor.references is not None:
            # Her training frames' unit features as little-endian float16, exactly as familiar.npy holds them.
            familiar = f"models/{phase}.familiar.f16"
            (staging / familiar).write_bytes(predictor.references.astype("<f2").tobytes())
            meta["familiarity"] = {"floor": float(predictor.floor), "file": familiar,
                                   "count": int(predictor.references.shape[0]), "dims": int(predictor.references.shape[1])}
        (staging / "models" / f"{phase}.json").write_text(json.dumps(meta, separators=(",", ":")), encoding="utf-8")
        log(f"{phase}: {len(predictor.classes)} characters, {len(listed)} examples; ONNX vs Keras: largest score "
            f"difference {differences[phase]:.1g}")
    # The page reads pictures with ocpipe's own limits (readers.py) and scene rule (app.py).
    site = {"title": title, "phases": phases, "colormap": _colormap(), "work_max_side": WORK_MAX_SIDE,
            "max_image_pixels": MAX_IMAGE_PIXELS, "scene_width": SCENE_WIDTH, "onnxruntime_web": RUNTIME_VERSION}
    from .. import __version__

    site["ocpipe"] = __version__
    (staging / "site.json").write_text(json.dumps(site, separators=(",", ":")), encoding="utf-8")
    sizes = _sizes(staging)
    (staging / "README.md").write_text(_readme(title, phases, sizes), encoding="utf-8")
    return ExportResult(staging, phases, _sizes(staging), differences, copied, notes)


def _sizes(root: Path) -> dict[str, int]:
    return {path.relative_to(root).as_posix(): path.stat().st_size for path in sorted(root.rglob("*")) if path.is_file()}
