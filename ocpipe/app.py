"""The Gradio app: pick a phase (or let the image's shape pick it), upload, paste,
draw or take a webcam picture, and see the characters with confidence bars and a
Grad-CAM heat map of what the model looked at.

API (CONTRACT.md): api_name="/predict" takes (image, phase) and returns
(label confidences, overlay image). demo/app.py is the runnable entry point;
`ocpipe demo` calls launch() here.

Safe to share: uploads reach our functions undecoded (gr.Image would decode them
with PIL first, outside any budget) and are read by readers.py within the pixel
budget, shrunk to the working size; every refusal reaches the visitor as a
gr.Error with its reason. The queue, request bodies, sketch blobs and sessions are
bounded (config.DEMO_*, MAX_UPLOAD_MB), so a flood is refused, not piled up.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .config import (
    DEMO_CONCURRENCY,
    DEMO_QUEUE_SIZE,
    DEMO_SESSIONS,
    IMAGE_SIZES,
    MAX_UPLOAD_MB,
    PHASES,
    SCENE_WIDTH,
    WORK_MAX_SIDE,
)
from .errors import OcpipeError
from .manifest import read_table
from .workspace import Workspace

log = logging.getLogger(__name__)

AUTO = "auto"
# A request body (upload, sketch blob, queue message) over this many bytes is refused
# before it is read: an upload at the MAX_UPLOAD_MB limit plus its multipart framing.
_MAX_BODY = (MAX_UPLOAD_MB + 1) * 1024 * 1024
# Sketch layers a browser session may send (the app draws on one).
_MAX_SKETCH_LAYERS = 8
# A session's last result (the per-character gallery) is forgotten after this many seconds.
_STATE_SECONDS = 3600


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
        if "multi" in self.predictors and width >= SCENE_WIDTH and aspect > 0.3:
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


def _read_upload(value):
    """What an input hands over (an upload's path, a sketch's bytes; numpy or PIL
    from library callers) as a readers.Picture within the pixel budget, shrunk to
    the working size. Raises OcpipeError with the reason."""
    from PIL import Image

    from .readers import Picture, read_picture, shrink

    if isinstance(value, dict):  # an ImageEditor value from a library caller
        value = value.get("composite") if value.get("composite") is not None else value.get("background")
    if value is None or (isinstance(value, str) and not value):
        raise OcpipeError("no image: upload, paste, draw or take a picture first")
    if isinstance(value, (str, Path, bytes)):
        return read_picture(value if isinstance(value, bytes) else Path(value), WORK_MAX_SIDE)
    if isinstance(value, Image.Image):
        value = value.convert("RGBA")
    array = np.asarray(value)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or 0 in array.shape:
        raise OcpipeError("unsupported image layout")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.shape[2] == 3:
        array = np.dstack([array, np.full(array.shape[:2], 255, np.uint8)])
    # Shrunk the way a file upload is (readers.shrink: premultiplied, hidden colours don't bleed).
    return Picture(np.asarray(shrink(Image.fromarray(array), WORK_MAX_SIDE)))


def _refusal(gr, message: str):
    """A gr.Error for the visitor: the reason as plain text (Gradio renders HTML), no console traceback."""
    import html

    return gr.Error(html.escape(message, quote=False), print_exception=False)


def _undecoded_uploads(image, sketch) -> None:
    """Make a gr.Image and a gr.Sketchpad hand our functions the uploaded file
    undecoded: its path (or a data: URL's / sketch blob's bytes).

    Gradio's own preprocessing opens every upload with PIL before our function runs
    (even with type="filepath"), so a text file or a 400-megapixel PNG failed there
    with Gradio's generic "error" and no reason, and a 100-megapixel one was decoded
    in full. With this, the browser components and the API stay as they were (a file
    in) and readers.py decodes, within the pixel budget. The sketchpad's
    accept_blobs server function is bounded too: Gradio's keeps every client's blobs
    in an unbounded dict and grows a list to any layer index a client sends.

    The two instances get these methods directly: a subclass of a Gradio component
    would make Gradio (its custom-component tooling) write ocpipe/app.pyi beside
    this file at import time."""
    import base64
    import binascii
    import types
    from collections import OrderedDict

    import gradio as gr
    from fastapi import HTTPException
    from gradio.components.image_editor import EditorDataBlobs

    def data_url_bytes(url: str) -> bytes:
        """The bytes of a base64 data: URL, refused unread when over the upload limit."""
        _, _, encoded = url.partition(",")
        if len(encoded) * 3 // 4 > MAX_UPLOAD_MB * 1024 * 1024:
            raise _refusal(gr, f"this image is over the {MAX_UPLOAD_MB} MB upload limit")
        try:
            return base64.b64decode(encoded, validate=False)
        except (binascii.Error, ValueError):
            raise _refusal(gr, "not an image ocpipe can read: the data URL is not base64") from None

    def file_value(file):
        """A FileData's path, a data: URL's bytes, raw bytes as they are, or None."""
        if file is None or isinstance(file, bytes):
            return file
        url = getattr(file, "url", None)
        if getattr(file, "path", None) is None and url and url.startswith("data:"):
            return data_url_bytes(url)
        return getattr(file, "path", None)

    def image_preprocess(self, payload):
        return file_value(payload)

    def sketch_preprocess(self, payload):
        if payload is None:
            return None
        composite = payload.composite
        if payload.id is not None:
            blobs = self.blob_storage.pop(payload.id, None)
            composite = blobs.composite if blobs is not None else None
        return file_value(composite)

    def accept_blobs(self, data):
        """Gradio's, bounded: a known blob kind, a layer index under _MAX_SKETCH_LAYERS,
        at most DEMO_QUEUE_SIZE sketches parked (oldest dropped); anything else is a 400."""
        try:
            fields, file = data.data, data.files[0][1]
            kind, sketch_id, index = fields["type"], str(fields["id"]), fields.get("index")
            index = int(index) if index not in (None, "", "null") else None
        except (AttributeError, IndexError, KeyError, TypeError, ValueError):
            raise HTTPException(status_code=400, detail="unexpected sketch data") from None
        if kind not in ("layer", "background", "composite") or (
                kind == "layer" and (index is None or not 0 <= index < _MAX_SKETCH_LAYERS)):
            raise HTTPException(status_code=400, detail="unexpected sketch data")
        current = self.blob_storage.pop(sketch_id, None) or EditorDataBlobs(background=None, layers=[], composite=None)
        if kind == "layer":
            current.layers.extend([None] * (index + 1 - len(current.layers)))
            current.layers[index] = file
        else:
            setattr(current, kind, file)
        self.blob_storage[sketch_id] = current
        while len(self.blob_storage) > DEMO_QUEUE_SIZE:  # sketches never sent for prediction
            self.blob_storage.popitem(last=False)

    accept_blobs._is_server_fn = True  # what gradio.components.base.server marks
    image.preprocess = types.MethodType(image_preprocess, image)
    sketch.preprocess = types.MethodType(sketch_preprocess, sketch)
    sketch.accept_blobs = types.MethodType(accept_blobs, sketch)
    sketch.blob_storage = OrderedDict()


class _BodyLimit:
    """ASGI middleware: refuse a request whose body is over `limit` bytes (413) before
    the app reads it. Gradio reads some bodies whole into memory (queue messages,
    sketch blobs: up to 1000 files per request), so without it one request could
    hold gigabytes."""

    def __init__(self, app, limit: int = _MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": f"request over {self.limit} bytes".encode()})
            return None
        received = 0

        async def limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:  # a chunked body without a length: stop reading it
                    return {"type": "http.disconnect"}
            return message

        return await self.app(scope, limited, send)


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

    def answer(work):
        """Run `work()`; every failure reaches the visitor as a gr.Error with a reason
        (a refusal is expected: one log line, no traceback on the console)."""
        try:
            return work()
        except gr.Error:
            raise
        except OcpipeError as exc:
            log.info("refused: %s", exc)
            raise _refusal(gr, str(exc)) from None
        except Exception as exc:  # a bug, not a refusal: the visitor still gets a line, the log the traceback
            log.exception("a demo request failed")
            raise _refusal(gr, f"ocpipe could not process this image ({type(exc).__name__}); the server log has the details") from None

    def resolve(image, phase) -> tuple[np.ndarray, str]:
        """The upload as RGBA at the working size and the phase to use (auto: by the
        image's shape); OcpipeError if impossible. An animation's first frame is used, and said."""
        if not models.predictors:
            raise OcpipeError("no trained model yet: run `ocpipe train` first")
        picture = _read_upload(image)
        if picture.note:
            gr.Info(picture.note)
        if phase in (None, "", AUTO):
            phase = models.pick_phase(picture.rgba)
        if phase not in models.predictors:
            raise OcpipeError(f"no trained model for phase '{phase}' (trained: {', '.join(trained) or 'none'})")
        return picture.rgba, phase

    def run(image, phase):
        def work():
            rgba, chosen = resolve(image, phase)
            return {**models.explain(rgba, chosen), "phase": chosen}

        return answer(work)

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
        summary = {key: result[key] for key in ("phase", "top", "scores", "labels", "overlays", "recognised", "blank", "unfamiliar")
                   if key in result}
        return _label_value(result), picture, summary

    def scores(image, phase):
        """The /scores API: label confidences only, no Grad-CAM (faster, for scripts)."""
        def work():
            rgba, chosen = resolve(image, phase)
            return _label_value(models.predict(rgba, chosen))

        return answer(work)

    def details(result):
        if not result:
            return [], ""
        gallery = [(picture, f"{name}: {result['scores'][name]:.0%}") for name, picture in result["overlays"].items()]
        from .predict import summary as plain_words

        words = f"Phase: **{result['phase']}**. "
        if "labels" in result:
            words += "Characters found: " + (", ".join(result["labels"]) or (
                "none: the picture is less like any of the training scenes than they are like each other "
                "(under the familiarity floor)" if result.get("unfamiliar") else "none over their thresholds")) + "."
        elif result.get("recognised", True):
            words += f"Most likely: **{result['top']}** ({result['scores'][result['top']]:.0%})."
        else:
            words += f"**{plain_words(result).capitalize()}**: the heat map shows what the closest one's evidence would be."
            if result.get("unfamiliar"):
                words += " It is less like any of the training drawings than they are like each other (under the familiarity floor)."
        return gallery, words

    # Uploads and results live in Gradio's cache folder: files older than an hour go, checked hourly.
    with gr.Blocks(title="ocpipe: who is in this drawing?", delete_cache=(_STATE_SECONDS, _STATE_SECONDS)) as demo:
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
                        image = gr.Image(label="Art", type="filepath", sources=["upload", "clipboard", "webcam"],
                                         elem_id="art")
                        button = gr.Button("Who is it?", variant="primary", elem_id="predict")
                    with gr.Tab("Sketch"):
                        sketch = gr.Sketchpad(label="Draw", type="filepath", image_mode="RGBA")
                        sketch_button = gr.Button("Who is it?", elem_id="predict-sketch")
            with gr.Column():
                label = _headline_label(gr.Label(num_top_classes=5, label="Characters", elem_id="label"))
                heat = _race_free_images(gr.Image(label="Grad-CAM", type="numpy", elem_id="overlay", interactive=False))
                summary = gr.Markdown(elem_id="summary")
                gallery = _race_free_images(gr.Gallery(label="Heat map per character", columns=3, height="auto"))
        _undecoded_uploads(image, sketch)  # readers.py decodes, within the pixel budget
        examples = _examples(workspace, trained)
        if examples:
            gr.Examples(examples, inputs=[image, phase], label=_examples_label(workspace, trained))
        scores_button = gr.Button(visible=False)  # carries the API-only /scores endpoint
        scores_button.click(scores, [image, phase], [label], api_name="scores")
        last = gr.State(None, time_to_live=_STATE_SECONDS)  # per browser session: the last result, for the gallery
        button.click(predict, [image, phase], [label, heat, last], api_name="predict").then(
            details, [last], [gallery, summary], api_name=False)
        sketch_button.click(predict, [sketch, phase], [label, heat, last], api_name="predict_sketch").then(
            details, [last], [gallery, summary], api_name=False)
    # A flood waits in a bounded queue; beyond it, requests are refused ("queue is full").
    demo.queue(default_concurrency_limit=DEMO_CONCURRENCY, max_size=DEMO_QUEUE_SIZE)
    return demo


def _examples_label(workspace: Workspace, phases: list[str]) -> str:
    """Honest words over the examples: test-split frames were never seen in training,
    unless a phase was measured by cross-validation (its model learned from them all)."""
    folds = [phase for phase in phases if workspace.metrics(phase).get("regime") == "cross-validation"]
    if not folds:
        return "Test-split examples (never seen in training)"
    return (f"Test-split examples (never seen in training, except in {', '.join(folds)}: measured by cross-validation, "
            "that model learned from every animation)")


NONE_OF_THEM = "none of the trained characters"


def _label_value(result: dict) -> dict:
    """What the Label shows: the characters' confidences, headed by the top one, or
    by NONE_OF_THEM when the open-set rule (openset.py) says it is none of them."""
    if result.get("recognised", True) or "labels" in result:
        return result["scores"]
    return {"headline": NONE_OF_THEM, "scores": result["scores"]}


def _race_free_images(component):
    """Save the images a component shows (arrays, or a gallery's (array, caption)
    pairs) into Gradio's cache atomically. Gradio names a result file by a hash of
    its bytes and rewrites it in place, so two visitors getting the same picture at
    once (the same example clicked) could download a half-written file: measured as
    'peer closed connection without sending complete message body' under load."""
    from gradio import processing_utils
    from PIL import Image

    from .manifest import atomic_write_bytes

    original = component.postprocess
    kind = getattr(component, "format", None) or "webp"

    def cached(array: np.ndarray) -> str:
        data = processing_utils.encode_pil_to_bytes(Image.fromarray(array), kind)
        target = Path(component.GRADIO_CACHE) / processing_utils.hash_bytes(data) / f"image.{kind}"
        if not target.exists():
            atomic_write_bytes(target, data)
        return str(target)

    def postprocess(value):
        if isinstance(value, np.ndarray):
            value = cached(value)
        elif isinstance(value, list):
            value = [(cached(item[0]), *item[1:]) if isinstance(item, tuple) and isinstance(item[0], np.ndarray) else item
                     for item in value]
        return original(value)

    component.postprocess = postprocess
    return component


def _headline_label(component):
    """Let a gr.Label take {"headline", "scores"}: the confidences as usual, under
    another headline (Label's own postprocess always heads them with the top class)."""
    original = component.postprocess

    def postprocess(value):
        if isinstance(value, dict) and "headline" in value:
            data = original(value["scores"])
            data.label = value["headline"]
            return data
        return original(value)

    component.postprocess = postprocess
    return component


def _parse_auth(auth: str | None):
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise OcpipeError("--auth must look like USER:PASSWORD")
    return (user, password)


def launch(workspace: Path, host: str = "127.0.0.1", port: int = 7860, share: bool = False, auth: str | None = None,
           log: Callable[[str], None] = print, block: bool = True):
    """Build and serve the app with its limits (upload size, request bodies, sessions;
    the queue is bounded in build_demo). When a share link can't be made (offline),
    say so and serve locally. block=False returns the running app (tests, benchmarks)."""
    from starlette.middleware import Middleware

    credentials = _parse_auth(auth)
    if share and credentials is None:
        log("note: --share without --auth: the link is public, anyone who has it can use the app "
            "(add --auth USER:PASSWORD to require a login)")
    demo = build_demo(workspace)
    options = dict(server_name=host, server_port=port, auth=credentials, max_file_size=f"{MAX_UPLOAD_MB}mb",
                   state_session_capacity=DEMO_SESSIONS, app_kwargs={"middleware": [Middleware(_BodyLimit)]},
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
