"""The Gradio app: pick a phase (or let the image's shape pick it), upload, paste,
draw or take a webcam picture, and see the characters with confidence bars and a
Grad-CAM heat map of what the model looked at.

API (CONTRACT.md): api_name="/predict" takes (image, phase) and returns
(label confidences, overlay image). demo/app.py is the runnable entry point;
`ocpipe demo` calls launch() here.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .config import IMAGE_SIZES, MAX_UPLOAD_MB, PHASES
from .errors import OcpipeError
from .manifest import read_table
from .workspace import Workspace

log = logging.getLogger(__name__)

AUTO = "auto"
# Images wider than this many pixels and ~16:9 count as multi-character scenes in auto mode.
_SCENE_WIDTH = 800


class Models:
    """Each phase's Predictor, loaded once; thread-safe for concurrent requests."""

    def __init__(self, workspace: Workspace) -> None:
        from .predict import Predictor

        self.predictors = {}
        self.errors = {}
        for phase in PHASES:
            if (workspace.model_dir(phase) / "model.keras").exists():
                try:
                    self.predictors[phase] = Predictor.load(workspace, phase)
                except OcpipeError as exc:
                    self.errors[phase] = str(exc)
        self._lock = threading.Lock()

    def pick_phase(self, rgba: np.ndarray) -> str:
        """The trained phase whose input shape is closest to the image's aspect ratio."""
        height, width = rgba.shape[:2]
        aspect = math.log(width / height)
        if "multi" in self.predictors and width >= _SCENE_WIDTH and aspect > 0.3:
            return "multi"
        candidates = [p for p in self.predictors if p != "multi"] or list(self.predictors)
        return min(candidates, key=lambda p: abs(math.log(IMAGE_SIZES[p][1] / IMAGE_SIZES[p][0]) - aspect))

    def predict(self, rgba: np.ndarray, phase: str) -> dict:
        with self._lock:
            return self.predictors[phase].predict_rgba(rgba)

    def explain(self, rgba: np.ndarray, phase: str) -> dict:
        from .explain import explain_rgba

        with self._lock:  # TensorFlow models are shared; keep Grad-CAM tapes apart
            return explain_rgba(self.predictors[phase], rgba)


def _as_rgba(image) -> np.ndarray:
    """Whatever Gradio hands over (numpy RGB/RGBA/grey, PIL, sketchpad dict) as RGBA uint8."""
    from PIL import Image

    if isinstance(image, dict):  # ImageEditor / Sketchpad value
        image = image.get("composite") if image.get("composite") is not None else image.get("background")
    if image is None:
        raise OcpipeError("no image: upload, paste, draw or take a picture first")
    if isinstance(image, (str, Path)):
        from .data import read_rgba

        return read_rgba(Path(image))
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGBA"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.shape[2] == 3:
        array = np.dstack([array, np.full(array.shape[:2], 255, np.uint8)])
    if array.shape[2] != 4:
        raise OcpipeError("unsupported image layout")
    return array


def _examples(workspace: Workspace, phases: list[str], per_class: int = 1) -> list[list[str]]:
    """A few test-split frames per phase and class, as [path, phase] rows."""
    if not workspace.manifest.exists():
        return []
    seen: dict[tuple[str, str], int] = {}
    rows = []
    for row in read_table(workspace.manifest):
        key = (row["phase"], row["labels"])
        if row["split"] == "test" and row["phase"] in phases and seen.get(key, 0) < per_class:
            path = workspace.absolute(row["path"])
            if path.exists():
                seen[key] = seen.get(key, 0) + 1
                rows.append([str(path), row["phase"]])
    return rows[:24]


