"""`ocpipe explain`: a Grad-CAM overlay for one image, drawn over the original art
(shrunk to the working size, config.WORK_MAX_SIDE, when larger)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import WORK_MAX_SIDE
from .errors import InputError, OcpipeError
from .gradcam import gradcam_heatmaps, overlay, unletterbox
from .hashing import compose_over
from .manifest import atomic_write_bytes
from .predict import Predictor
from .workspace import Workspace

METHODS = ("gradcam", "gradcam++")


def explain_rgba(predictor: Predictor, rgba: np.ndarray, class_names: list[str] | None = None,
                 method: str = "gradcam", alpha: float = 0.45, layer_name: str | None = None) -> dict:
    """Prediction plus one overlay (RGB uint8, the original's size) per explained class.

    class_names None: the top class, or for multi-label every class over its threshold (at least the top one)."""
    if method not in METHODS:
        raise OcpipeError(f"unknown method '{method}' (choose one of {', '.join(METHODS)})")
    prepared = predictor.prepare(rgba)
    inputs, box = prepared.inputs, prepared.box
    described = predictor.predict_prepared(prepared)
    if class_names is None:
        class_names = described.get("labels") or [described["top"]]
    unknown = [name for name in class_names if name not in predictor.classes]
    if unknown:
        raise OcpipeError(f"unknown class {', '.join(unknown)} (the {predictor.phase} model knows {', '.join(predictor.classes)})")
    _, maps = gradcam_heatmaps(predictor.model, inputs, [predictor.classes.index(n) for n in class_names],
                               layer_name, plus_plus=method == "gradcam++")
    base = compose_over(rgba)  # channel order doesn't matter: RGBA in, RGB out
    overlays = {}
    heatmaps = {}
    for name, heatmap in zip(class_names, maps):
        full = unletterbox(heatmap, box, predictor.image_size, rgba.shape[:2], predictor.zoom)
        heatmaps[name] = full
        overlays[name] = overlay(base, full, alpha)
    return {**described, "explained": class_names, "overlays": overlays, "heatmaps": heatmaps, "box": box, "base": base}


def explain_image(workspace: Workspace, image: Path, phase: str, out: Path, class_name: str | None = None,
                  method: str = "gradcam", alpha: float = 0.45) -> dict:
    """Write the overlay PNG for `image` to `out`; returns the class explained, its
    score and a note ('' or why only part of the file was used: an animation's first frame)."""
    import cv2

    if not 0.0 <= alpha <= 1.0:
        raise OcpipeError("--alpha must be between 0 and 1")
    from .readers import read_picture

    predictor = Predictor.load(workspace, phase)
    try:
        picture = read_picture(Path(image), WORK_MAX_SIDE)
    except InputError as exc:
        raise InputError(f"{image}: {exc}") from exc
    result = explain_rgba(predictor, picture.rgba, [class_name] if class_name else None, method, alpha)
    name = result["explained"][0]
    ok, buffer = cv2.imencode(".png", result["overlays"][name][:, :, ::-1])
    if not ok:
        raise OcpipeError("could not encode the overlay")
    atomic_write_bytes(Path(out), buffer.tobytes())
    return {"class": name, "score": result["scores"][name], "note": picture.note}
