"""A new expression on the same drawing is a new drawing; a re-encoded, slid or
rescaled copy is not. The hash alone can't tell them apart (a smile moves a few
bits of 256), so deduplication compares the drawings' looks too (hashing.drawing_look)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from ocpipe.config import DEFAULT_THRESHOLD
from ocpipe.hashing import hamming, hash_frame, same_picture
from ocpipe.ingest import ingest
from ocpipe.manifest import read_table

SIDE = 320


def face(expression: str = "neutral") -> Image.Image:
    """A drawn head and shoulders (antialiased lines, soft alpha edge) with one of a
    few expressions that change only the eyes or the mouth."""
    canvas = np.zeros((SIDE, SIDE, 4), np.uint8)
    ink, skin, hair = (40, 30, 30, 255), (240, 200, 170, 255), (150, 60, 200, 255)
    line = cv2.LINE_AA
    # Not mirror-symmetric (a perfectly symmetric picture leaves half of pHash's
    # bits to noise): the head tilts, the hair is parted and falls on one side.
    cv2.ellipse(canvas, (150, 300), (125, 60), 0, 180, 360, (60, 90, 160, 255), -1, line)  # shoulders
    cv2.ellipse(canvas, (160, 150), (85, 105), 8, 0, 360, skin, -1, line)
    cv2.ellipse(canvas, (160, 150), (85, 105), 8, 0, 360, ink, 3, line)
    cv2.ellipse(canvas, (165, 95), (95, 60), 8, 180, 360, hair, -1, line)
    cv2.fillPoly(canvas, [np.array([[72, 90], [110, 80], [95, 230], [60, 250]], np.int32)], hair, line)
    cv2.line(canvas, (200, 60), (150, 110), ink, 3, line)
    for x in (125, 195):
        if expression == "blink":
            cv2.line(canvas, (x - 16, 140), (x + 16, 140), ink, 4, line)
        else:
            cv2.ellipse(canvas, (x, 140), (16, 11), 0, 0, 360, (255, 255, 255, 255), -1, line)
            cv2.circle(canvas, (x, 140), 8, (30, 120, 40, 255), -1, line)
            cv2.ellipse(canvas, (x, 140), (16, 11), 0, 0, 360, ink, 2, line)
    if expression == "smile":
        cv2.ellipse(canvas, (160, 199), (18, 9), 0, 10, 170, ink, 3, line)
    elif expression == "surprised":
        cv2.ellipse(canvas, (160, 205), (5, 7), 0, 0, 360, (120, 30, 40, 255), -1, line)
    else:
        cv2.line(canvas, (148, 205), (172, 205), ink, 3, line)
    return Image.fromarray(canvas, "RGBA")


def _bgra(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGBA"))[:, :, [2, 1, 0, 3]])


def _reencoded(image: Image.Image, fmt: str, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    return Image.open(buffer).convert("RGBA")


def _slid(image: Image.Image, scale: float = 1.0) -> Image.Image:
    moved = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    canvas = Image.new("RGBA", (image.width + 60, image.height + 40))
    canvas.paste(moved, (37, 11))
    return canvas


def _over_white(image: Image.Image) -> Image.Image:
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    white.alpha_composite(image)
    return white


COPIES = {
    "gif": lambda im: _reencoded(im, "GIF"),
    "lossy webp": lambda im: _reencoded(im, "WEBP", quality=70),
    "slid": _slid,
    "slid and 6% smaller": lambda im: _slid(im, 0.94),
    "jpeg over white": lambda im: _reencoded(_over_white(im).convert("RGB"), "JPEG", quality=75),
}


@pytest.mark.parametrize("expression", ["smile", "blink", "surprised"])
def test_new_expression_is_a_new_drawing(expression):
    neutral, changed = hash_frame(_bgra(face())), hash_frame(_bgra(face(expression)))
    # The hash alone would call them duplicates: the look is what keeps them apart.
    assert hamming(neutral.bits, changed.bits) <= DEFAULT_THRESHOLD
    assert not same_picture(neutral.look, changed.look)


@pytest.mark.parametrize("copy", sorted(COPIES))
@pytest.mark.parametrize("expression", ["neutral", "smile"])
def test_reencoded_slid_and_rescaled_copies_are_the_same_drawing(copy, expression):
    original = face(expression)
    if copy == "jpeg over white":
        original = _over_white(original)
    a, b = hash_frame(_bgra(original)), hash_frame(_bgra(COPIES[copy](face(expression))))
    assert hamming(a.bits, b.bits) <= DEFAULT_THRESHOLD
    assert same_picture(a.look, b.look)


def test_ingest_keeps_expressions_and_drops_copies(tmp_path, workspace):
    raw = tmp_path / "raw" / "headshot" / "Iris"
    raw.mkdir(parents=True)
    face().save(raw / "neutral.png")
    face("smile").save(raw / "smile.png")
    # An expression loop: neutral held, a blink, neutral again (GIF: 1-bit alpha).
    loop = [face()] * 3 + [face("blink")] * 2 + [face()] * 3
    loop[0].save(raw / "blink.gif", save_all=True, append_images=loop[1:], duration=80, loop=0, disposal=2)
    COPIES["lossy webp"](face()).save(raw / "neutral-again.webp", quality=70)
    result = ingest([tmp_path / "raw"], workspace)
    assert result.ok, result.failures
    kept = {row["source_path"].rsplit("/", 1)[-1]: int(row["frames_kept"]) for row in result.added}
    # Sources go in name order: the loop keeps neutral and blink; the stills of
    # neutral (and its WebP copy) repeat it; the smile is new.
    assert kept == {"blink.gif": 2, "neutral-again.webp": 0, "neutral.png": 0, "smile.png": 1}
    # A later run: copies are compared with the looks of frames stored by the first.
    later = tmp_path / "later" / "headshot" / "Iris"
    later.mkdir(parents=True)
    COPIES["gif"](face("smile")).save(later / "smile-copy.gif")
    _slid(face("surprised")).save(later / "surprised.png")
    again = ingest([tmp_path / "later"], workspace)
    kept = {row["source_path"].rsplit("/", 1)[-1]: int(row["frames_kept"]) for row in again.added}
    assert kept == {"smile-copy.gif": 0, "surprised.png": 1}
    assert again.leaks == []


def test_held_frames_skip_hashing_but_every_expression_is_kept(tmp_path, workspace):
    """An MP4 of a face over a pale colour, each expression held on twos: the held
    frames are found by comparing pixels with the frame before (no hash) and
    repeat it exactly; a smile or a blink between them is still a new drawing."""
    from ocpipe import backgrounds, samples

    height, width = 720, 1280
    expressions = ["neutral", "neutral", "smile", "smile", "blink", "blink", "surprised", "surprised"]
    frames = []
    for expression in expressions:
        canvas = np.zeros((height, width, 4), np.uint8)
        backgrounds.paste(canvas, np.asarray(face(expression)), 480, 200)
        frames.append(canvas)
    pale = np.full((height, width, 3), (250, 244, 232), np.uint8)
    video = samples._write(tmp_path / "faces", ".mp4", frames, pale)
    result = ingest([video], workspace, phase="headshot", character="Iris")
    assert result.ok, result.failures
    kept = read_table(workspace.manifest)
    assert sorted(int(row["frame_index"]) for row in kept) == [0, 2, 4, 6]
    held = {int(row["frame_index"]): row for row in read_table(workspace.duplicates)}
    assert sorted(held) == [1, 3, 5, 7]
    by_index = {int(row["frame_index"]): row["path"] for row in kept}
    assert all(held[i]["duplicate_of"] == by_index[i - 1] and held[i]["distance"] == "0" for i in held)
