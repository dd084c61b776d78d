"""Hash invariants: copies stay within the threshold, different drawings stay outside."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import make_bust

from ocpipe import backgrounds, samples
from ocpipe.config import DEFAULT_THRESHOLD
from ocpipe.dedupe import reach
from ocpipe.hashing import (_boxes, _plane, background_difference, background_model, content_box, hamming, hash_frame, look,
                             plain_background_matte, same_picture, thumbnail)

POSES = [f"walk{i}" for i in range(8)] + ["idle", "jump", "fall", "climb0", "climb1"]


def _canvas(pose: str, character: str = "Robot", x: int = 300, y: int = 200, background=None) -> np.ndarray:
    sprite = cv2.resize(samples._sprite(character, pose), (192, 256), interpolation=cv2.INTER_NEAREST)
    canvas = np.zeros((720, 1280, 4), np.uint8)
    backgrounds.paste(canvas, sprite, x, y)
    if background is not None:
        return np.ascontiguousarray(backgrounds.compose(canvas, background)[:, :, ::-1])
    return canvas[:, :, [2, 1, 0, 3]]


def test_distinct_drawings_stay_apart():
    hashes = {pose: hash_frame(_canvas(pose)).bits for pose in POSES}
    for a, b in itertools.combinations(POSES, 2):
        assert hamming(hashes[a], hashes[b]) > DEFAULT_THRESHOLD, (a, b)


@pytest.mark.parametrize("quality", [75, 90])
def test_jpeg_reencode_of_plain_background_stays_close(quality):
    rng = np.random.default_rng(0)
    background = backgrounds.gradient(720, 1280, rng)
    for pose in POSES[:8]:
        frame = _canvas(pose, background=background)
        ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        copy = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        assert hamming(hash_frame(frame).bits, hash_frame(copy).bits) <= DEFAULT_THRESHOLD


@settings(max_examples=15, deadline=None)
@given(x=st.integers(0, 1000), y=st.integers(0, 400))
def test_moving_the_same_drawing_is_a_duplicate(x, y):
    assert hamming(hash_frame(_canvas("idle")).bits, hash_frame(_canvas("idle", x=x, y=y)).bits) <= 4


def test_transparent_pixels_colour_does_not_matter():
    frame = _canvas("jump")
    noisy = frame.copy()
    hidden = noisy[:, :, 3] == 0
    noisy[hidden, :3] = np.random.default_rng(1).integers(0, 256, size=(int(hidden.sum()), 3))
    assert hamming(hash_frame(frame).bits, hash_frame(noisy).bits) == 0


def test_blank_frame_is_flagged():
    assert hash_frame(np.zeros((100, 100, 4), np.uint8)).blank
    assert hash_frame(np.full((100, 100, 3), 200, np.uint8)).blank
    assert not hash_frame(_canvas("idle")).blank


@pytest.mark.parametrize("kind", ["solid", "gradient"])
def test_plain_background_matte_recovers_the_drawing(kind):
    """An opaque export over a plain background gets its alpha back (training then
    varies that background, prediction greys it), enclosed pale pixels included."""
    rng = np.random.default_rng(3)
    background = getattr(backgrounds, kind)(720, 1280, rng)
    transparent = _canvas("jump")  # BGRA, alpha = the drawing
    flat = _canvas("jump", background=background)
    flat_rgba = np.dstack([flat, np.full(flat.shape[:2], 255, np.uint8)])
    alpha = plain_background_matte(flat_rgba)
    assert alpha is not None
    truth, found = transparent[:, :, 3] > 127, alpha > 127
    assert (truth & found).sum() / (truth | found).sum() > 0.95


def test_plain_background_matte_keeps_enclosed_background_coloured_pixels():
    image = np.full((200, 200, 4), 255, np.uint8)  # white canvas
    cv2.rectangle(image, (50, 50), (150, 150), (0, 0, 255, 255), thickness=8)  # red outline ...
    alpha = plain_background_matte(image)  # ... around white pixels, like a white shirt
    assert alpha is not None
    assert alpha[100, 100] == 255 and alpha[10, 10] == 0


def test_plain_background_matte_leaves_other_frames_alone():
    assert plain_background_matte(_canvas("idle")) is None  # already transparent
    rng = np.random.default_rng(4)
    detailed = _canvas("idle", background=backgrounds.scene(720, 1280, rng))
    assert plain_background_matte(np.dstack([detailed, np.full(detailed.shape[:2], 255, np.uint8)])) is None


BUST_POSES = ("idle", "walk0", "jump")


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0)])
def test_bust_over_a_plain_colour_matches_its_transparent_export(colour):
    """A drawing cut at the chest hides much of the border ring, but its
    background is still plain: exported over a colour (JPEG) it hashes and looks
    like its transparent export, close enough to repeat it (dedupe.reach)."""
    for pose in BUST_POSES:
        transparent, flat = hash_frame(make_bust(pose)), hash_frame(make_bust(pose, colour=colour))
        assert flat.background == "plain", pose
        assert hamming(transparent.bits, flat.bits) <= reach(DEFAULT_THRESHOLD, flat.look), pose
        assert same_picture(transparent.look, flat.look), pose


def test_busts_of_different_drawings_stay_apart_across_exports():
    for a, b in itertools.permutations(BUST_POSES, 2):
        assert not same_picture(hash_frame(make_bust(a)).look, hash_frame(make_bust(b, colour=(255, 255, 255))).look), (a, b)


def test_bust_matte_recovers_the_drawing():
    truth = make_bust("walk0")[:, :, 3] > 127
    flat = make_bust("walk0", colour=(255, 255, 255))
    alpha = plain_background_matte(np.dstack([flat, np.full(flat.shape[:2], 255, np.uint8)]))
    assert alpha is not None
    found = alpha > 127
    assert (truth & found).sum() / (truth | found).sum() > 0.9


@pytest.mark.parametrize("seed", range(6))
def test_scenes_stay_detailed(seed):
    """A sky over scattered tiles is smooth where it shows, but it leaves many
    pieces, not one drawing: still a detailed background (whole-frame looks)."""
    frame = _canvas("idle", background=backgrounds.scene(720, 1280, np.random.default_rng(seed)))
    assert background_model(thumbnail(frame))[0] == "detailed"
    assert hash_frame(frame).background == "detailed"


def test_rescaled_copy_of_a_small_detailed_picture_looks_alike():
    """Looks of pictures under _LOOK_SIDE are enlarged to it, so a copy rescaled by
    6% still compares (its short side may round a pixel away); a new pose doesn't."""
    scene = backgrounds.scene(720, 1280, np.random.default_rng(2))
    frame = _canvas("idle", background=scene)[150:481, 250:560]
    copy = cv2.resize(frame, None, fx=0.94, fy=0.94, interpolation=cv2.INTER_AREA)
    assert look(frame).shape != look(copy).shape  # (384, 360) vs (384, 359)
    assert same_picture(look(frame), look(copy))
    assert not same_picture(look(frame), look(_canvas("jump", background=scene)[150:481, 250:560]))


