"""Hostile and odd images get a defined answer from every reader, in bounded time
and memory (issue #13): decompression bombs, truncated and mislabelled files,
16-bit / grey / palette / CMYK / EXIF-rotated pictures, slivers, animations.
Every file is generated here; the bomb is a real 400-megapixel PNG of ~1.2 MB."""

from __future__ import annotations

import io
import json
import shutil
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import make_source
from PIL import Image
from typer.testing import CliRunner

from ocpipe.cli import app
from ocpipe.config import MAX_IMAGE_PIXELS, WORK_MAX_SIDE
from ocpipe.errors import InputError
from ocpipe.ingest import ingest
from ocpipe.manifest import read_table
from ocpipe.readers import read_picture, read_rgba

# These tests read the peak memory of a child process through the `resource`
# module, which exists on POSIX only (the rest of this file runs anywhere).
POSIX_RSS = pytest.mark.skipif(sys.platform == "win32", reason="peak RSS via the POSIX-only resource module")
# The live-server tests sample the server's memory from /proc (Linux only).
PROC_RSS = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="server memory read from /proc (Linux)")

runner = CliRunner()
LIMIT = f"ocpipe reads up to {MAX_IMAGE_PIXELS / 1e6:g} megapixels"


# --- generated files -------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png(path, width: int, height: int, channels: int = 3, value: int = 255, rows: int | None = None):
    """A real PNG streamed row by row (never whole in memory): `value` everywhere.
    rows < height writes only that many rows of pixel data: the header still claims
    the full size (a truncated file / a header that lies)."""
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    compressor = zlib.compressobj(9)
    row = b"\0" + bytes([value]) * (width * channels)
    data = b"".join(compressor.compress(row) for _ in range(height if rows is None else rows)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
    return path


def write_gif_with_growing_frame(path, width: int, height: int):
    """A GIF whose logical screen is 8x8 but whose first frame claims width x height
    (Pillow grows the canvas to fit the frame)."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 8, 8, 0xF0, 0, 0) + b"\0\0\0\xff\xff\xff"  # 2-colour global table
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    path.write_bytes(screen + frame + b";")
    return path


def write_webp_claiming(path, width: int, height: int):
    """An extended-format WebP header (VP8X) announcing a width x height canvas."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x)
    return path


def drawing(width: int = 96, height: int = 160) -> np.ndarray:
    """An RGB test picture that shows its orientation: red top-left block, blue bottom band."""
    rgb = np.full((height, width, 3), 240, np.uint8)
    rgb[: height // 4, : width // 3] = (220, 30, 30)
    rgb[-height // 5 :, :] = (30, 30, 220)
    rgb[height // 3 : height // 2, width // 3 : 2 * width // 3] = (20, 140, 20)
    return rgb


@pytest.fixture(scope="session")
def hostile(tmp_path_factory):
    """Hostile and broken files, made once per session."""
    folder = tmp_path_factory.mktemp("hostile")
    files = {
        "bomb": write_png(folder / "bomb.png", 20000, 20000),  # 400 megapixels, ~1.2 MB
        "white144": write_png(folder / "white144.png", 12000, 12000),  # 144 megapixels, ~0.45 MB
        "claims": write_png(folder / "claims.png", 20000, 20000, rows=4),  # header says 400 MP, data is 4 rows
        "text": folder / "notes.png",
        "empty": folder / "empty.png",
        "cut": folder / "cut.png",
        "growing_gif": write_gif_with_growing_frame(folder / "growing.gif", 20000, 20000),
        "growing_gif_100": write_gif_with_growing_frame(folder / "growing100.gif", 10000, 10000),  # Pillow only warns
        "huge_webp": write_webp_claiming(folder / "huge.webp", 16000, 16000),
    }
    files["text"].write_text("this is not a picture\n")
    files["empty"].write_bytes(b"")
    whole = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(whole, "PNG")
    files["cut"].write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])
    return files


@pytest.fixture(scope="module")
def big_jpegs(tmp_path_factory):
    """A 6000x8000 phone photo (48 MP, under the budget), a baseline 7200x7200 JPEG
    (52 MP, over it) and the same as a progressive JPEG."""
    folder = tmp_path_factory.mktemp("big")
    small = Image.fromarray(drawing(60, 80))
    files = {"phone": folder / "phone.jpg", "over": folder / "over.jpg", "progressive": folder / "progressive.jpg"}
    small.resize((6000, 8000), Image.Resampling.NEAREST).save(files["phone"], quality=85)
    square = small.resize((7200, 7200), Image.Resampling.NEAREST)
    square.save(files["over"], quality=85)
    square.save(files["progressive"], quality=85, progressive=True)
    return files


# --- readers: one budget, one line each ---------------------------------------------------


def test_bomb_is_refused_from_its_header_in_milliseconds(hostile):
    assert 0.9e6 < hostile["bomb"].stat().st_size < 1.5e6  # the bomb really is ~1 MB on disk
    start = time.perf_counter()
    with pytest.raises(InputError) as caught:
        read_rgba(hostile["bomb"])
    assert time.perf_counter() - start < 0.5  # 400 MP decoded would take many seconds
    assert str(caught.value) == f"this image is 400 megapixels (20000x20000); {LIMIT}"


@pytest.mark.parametrize("case, reason", [
    ("white144", f"this image is 144 megapixels (12000x12000); {LIMIT}"),
    ("claims", f"this image is 400 megapixels (20000x20000); {LIMIT}"),
    ("growing_gif", f"this image is 400 megapixels; {LIMIT}"),  # GIF frames grow the canvas: Pillow's check fires
    ("growing_gif_100", f"this image is 100 megapixels (10000x10000); {LIMIT}"),
    ("huge_webp", f"this image is 256 megapixels (16000x16000); {LIMIT}"),
    ("text", "not an image ocpipe can read: its content is text, not an image"),
    ("empty", "not an image ocpipe can read: the file is empty"),
])
def test_refusals_name_the_reason(hostile, case, reason):
    for max_side in (None, WORK_MAX_SIDE):
        with pytest.raises(InputError) as caught:
            read_picture(hostile[case], max_side)
        assert str(caught.value) == reason


def test_truncated_png_is_one_reason(hostile):
    with pytest.raises(InputError) as caught:
        read_rgba(hostile["cut"])
    assert str(caught.value).startswith("corrupt or truncated image") and "\n" not in str(caught.value)


def test_phone_photo_is_read_and_shrunk_while_decoding(big_jpegs):
    start = time.perf_counter()
    rgba = read_rgba(big_jpegs["phone"], WORK_MAX_SIDE)
    assert time.perf_counter() - start < 2.0
    assert rgba.shape == (1024, 768, 4)
    assert read_rgba(big_jpegs["phone"]).shape == (8000, 6000, 4)  # 48 MP: within the budget at full size


def test_baseline_jpeg_over_the_budget_is_shrunk_progressive_is_refused(big_jpegs):
    full = read_rgba(big_jpegs["over"])  # 52 MP: decoded at half scale by libjpeg
    assert full.shape == (3600, 3600, 4)
    assert read_rgba(big_jpegs["over"], WORK_MAX_SIDE).shape == (1024, 1024, 4)
    expected = np.asarray(Image.fromarray(drawing(60, 80)).resize((3600, 3600), Image.Resampling.NEAREST))
    assert np.abs(full[:, :, :3].astype(int) - expected).mean() < 6  # the same picture, not garbage
    with pytest.raises(InputError, match="progressive one can't be"):
        read_rgba(big_jpegs["progressive"])


def test_sixteen_bit_grey_keeps_its_levels(tmp_path):
    levels = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(levels).save(tmp_path / "grey16.png")  # Pillow: mode I;16
    rgba = read_rgba(tmp_path / "grey16.png")
    assert np.array_equal(rgba[:, :, 0], (levels >> 8).astype(np.uint8))  # not clipped to white
    assert np.array_equal(rgba[:, :, 0], rgba[:, :, 2]) and (rgba[:, :, 3] == 255).all()


def test_sixteen_bit_colour_png(tmp_path):
    import cv2

    rgb16 = (drawing().astype(np.uint16) * 257 + 100).astype(np.uint16)
    rgba16 = np.dstack([rgb16[:, :, ::-1], np.full(rgb16.shape[:2], 65535, np.uint16)])  # OpenCV writes BGRA
    cv2.imwrite(str(tmp_path / "rgba16.png"), rgba16)
    rgba = read_rgba(tmp_path / "rgba16.png")
    assert np.abs(rgba[:, :, :3].astype(int) - (rgb16 >> 8)).max() <= 1 and (rgba[:, :, 3] == 255).all()


@pytest.mark.parametrize("mode", ["L", "LA", "P", "PA-transparency"])
def test_grey_and_palette_pngs(tmp_path, mode):
    rgb = drawing()
    path = tmp_path / "picture.png"
    if mode == "L":
        Image.fromarray(rgb).convert("L").save(path)
        expected = np.asarray(Image.fromarray(rgb).convert("L"))
        assert np.array_equal(read_rgba(path)[:, :, 1], expected)
        return
    if mode == "LA":
        grey = np.asarray(Image.fromarray(rgb).convert("L"))
        alpha = np.where(grey > 200, 0, 255).astype(np.uint8)
        Image.fromarray(np.dstack([grey, alpha]), "LA").save(path)
        rgba = read_rgba(path)
        assert np.array_equal(rgba[:, :, 3], alpha) and np.array_equal(rgba[:, :, 0], grey)
        return
    palette = Image.fromarray(rgb).quantize(8)
    if mode == "P":
        palette.save(path)
        assert np.array_equal(read_rgba(path), np.asarray(palette.convert("RGBA")))
        return
    index = int(np.asarray(palette)[0, -1])  # the background colour's palette entry becomes transparent
    palette.save(path, transparency=index)
    rgba = read_rgba(path)
    assert rgba[0, -1, 3] == 0 and rgba[5, 5, 3] == 255
    assert np.array_equal(rgba[:, :, 3] == 0, np.asarray(palette) == index)


def test_cmyk_jpeg_comes_out_rgb(tmp_path):
    rgb = drawing()
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    rgba = read_rgba(tmp_path / "cmyk.jpg")
    assert rgba.shape == (160, 96, 4) and (rgba[:, :, 3] == 255).all()
    assert np.abs(rgba[:, :, :3].astype(int) - rgb).mean() < 8


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_honoured(tmp_path, suffix, orientation):
    """A camera stores the sensor's pixels and an EXIF tag saying how to turn them."""
    upright = drawing()
    undo = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"camera{suffix}"
    Image.fromarray(upright).transpose(undo).save(path, exif=exif, **({"quality": 95} if suffix == ".jpg" else {}))
    rgba = read_rgba(path)
    assert rgba.shape == (160, 96, 4)
    tolerance = 8 if suffix == ".jpg" else 0
    assert np.abs(rgba[:, :, :3].astype(int) - upright).mean() <= tolerance
    assert read_rgba(path, 80).shape == (80, 48, 4)  # shrinking keeps it upright


def test_slivers_are_read_and_shrunk(tmp_path):
    Image.new("RGB", (1, 20000), "white").save(tmp_path / "tall.png")
    Image.new("RGB", (20000, 1), "red").save(tmp_path / "wide.png")
    assert read_rgba(tmp_path / "tall.png").shape == (20000, 1, 4)
    assert read_rgba(tmp_path / "tall.png", WORK_MAX_SIDE).shape == (1024, 1, 4)
    wide = read_rgba(tmp_path / "wide.png", WORK_MAX_SIDE)
    assert wide.shape == (1, 1024, 4) and (wide[0, :, 0] == 255).all()


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_animations_use_their_first_frame_and_say_so(tmp_path, suffix):
    frames = [Image.fromarray(drawing()), Image.fromarray(drawing()[::-1].copy()), Image.fromarray(drawing()[:, ::-1].copy())]
    path = tmp_path / f"anim{suffix}"
    options = {"lossless": True} if suffix == ".webp" else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)
    picture = read_picture(path)
    assert picture.animated and picture.note == "an animated image: its first frame is used"
    tolerance = 12 if suffix == ".gif" else 0  # GIF: a 256-colour palette
    assert np.abs(picture.rgba[:, :, :3].astype(int) - drawing()).mean() <= tolerance
    frames[0].save(tmp_path / f"still{suffix}")
    assert not read_picture(tmp_path / f"still{suffix}").animated


def test_bytes_read_like_files(hostile, tmp_path):
    Image.fromarray(drawing()).save(tmp_path / "a.png")
    assert np.array_equal(read_rgba((tmp_path / "a.png").read_bytes()), read_rgba(tmp_path / "a.png"))
    with pytest.raises(InputError, match="400 megapixels"):
        read_rgba(hostile["bomb"].read_bytes())


# --- prediction's preprocessing: thin content ---------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1024), (1024, 1), (3, 700), (1, 1)])
def test_letterbox_fits_slivers_and_thin_lines(shape):
    """tf.image.resize's preserve_aspect_ratio rounds a 1x1024 crop to 0 pixels and fails."""
    from ocpipe.data import prepare

    rgba = np.full((*shape, 4), 255, np.uint8)
    rgba[..., 0] = np.linspace(0, 255, shape[1], dtype=np.uint8)[None]
    prepared = prepare(rgba, (224, 112))
    assert prepared.inputs.shape == (224, 112, 3) and np.isfinite(prepared.inputs).all()
    line = np.full((1000, 1000, 4), 255, np.uint8)
    line[500:503, 100:900, :3] = 0  # a thin drawn line on a white page: its crop box is 3 pixels high
    prepared = prepare(line, (224, 112))
    assert prepared.inputs.shape == (224, 112, 3) and prepared.box[3] - prepared.box[1] < 10 and not prepared.blank


# --- ingest: a hostile file is one failure line; the batch goes on ------------------------


def test_ingest_batch_with_hostile_files_goes_on(tmp_path, workspace, hostile):
    first = make_source(tmp_path / "first", ".apng")
    assert ingest([first], workspace, phase="fullbody", character="Maxus").ok
    before = read_table(workspace.manifest)
    good = make_source(tmp_path / "good", ".gif", tilt=12.0)
    bad = [hostile[name] for name in ("bomb", "claims", "cut", "text", "growing_gif", "huge_webp")]
    result = ingest([*bad, good], workspace, phase="fullbody", character="Maxus")
    assert len(result.added) == 1 and result.added[0]["source_path"].endswith("clip.gif")
    reasons = {failure.path.name: failure.reason for failure in result.failures}
    assert set(reasons) == {path.name for path in bad}
    assert reasons["bomb.png"] == f"this image is 400 megapixels (20000x20000); {LIMIT}"
    assert reasons["growing.gif"] == f"this image is 400 megapixels; {LIMIT}"
    assert all(reason and "\n" not in reason for reason in reasons.values())
    after = read_table(workspace.manifest)
    assert after[: len(before)] == before and len(after) > len(before)  # nothing already ingested lost


def test_ingest_video_frames_obey_the_budget(tmp_path, workspace, monkeypatch):
    import ocpipe.readers

    video = make_source(tmp_path / "v", ".mp4")
    monkeypatch.setattr(ocpipe.readers, "MAX_IMAGE_PIXELS", 10_000)
    result = ingest([video], workspace, phase="fullbody", character="Maxus")
    assert [failure.reason for failure in result.failures] == [
        "each frame of this video is 0.0 megapixels (128x224); ocpipe reads up to 0.01 megapixels"]


def test_ingest_still_turned_upright_by_exif(tmp_path, workspace):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "photo.jpg"
    Image.fromarray(drawing()).transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=95)
    assert ingest([path], workspace, phase="fullbody", character="Maxus").ok
    row = read_table(workspace.manifest)[0]
    assert (row["width"], row["height"]) == ("96", "160")