def build_demo(workspace: Path | str = "."):
    """Build (not launch) the gr.Blocks app for a workspace. Models load once, here."""
    import gradio as gr

    workspace = Workspace.at(workspace)
    models = Models(workspace)
    trained = list(models.predictors)

    def resolve(image, phase) -> tuple[np.ndarray, str]:
        """The upload as RGBA and the phase to use (auto: by the image's shape); gr.Error if impossible."""
        try:
            rgba = _as_rgba(image)
            if not models.predictors:
                raise OcpipeError("no trained model yet: run `ocpipe train` first")
            if phase in (None, "", AUTO):
                phase = models.pick_phase(rgba)
            if phase not in models.predictors:
                raise OcpipeError(f"no trained model for phase '{phase}' (trained: {', '.join(trained) or 'none'})")
        except OcpipeError as exc:
            raise gr.Error(str(exc)) from None
        return rgba, phase

    def run(image, phase):
        rgba, phase = resolve(image, phase)
        try:
            result = models.explain(rgba, phase)
        except OcpipeError as exc:
            raise gr.Error(str(exc)) from None
        result["phase"] = phase
        return result

    def predict(image, phase):
        """The /predict API: (label confidences, overlay). The third output, the
        result itself, goes to this browser session's gr.State for `details`
        (State outputs are not part of the API)."""
        result = run(image, phase)
        shown = result["explained"][0]
        if len(result["explained"]) > 1:  # multi-label: one map per detected character, combined here
            combined = np.max(np.stack([result["heatmaps"][n] for n in result["explained"]]), axis=0)
            from .gradcam import overlay

            picture = overlay(result["base"], combined)
        else:
            picture = result["overlays"][shown]
        summary = {key: result[key] for key in ("phase", "top", "scores", "labels", "overlays") if key in result}
        return result["scores"], picture, summary

    def scores(image, phase):
        """The /scores API: label confidences only, no Grad-CAM (faster, for scripts)."""
        rgba, phase = resolve(image, phase)
        return models.predict(rgba, phase)["scores"]

    def details(result):
        if not result:
            return [], ""
        gallery = [(picture, f"{name}: {result['scores'][name]:.0%}") for name, picture in result["overlays"].items()]
        words = f"Phase: **{result['phase']}**. "
        if "labels" in result:
            words += "Characters found: " + (", ".join(result["labels"]) or "none over their thresholds") + "."
        else:
            words += f"Most likely: **{result['top']}** ({result['scores'][result['top']]:.0%})."
        return gallery, words

    with gr.Blocks(title="ocpipe: who is in this drawing?") as demo:
        gr.Markdown("# ocpipe\nWhich character is this? Upload, paste, draw or take a picture; "
                    "the heat map shows where the model looked.")
        if not trained:
            gr.Markdown("**No trained model yet.** Run `ocpipe ingest` and `ocpipe train`, then restart `ocpipe demo`.")
        for phase, error in models.errors.items():
            gr.Markdown(f"Phase **{phase}** could not be loaded: {error}")
        with gr.Row():
            with gr.Column():
                phase = gr.Dropdown([AUTO, *trained], value=AUTO, label="Phase (auto picks by the image's shape)")
                with gr.Tabs():
                    with gr.Tab("Image"):
                        image = gr.Image(label="Art", type="numpy", image_mode="RGBA",
                                         sources=["upload", "clipboard", "webcam"], elem_id="art")
                        button = gr.Button("Who is it?", variant="primary", elem_id="predict")
                    with gr.Tab("Sketch"):
                        sketch = gr.Sketchpad(label="Draw", type="numpy", image_mode="RGBA")
                        sketch_button = gr.Button("Who is it?", elem_id="predict-sketch")
            with gr.Column():
                label = gr.Label(num_top_classes=5, label="Characters", elem_id="label")
                heat = gr.Image(label="Grad-CAM", type="numpy", elem_id="overlay", interactive=False)
                summary = gr.Markdown(elem_id="summary")
                gallery = gr.Gallery(label="Heat map per character", columns=3, height="auto")
        examples = _examples(workspace, trained)
        if examples:
            gr.Examples(examples, inputs=[image, phase], label="Test-split examples (never seen in training)")
        scores_button = gr.Button(visible=False)  # carries the API-only /scores endpoint
        scores_button.click(scores, [image, phase], [label], api_name="scores")
        last = gr.State(None)  # per browser session: the last result, for the gallery
        button.click(predict, [image, phase], [label, heat, last], api_name="predict").then(
            details, [last], [gallery, summary], api_name=False)
        sketch_button.click(predict, [sketch, phase], [label, heat, last], api_name="predict_sketch").then(
            details, [last], [gallery, summary], api_name=False)
    demo.queue(default_concurrency_limit=4)
    return demo


def _parse_auth(auth: str | None):
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise OcpipeError("--auth must look like USER:PASSWORD")
    return (user, password)


def launch(workspace: Path, host: str = "127.0.0.1", port: int = 7860, share: bool = False, auth: str | None = None,
           log: Callable[[str], None] = print, block: bool = True):
    """Build and serve the app. When a share link can't be made (offline), say so and serve locally."""
    credentials = _parse_auth(auth)
    demo = build_demo(workspace)
    options = dict(server_name=host, server_port=port, auth=credentials, max_file_size=f"{MAX_UPLOAD_MB}mb",
                   prevent_thread_lock=True, quiet=True)
    try:
        demo.launch(share=share, **options)
    except OSError as exc:
        raise OcpipeError(f"can't serve on {host}:{port} ({exc}); pass another --port") from exc
    except Exception as exc:  # share tunnel failures come in many types
        if not share:
            raise
        log(f"could not create a share link ({exc}); serving locally only")
        demo.launch(share=False, **options)
    log(f"ocpipe demo running on http://{host}:{demo.server_port}")
    if share:
        log(f"public link: {demo.share_url}" if getattr(demo, "share_url", None) else
            "could not create a share link (offline?); serving locally only")
    if block:
        try:
            demo.block_thread()
        except KeyboardInterrupt:
            pass
        finally:
            demo.close()
    return demo