@pytest.mark.parametrize("channels", [3, 4])
def test_background_difference_is_the_largest_channel_distance_from_the_plane(channels):
    """The channel-at-a-time difference equals max over channels of |pixel - plane|."""
    rng = np.random.default_rng(channels)
    image = rng.integers(0, 256, (37, 53, channels), dtype=np.uint8)
    coefficients = np.array([[240.0, 12.5, 30.0], [-40.0, 7.25, 3.0], [18.0, -22.0, 0.5]])
    region = (0.1, 0.3, 0.7, 0.9)
    expected = np.abs(image[:, :, :3].astype(np.float32) - _plane(coefficients, 37, 53, region)).max(axis=2)
    assert np.array_equal(background_difference(image, coefficients, region), expected)


@given(st.integers(0, 2**32 - 1), st.floats(0.0005, 0.3))
@settings(max_examples=40, deadline=None)
def test_boxes_are_the_content_box_and_its_trim(seed, density):
    rng = np.random.default_rng(seed)
    mask = rng.random((rng.integers(1, 60), rng.integers(1, 60))) < density
    boxes = _boxes(mask)
    if not mask.any():
        assert boxes is None
        return
    exact, trimmed = boxes
    assert exact == content_box(mask)
    # The trim leaves out at most 0.1% of the drawn pixels (rounded up) on each side, and stays inside.
    left, top, right, bottom = trimmed
    assert exact[0] <= left < right <= exact[2] and exact[1] <= top < bottom <= exact[3]
    total = int(mask.sum())
    assert mask[:, :left].sum() <= 0.001 * total and mask[:, right:].sum() <= 0.001 * total + 1
    assert mask[:top].sum() <= 0.001 * total and mask[bottom:].sum() <= 0.001 * total + 1