@POSIX_RSS
def test_cli_ingest_hostile_batch_one_line_each_no_traceback_small_memory(tmp_path, hostile):
    """The issue's 'done when': a 400-megapixel PNG, a truncated PNG and a good still,
    from outside the repo: the still is ingested, the others named, exit 1, < 2 GB."""
    good = make_source(tmp_path / "in", "still.png", name="good")
    workspace = tmp_path / "ws"
    code = ("import resource, subprocess, sys; "
            "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr); "
            "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)")
    command = [sys.executable, "-c", code, sys.executable, "-m", "ocpipe.cli", "ingest", str(hostile["bomb"]),
               str(hostile["cut"]), str(hostile["growing_gif_100"]), str(good), "--phase", "fullbody", "--character", "Maxus",
               "--workspace", str(workspace)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = done.stderr.strip().splitlines()  # one line per bad file, nothing else (no Pillow warning either)
    assert errors == [f"error: {hostile['bomb']}: this image is 400 megapixels (20000x20000); {LIMIT}",
                      errors[1],
                      f"error: {hostile['growing_gif_100']}: this image is 100 megapixels (10000x10000); {LIMIT}"]
    assert errors[1].startswith(f"error: {hostile['cut']}: corrupt or truncated image")
    assert len(read_table(workspace / "data/processed/manifest.csv")) == 1
    peak_kb = int(done.stdout.split("MAXRSS_KB")[1].split()[0])
    print("ingest peak RSS MB", peak_kb // 1024)
    assert peak_kb < 2 * 1024 * 1024


# --- predict, explain: a trained model ----------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three characters x 3 animations (one per split), trained for a few seconds:
    these tests check reading, refusing and bounds, not accuracy."""
    from ocpipe.train import TrainOptions, train_phase
    from ocpipe.workspace import Workspace

    workspace = Workspace.at(tmp_path_factory.mktemp("hostile_trained") / "ws")
    for index, (name, sprite) in enumerate({"Maxus": "Robot", "Hydra": "Zombie", "Ilya": "Pilot"}.items()):
        for number in range(3):
            make_source(workspace.raw / "fullbody" / name, [".apng", ".gif", ".webp"][(index + number) % 3], character=sprite,
                        tilt=(number - 1) * 8.0, seed=number, name=f"a{number}")
    assert ingest([workspace.raw], workspace).ok
    train_phase(workspace, "fullbody", TrainOptions(epochs=2, seed=0, min_images_per_epoch=128, patience=5), log=lambda line: None)
    return workspace


def _kept_frame(workspace) -> str:
    return str(workspace.absolute(read_table(workspace.manifest)[0]["path"]))


@pytest.mark.slow
def test_predict_answers_the_good_and_names_each_bad(trained, hostile, tmp_path):
    good = _kept_frame(trained)
    frames = [Image.open(good).convert("RGBA"), Image.open(good).convert("RGBA").rotate(20)]
    animation = tmp_path / "anim.gif"
    frames[0].save(animation, save_all=True, append_images=frames[1:], duration=100, loop=0)
    sliver = tmp_path / "sliver.png"
    Image.new("RGB", (1, 20000), "white").save(sliver)
    bad = [hostile["bomb"], hostile["white144"], hostile["text"], hostile["cut"]]
    start = time.perf_counter()
    out = runner.invoke(app, ["predict", good, *map(str, bad), str(animation), str(sliver), "--phase", "fullbody",
                              "--workspace", str(trained.root), "--json"])
    print("predict of 7 images, 4 hostile:", round(time.perf_counter() - start, 2), "s")
    assert out.exit_code == 1 and "Traceback" not in out.output
    answers = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [answer["path"] for answer in answers] == [good, str(animation), str(sliver)]
    assert answers[1]["note"] == "an animated image: its first frame is used" and "note" not in answers[0]
    assert all(abs(sum(answer["scores"].values()) - 1) < 1e-3 for answer in answers)
    errors = out.stderr.strip().splitlines()
    assert errors == [
        f"error: {hostile['bomb']}: this image is 400 megapixels (20000x20000); {LIMIT}",
        f"error: {hostile['white144']}: this image is 144 megapixels (12000x12000); {LIMIT}",
        f"error: {hostile['text']}: not an image ocpipe can read: its content is text, not an image",
        errors[3],
    ] and errors[3].startswith(f"error: {hostile['cut']}: corrupt or truncated image")


@pytest.mark.slow
def test_predict_reads_big_photos_at_working_size_quickly(trained, big_jpegs, tmp_path):
    from ocpipe.predict import Predictor

    predictor = Predictor.load(trained, "fullbody")
    predictor.predict_path(_kept_frame(trained))  # warm-up (graph tracing)
    start = time.perf_counter()
    result = predictor.predict_path(big_jpegs["phone"])
    assert time.perf_counter() - start < 3.0
    assert set(result["scores"]) == set(predictor.classes)
    # The same picture upright or EXIF-turned gets the same answer (a PNG: no re-encoding noise).
    art = np.asarray(Image.open(_kept_frame(trained)).convert("RGB"))
    Image.fromarray(art).save(tmp_path / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(art).transpose(Image.Transpose.ROTATE_270).save(tmp_path / "turned.png", exif=exif)
    upright, turned = predictor.predict_path(tmp_path / "upright.png"), predictor.predict_path(tmp_path / "turned.png")
    assert turned["scores"] == pytest.approx(upright["scores"], abs=1e-6)


@pytest.mark.slow
@POSIX_RSS
def test_cli_predict_144_and_400_megapixels_in_small_memory(trained, hostile, tmp_path):
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "sys.stderr.write(done.stderr); "
            "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, 'SECONDS', time.perf_counter() - t); "
            "sys.exit(done.returncode)")
    command = [sys.executable, "-c", code, sys.executable, "-m", "ocpipe.cli", "predict", str(hostile["white144"]),
               str(hostile["bomb"]), _kept_frame(trained), "--phase", "fullbody", "--workspace", str(trained.root)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    # (TensorFlow may add a native 'failed call to cuInit' line on machines with CUDA libraries but no GPU.)
    assert [line.split(": ", 2)[1] for line in done.stderr.splitlines() if line.startswith("error: ")] == [
        str(hostile["white144"]), str(hostile["bomb"])]
    figures = done.stdout.split("MAXRSS_KB")[1].split()
    peak_mb, seconds = int(figures[0]) // 1024, float(figures[2])
    print(f"ocpipe predict (144 MP + 400 MP + a good frame): {seconds:.1f} s, peak RSS {peak_mb} MB")
    assert peak_mb < 2048  # before: 11 GB and a minute for the 144 MP PNG alone


@pytest.mark.slow
def test_explain_refuses_bombs_and_draws_big_photos_at_working_size(trained, hostile, big_jpegs, tmp_path):
    out = tmp_path / "cam.png"
    result = runner.invoke(app, ["explain", str(hostile["bomb"]), "--phase", "fullbody", "--out", str(out),
                                 "--workspace", str(trained.root)])
    assert result.exit_code == 1 and not out.exists()
    assert result.stderr.strip().splitlines() == [f"error: {hostile['bomb']}: this image is 400 megapixels (20000x20000); {LIMIT}"]
    result = runner.invoke(app, ["explain", str(big_jpegs["phone"]), "--phase", "fullbody", "--out", str(out),
                                 "--workspace", str(trained.root)])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (768, 1024)  # the 6000x8000 photo, drawn at the working size


# --- the app, live: hostile uploads while other visitors are served ------------------------


def _rss_mb(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) // 1024


class _PeakRss:
    """Samples a process's resident memory every 20 ms in a thread; .peak in MB."""

    def __init__(self, pid: int | str = "self") -> None:
        import threading

        self.pid = pid
        self.peak = _rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb(self.pid))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def live(trained):
    """The real app, as a user starts it (`ocpipe demo`, every limit on), on 127.0.0.1 in its own
    process, so its memory is the server's alone. Yields (workspace, url, server pid)."""
    import os
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("ocpipe")), "demo", "--port", str(port),
                               "--workspace", str(trained.root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                assert server.poll() is None, "ocpipe demo exited before serving"
                time.sleep(0.5)
        yield trained, url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def honest_big(tmp_path_factory):
    """A 7000x7000 PNG (49 MP, just under the budget; decoded in full) with a drawn block."""
    path = tmp_path_factory.mktemp("honest") / "poster.png"
    picture = Image.new("RGB", (7000, 7000), "white")
    picture.paste((200, 40, 40), (2500, 1500, 4500, 5500))
    picture.save(path, compress_level=1)
    return path


@pytest.mark.slow
@PROC_RSS
def test_live_server_refuses_hostile_uploads_while_serving_visitors(live, hostile, big_jpegs, honest_big):
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file

    workspace, url, pid = live
    frames = [str(workspace.absolute(row["path"])) for row in read_table(workspace.manifest) if row["split"] == "test"]
    classes = {"Maxus", "Hydra", "Ilya"}
    Client(url, verbose=False).predict(handle_file(frames[0]), "fullbody", api_name="/predict")  # warm-up
    refusals = {
        "bomb": f"this image is 400 megapixels (20000x20000); {LIMIT}",
        "white144": f"this image is 144 megapixels (12000x12000); {LIMIT}",
        "claims": f"this image is 400 megapixels (20000x20000); {LIMIT}",
        "text": "not an image ocpipe can read: its content is text, not an image",
        "cut": "corrupt or truncated image",
    }
    honest = {"phone": big_jpegs["phone"], "poster": honest_big}

    def visitor(index: int) -> list[str]:
        client, failures = Client(url, verbose=False), []
        for i in range(8):
            try:
                label, overlay = client.predict(handle_file(frames[(index + i) % len(frames)]), "fullbody", api_name="/predict")
                assert {c["label"] for c in label["confidences"]} == classes and overlay
            except Exception as exc:  # counted, then asserted to be none
                failures.append(repr(exc))
        return failures

    def attacker() -> list[tuple[str, float, str]]:
        client, answers = Client(url, verbose=False), []
        for _ in range(2):
            for name, path in [*((n, hostile[n]) for n in refusals), *honest.items()]:
                start = time.perf_counter()
                try:
                    label = client.predict(handle_file(str(path)), "auto", api_name="/scores")
                    outcome = f"answered {label['label']}"
                except Exception as exc:
                    outcome = str(exc)
                answers.append((name, time.perf_counter() - start, outcome))
        return answers

    with _PeakRss(pid) as memory, ThreadPoolExecutor(5) as pool:
        visitors = [pool.submit(visitor, index) for index in range(3)]
        attackers = [pool.submit(attacker) for _ in range(2)]
        failures = [failure for future in visitors for failure in future.result()]
        answers = [answer for future in attackers for answer in future.result()]
    print(f"peak RSS {memory.peak} MB; slowest hostile answer {max(seconds for _, seconds, _ in answers):.2f} s")
    assert failures == []  # every visitor served
    for name, seconds, outcome in answers:
        assert seconds < 10, (name, seconds)
        if name in refusals:
            assert outcome.startswith(refusals[name]), (name, outcome)  # the reason reaches the visitor
        else:
            assert outcome.startswith("answered "), (name, outcome)  # big but honest: answered
    assert memory.peak < 2560


@pytest.mark.slow
@PROC_RSS
def test_live_server_bounds_floods_and_bodies(live):
    import httpx
    from gradio_client import Client, handle_file

    from ocpipe.config import DEMO_QUEUE_SIZE, MAX_UPLOAD_MB

    workspace, url, pid = live
    frame = _kept_frame(workspace)
    api = url + "gradio_api"
    with httpx.Client(timeout=60) as http:
        # Over the upload limit: refused before the body is read.
        before = _rss_mb(pid)
        response = http.post(api + "/upload", files={"files": ("big.png", b"\0" * ((MAX_UPLOAD_MB + 5) * 1024 * 1024))})
        assert response.status_code == 413
        response = http.post(api + "/queue/join", content=b"[" + b" " * (64 * 1024 * 1024) + b"]",
                             headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert _rss_mb(pid) - before < 200
        # A flood: the queue takes DEMO_QUEUE_SIZE waiting requests, the rest are refused at once.
        uploaded = http.post(api + "/upload", files={"files": ("frame.png", open(frame, "rb").read())}).json()[0]
        config = http.get(url + "config").json()
        fn_index = next(i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == "predict")
        payload = {"data": [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}, "fullbody"], "fn_index": fn_index,
                   "session_hash": "flood", "event_data": None, "trigger_id": None}
        codes = [http.post(api + "/queue/join", json=payload).status_code for _ in range(3 * DEMO_QUEUE_SIZE)]
    print("flood:", {code: codes.count(code) for code in set(codes)})
    assert set(codes) == {200, 503} and codes.count(200) >= DEMO_QUEUE_SIZE
    # The queue drains and the next visitor is served: refused while the flood's
    # requests still fill it (right after the flood when this test runs alone), then answered.
    import time

    from gradio_client.utils import QueueError

    client, deadline = Client(url, verbose=False), time.monotonic() + 180
    while True:
        try:
            label, _ = client.predict(handle_file(frame), "fullbody", api_name="/predict")
            break
        except QueueError:
            assert time.monotonic() < deadline, "the queue never drained"
            time.sleep(2)
    assert {c["label"] for c in label["confidences"]} == {"Maxus", "Hydra", "Ilya"}


@pytest.mark.slow
def test_share_without_auth_says_the_link_is_public(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # The port is taken, so no server (and no public tunnel) is started; the note comes first.
        public = runner.invoke(app, ["demo", "--share", "--port", str(port), "--workspace", str(tmp_path)])
        private = runner.invoke(app, ["demo", "--share", "--auth", "me:secret", "--port", str(port), "--workspace", str(tmp_path)])
    assert public.exit_code == 1 and private.exit_code == 1
    assert public.stdout.splitlines() == ["note: --share without --auth: the link is public, anyone who has it "
                                          "can use the app (add --auth USER:PASSWORD to require a login)"]
    assert public.stderr.startswith(f"error: can't serve on 127.0.0.1:{port}")
    assert private.stdout == ""


def test_others_folder_with_hostile_files_reads_the_rest(tmp_path, workspace, hostile):
    from ocpipe import config
    from ocpipe.others import read_others

    good = make_source(workspace.others("fullbody"), ".gif", character="Ranger", seed=5, name="friend")
    for name in ("bomb", "claims", "cut", "text", "growing_gif", "huge_webp", "white144"):
        shutil.copy(hostile[name], workspace.others("fullbody") / hostile[name].name)
    found = read_others(workspace, "fullbody", config.IMAGE_SIZES["fullbody"])
    assert found.files == [f"data/others/fullbody/{good.name}"] and len(found) == 4
    reasons = {str(failure.path): failure.reason for failure in found.failures}
    assert reasons["data/others/fullbody/bomb.png"] == f"this image is 400 megapixels (20000x20000); {LIMIT}"
    assert len(reasons) == 7 and all(reason and "\n" not in reason for reason in reasons.values())
