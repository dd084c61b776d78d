"""Shared fixtures: real animation files of every format, made here with OpenCV and Pillow."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ocpipe import backgrounds, samples  # noqa: E402

# A real photo that a registry package ships inside itself (matplotlib's sample data:
# Grace Hopper's portrait, public domain): none of anyone's drawn characters.
GRACE_HOPPER = Path(importlib.util.find_spec("matplotlib").submodule_search_locations[0]) / "mpl-data" / "sample_data" / "grace_hopper.jpg"

# Walk cycle held on twos: 16 frames, 8 distinct drawings.
WALK_ON_TWOS = samples.Clip("walk", tuple(p for i in range(8) for p in (f"walk{i}", f"walk{i}")))
DISTINCT = 8


def make_source(folder: Path, fmt: str, character: str = "Pilot", phase: str = "fullbody",
                clip: samples.Clip = WALK_ON_TWOS, background: str | None = "gradient", seed: int = 1, tilt: float = 0.0,
                name: str = "clip") -> Path:
    """Write one real animation file (any format of samples.FORMATS) and return its path."""
    rng = np.random.default_rng(seed)
    characters = character.split("+")
    frames = samples._frames(phase, characters, clip, rng, tilt)
    height, width = frames[0].shape[:2]
    transparent = fmt in (".gif", ".png", ".webp", "seq", ".apng", "still.png")
    bg = None if transparent or background is None else backgrounds.random_background(height, width, rng, background)
    folder.mkdir(parents=True, exist_ok=True)
    return samples._write(folder / name, fmt, frames, bg)


def make_bust(pose: str, character: str = "Zombie", colour: tuple[int, int, int] | None = None,
              jpeg_quality: int = 90) -> np.ndarray:
    """A close-up cut at the chest, 400 px square: the drawing runs off the frame's
    bottom, so much of the border ring is drawing. BGRA; or flattened over the
    BGR `colour` and JPEG-encoded, as an export without transparency would be."""
    import cv2

    sprite = samples._sprite(character, pose)
    sprite = cv2.resize(sprite, (sprite.shape[1] * 4, sprite.shape[0] * 4), interpolation=cv2.INTER_NEAREST)
    canvas = np.zeros((400, 400, 4), np.uint8)
    backgrounds.paste(canvas, sprite, 200 - sprite.shape[1] // 2, 30)
    bgra = np.ascontiguousarray(canvas[:, :, [2, 1, 0, 3]])
    if colour is None:
        return bgra
    alpha = bgra[:, :, 3:4] / 255.0
    flat = (bgra[:, :, :3] * alpha + np.array(colour) * (1 - alpha)).astype(np.uint8)
    ok, buffer = cv2.imencode(".jpg", flat, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    return cv2.imdecode(buffer, cv2.IMREAD_COLOR)


@pytest.fixture(scope="session", autouse=True)
def _contained_tempdir(tmp_path_factory):
    """Point Python's temp folder into pytest's own temp tree, which pytest prunes.
    gradio_client downloads each result file into a new tempfile.gettempdir()/<40 hex>/
    folder and leaves it behind: ~25 folders per run of the live-server tests otherwise."""
    import tempfile

    folder = tmp_path_factory.mktemp("tmp")
    before, tempfile.tempdir = tempfile.tempdir, str(folder)
    yield
    tempfile.tempdir = before


@pytest.fixture
def workspace(tmp_path):
    from ocpipe.workspace import Workspace

    return Workspace.at(tmp_path / "ws")
