"""The exported page's preprocessing (ocpipe/export/web/preprocess.mjs) against the
Python it mirrors, run under Node.js: every step must give the same numbers.

PNG decoding and shrinking (readers.read_picture), the plain-background matte,
the drawn-content box and blank flag (data.find_content), and the model input
(data.prepare) are compared bit for bit on generated images of every kind the
page meets; the OpenCV and TensorFlow resizes they rest on, on random pixels."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocpipe import backgrounds, samples
from ocpipe.config import IMAGE_SIZES, WORK_MAX_SIDE

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get install nodejs)")
PREPROCESS = Path(__file__).resolve().parents[1] / "ocpipe" / "export" / "web" / "preprocess.mjs"
HARNESS = Path(__file__).resolve().parent / "js" / "preprocess_harness.mjs"


def run_node(jobs: list[dict], tmp_path: Path) -> list[dict]:
    jobs_file, out_file = tmp_path / "jobs.json", tmp_path / "out.json"
    jobs_file.write_text(json.dumps(jobs))
    subprocess.run([NODE, str(HARNESS), PREPROCESS.as_uri(), str(jobs_file), str(out_file)], check=True, timeout=300)
    results = json.loads(out_file.read_text())
    assert len(results) == len(jobs)
    return results


def decoded(text: str, dtype, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype).reshape(shape)


def on_canvas(sprite: np.ndarray, height: int, width: int, background: np.ndarray | None, scale: float = 1.0,
              at: tuple[int, int] = (0, 0)) -> np.ndarray:
    """An RGBA canvas with the sprite (resized by `scale`) at `at`, over `background` (RGB) or transparent."""
    import cv2

    if scale != 1.0:
        sprite = cv2.resize(sprite, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 4), np.uint8)
    top, left = at
    canvas[top : top + sprite.shape[0], left : left + sprite.shape[1]] = sprite[: height - top, : width - left]
    if background is None:
        return canvas
    alpha = canvas[:, :, 3:4] / 255.0
    rgb = (canvas[:, :, :3] * alpha + background * (1 - alpha)).astype(np.uint8)
    return np.dstack([rgb, np.full((height, width), 255, np.uint8)])


def write_interlaced_png(path: Path, rgba: np.ndarray) -> None:
    """An Adam7-interlaced RGBA PNG (Pillow writes none): seven passes, filter type 0."""
    height, width = rgba.shape[:2]
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        part = rgba[y0::dy, x0::dx]
        if part.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in part)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 1)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[tuple[str, Path, str]]:
    """(name, PNG path, phase) for every kind of picture the page meets."""
    import cv2

    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(7)
    robot = samples._sprite("Robot", "idle")
    zombie = samples._sprite("Zombie", "walk3")
    out: list[tuple[str, Path, str]] = []

    def save(name: str, rgba: np.ndarray, phase: str = "fullbody", mode: str | None = None, **options) -> None:
        path = folder / f"{name}.png"
        picture = Image.fromarray(rgba)
        (picture.convert(mode) if mode else picture).save(path, **options)
        out.append((name, path, phase))

    save("transparent", on_canvas(robot, 224, 128, None, at=(40, 16)))
    for kind in ("solid", "gradient", "noise", "scene"):
        save(f"opaque-{kind}", on_canvas(zombie, 224, 128, backgrounds.random_background(224, 128, rng, kind), at=(50, 20)),
             mode="RGB")
    save("blank", np.zeros((200, 120, 4), np.uint8))
    save("flat-colour", np.full((96, 192, 3), (200, 40, 40), np.uint8), phase="eyes")
    # Over 1024 px: shrunk like readers.shrink (Pillow's LANCZOS, premultiplied).
    save("big-transparent", on_canvas(robot, 1500, 900, None, scale=7.0, at=(100, 50)))
    save("big-opaque-gradient", on_canvas(zombie, 1300, 2200, backgrounds.random_background(1300, 2200, rng, "gradient"),
                                          scale=6.0, at=(200, 900)), phase="multi", mode="RGB")
    # Over 768 px on its long side: the content thumbnail takes a bilinear step first.
    save("wide-plain", on_canvas(zombie, 450, 1000, backgrounds.random_background(450, 1000, rng, "solid"), scale=2.5,
                                 at=(60, 300)), mode="RGB")
    save("headshot-scene", on_canvas(robot[:80], 160, 160, backgrounds.random_background(160, 160, rng, "scene"),
                                     at=(30, 30)), phase="headshot", mode="RGB")
    scene = on_canvas(robot, 270, 480, backgrounds.random_background(270, 480, rng, "gradient"), at=(100, 60))
    scene = on_canvas(zombie, 270, 480, scene[:, :, :3], at=(120, 320))
    save("multi-scene", scene, phase="multi", mode="RGB")
    # PNG variants Pillow reads: palette with transparency, grey, grey + alpha, 16-bit, interlaced, animated.
    frame = on_canvas(robot, 224, 128, None, at=(30, 10))
    save("palette", frame, mode="P")
    save("grey", frame[:, :, :3], mode="L")
    save("grey-alpha", frame, mode="LA")
    sixteen = folder / "rgba16.png"
    noise = rng.integers(0, 256, frame.shape).astype(np.uint16)
    cv2.imwrite(str(sixteen), (frame[:, :, [2, 1, 0, 3]].astype(np.uint16) << 8) | noise)
    out.append(("rgba16", sixteen, "fullbody"))
    interlaced = folder / "interlaced.png"
    write_interlaced_png(interlaced, on_canvas(zombie, 211, 131, None, at=(20, 5)))
    out.append(("interlaced", interlaced, "fullbody"))
    animation = folder / "animated.png"
    frames = [Image.fromarray(on_canvas(robot, 224, 128, None, at=(30 + 5 * i, 10))) for i in range(3)]
    frames[0].save(animation, save_all=True, append_images=frames[1:], duration=100)
    out.append(("animated", animation, "fullbody"))
    save("sliver", np.dstack([rng.integers(0, 256, (900, 3, 3), np.uint8), np.full((900, 3), 255, np.uint8)]), mode="RGB")
    return out


def test_prepared_inputs_match_python_bit_for_bit(images, tmp_path):
    from ocpipe import data
    from ocpipe.readers import read_picture

    # Every image at the zoom models are trained for now, and at 1.0 (models trained before it).
    cases = [(image, zoom) for image in images for zoom in (data.PREDICT_ZOOM, 1.0)]
    jobs = [{"op": "prepare", "path": str(path), "size": list(IMAGE_SIZES[phase]), "whole": phase == "multi", "zoom": zoom}
            for (_, path, phase), zoom in cases]
    results = run_node(jobs, tmp_path)
    for ((name, path, phase), zoom), job, got in zip(cases, jobs, results):
        assert "error" not in got, (name, got)
        picture = read_picture(path, WORK_MAX_SIDE)
        rgba = picture.rgba
        assert (got["height"], got["width"]) == rgba.shape[:2], name
        np.testing.assert_array_equal(decoded(got["rgba"], np.uint8, rgba.shape), rgba, err_msg=f"{name}: read")
        assert got["animated"] == picture.animated, name
        matted = data.matte(rgba)
        np.testing.assert_array_equal(decoded(got["matte"], np.uint8, rgba.shape), matted, err_msg=f"{name}: matte")
        box, blank = data.find_content(matted, job["whole"])
        assert (tuple(got["content"]["box"]), got["content"]["blank"]) == (tuple(box), blank), name
        prepared = data.prepare(rgba, IMAGE_SIZES[phase], job["whole"], zoom)
        inputs = decoded(got["inputs"], np.float32, prepared.inputs.shape)
        np.testing.assert_array_equal(inputs, prepared.inputs, err_msg=f"{name} at zoom {zoom}: model input")
        assert (tuple(got["box"]), got["blank"]) == (tuple(prepared.box), prepared.blank), name
    kinds = {name: json.loads(json.dumps(got["content"])) for ((name, _, _), _), got in zip(cases, results)}
    assert kinds["blank"]["blank"] and not kinds["transparent"]["blank"]  # the cases cover both answers


def test_opencv_resizes_match(tmp_path):
    """INTER_AREA (fractional and whole-number factors) and INTER_LINEAR, as the thumbnails use them."""
    import cv2

    rng = np.random.default_rng(3)
    cases = [(224, 128, 192, 110), (480, 270, 192, 108), (1024, 576, 384, 216), (997, 613, 384, 236), (384, 216, 192, 108),
             (90, 60, 30, 20), (77, 1200, 12, 192), (300, 200, 150, 100)]
    jobs, expected = [], []
    for index, (width, height, out_width, out_height) in enumerate(cases):
        pixels = rng.integers(0, 256, (height, width, 4), np.uint8)
        if index % 2:
            pixels = cv2.GaussianBlur(pixels, (7, 7), 3)  # smooth areas as well as noise
        text = base64.b64encode(pixels.tobytes()).decode()
        for op, method in (("area", cv2.INTER_AREA), ("linear", cv2.INTER_LINEAR)):
            jobs.append({"op": op, "data": text, "width": width, "height": height, "channels": 4,
                         "outWidth": out_width, "outHeight": out_height})
            expected.append(cv2.resize(pixels, (out_width, out_height), interpolation=method))
    for job, want, got in zip(jobs, expected, run_node(jobs, tmp_path)):
        np.testing.assert_array_equal(decoded(got["out"], np.uint8, want.shape), want, err_msg=str(job["op"]))


def test_tensorflow_area_resize_matches(tmp_path):
    """tf.image.resize(method='area') of premultiplied float pixels: the letterbox's resize."""
    import tensorflow as tf

    rng = np.random.default_rng(5)
    jobs, expected = [], []
    for height, width, out_height, out_width in ((224, 128, 220, 126), (300, 171, 224, 128), (57, 900, 7, 112), (40, 40, 160, 160)):
        pixels = (rng.integers(0, 256, (height, width, 4)) * rng.random((height, width, 1))).astype(np.float32)
        jobs.append({"op": "tfarea", "data": base64.b64encode(pixels.tobytes()).decode(), "height": height, "width": width,
                     "channels": 4, "outHeight": out_height, "outWidth": out_width})
        expected.append(tf.image.resize(pixels, (out_height, out_width), method="area", antialias=True).numpy())
    for want, got in zip(expected, run_node(jobs, tmp_path)):
        np.testing.assert_array_equal(decoded(got["out"], np.float32, want.shape), want)
