"""'None of my characters': the open-set answer of single-label models.

A softmax over her characters always names one of them, and its top score alone
separates real frames from other images poorly (README, "None of my characters"). So:

1. The head learns a 'none of them' class from generated negatives that can't
   hold her characters: the bundled scenes and tiles, solid colours, gradients,
   noise, random doodles, and her own training frames cut into shuffled tiles
   (her palette and line work without her characters' shapes).
2. An image's open-set score is the highest character probability when that
   class competes with the characters; the image is recognised when the score is
   at least a threshold calibrated on her own data (choose_threshold): real frames
   the head never trained on (the val split, or out-of-fold frames under
   cross-validation) on one side, her characters each left out of training in
   turn on the other. A blank image (nothing drawn) is never recognised.
3. The familiarity floor: an image must also be at least as like one of her
   training frames (cosine similarity of the pooled features, each frame as
   prediction sees it) as the least familiar of her own drawings held out from
   them was. The head separates what resembles its negatives; a photo, another
   artist's style or anything unlike all of her frames can still land deep on a
   character's side of a linear boundary, and the floor catches those.
4. The report measures both sides: her held-out frames recognised and right, and
   a fixed set of non-character images rejected (evaluation_negatives), beside
   plain top-score thresholding at the same real-frame recall.

Everything here is NumPy in, NumPy out, except the images the generators draw.
"""

from __future__ import annotations

import numpy as np

# Share of real held-out frames the calibrated threshold keeps recognised.
CALIBRATION_KEEP = 0.95
# Share of her own characters, each left out of training in turn, that a looser
# threshold must still reject (choose_threshold).
STRANGERS_REJECTED = 0.8
# The strictest threshold still keeps this share of her real held-out frames...
KEEP_AT_LEAST = 0.9
# ... and the loosest is her lowest-scored held-out frame: where the familiarity floor
# already refuses most of her left-out characters, the head still refuses what scores
# under all of her own frames.
KEEP_AT_MOST = 1.0
# Generated negatives per phase for the 'none of them' class.
TRAINING_NEGATIVES = 240
# Tiles per side when a training frame is cut up and shuffled into a negative.
_SHUFFLE_GRID = 4


def score(logits: np.ndarray, none_logit: np.ndarray) -> np.ndarray:
    """Open-set score per row: the top character probability of a softmax over
    the characters' logits (N, C) and the 'none of them' logit (N,)."""
    stacked = np.concatenate([logits, none_logit[:, None]], axis=1)
    stacked = np.exp(stacked - stacked.max(axis=1, keepdims=True))
    return (stacked[:, :-1] / stacked.sum(axis=1, keepdims=True)).max(axis=1)


def calibrate(scores: np.ndarray, keep: float = CALIBRATION_KEEP) -> float:
    """The threshold that keeps `keep` of these (real, held-out) frames' scores."""
    if len(scores) == 0:
        return 0.0
    return float(np.quantile(scores, 1.0 - keep, method="lower"))


def choose_threshold(own: np.ndarray, strangers: np.ndarray, keep: float = CALIBRATION_KEEP,
                     reject: float = STRANGERS_REJECTED, keep_at_least: float = KEEP_AT_LEAST,
                     keep_at_most: float = KEEP_AT_MOST) -> float:
    """The acceptance threshold from both sides of her own data.

    `own`: scores of her held-out frames of trained characters; `strangers`:
    scores of her characters each left out of training in turn (a character the
    model never saw, in her style). The threshold that keeps `keep` of `own` is
    moved towards the one that rejects `reject` of the strangers: looser when
    that still rejects them (new drawings that differ more than her held-out
    frames do, a new outfit, are not refused for nothing), stricter when needed,
    but never so strict that less than `keep_at_least` of `own` is kept, nor so
    loose that more than `keep_at_most` is. A stranger the familiarity floor
    refuses anyway scores -1 here (pretrained._fit_single_label)."""
    strict = calibrate(own, keep)
    if len(strangers) == 0:
        return strict
    enough = float(np.quantile(strangers, reject, method="higher"))
    return min(enough, calibrate(own, keep_at_least)) if enough > strict else max(enough, calibrate(own, keep_at_most))


# How the familiarity floor reads in the open-set rule (metrics.json, labels.json, the report).
FAMILIAR_CLAUSE = ", and the image is at least as like one of her training frames as the familiarity floor"


def unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (float32), for cosine similarities."""
    features = np.asarray(features, np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def familiarity(features: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Per row of `features` (N, d): its cosine similarity to the most similar of
    `references` (unit rows, (M, d)): how like one of her training frames an image is."""
    if len(features) == 0 or len(references) == 0:
        return np.ones(len(features), np.float32)
    return (unit_rows(features) @ np.asarray(references, np.float32).T).max(axis=1)


def held_out_familiarity(features: np.ndarray, groups: np.ndarray, block: int = 1024) -> np.ndarray:
    """familiarity of each of her frames (N, d) to the frames of the *other*
    groups (sources or folds, (N,)): how familiar her own drawings look to a model
    that never saw them. NaN for a frame with no other group. `block` rows of
    the N x N similarities at a time (40 MB at 10,000 frames, not 400)."""
    references = unit_rows(features)
    groups = np.asarray(groups)
    best = np.full(len(references), -np.inf, np.float32)
    for start in range(0, len(references), block):
        similarity = references[start : start + block] @ references.T
        similarity[groups[start : start + block, None] == groups[None, :]] = -np.inf
        best[start : start + block] = similarity.max(axis=1)
    return np.where(np.isfinite(best), best, np.nan).astype(np.float32)


def familiarity_floor(held_out: np.ndarray) -> float | None:
    """The familiarity floor: the lowest familiarity of any of her held-out frames
    (held_out_familiarity, and val frames against the training frames). An image
    less like her training frames than her least familiar drawing was is none of
    them, whatever the head says. None when nothing could be held out."""
    held_out = np.asarray(held_out, np.float32)
    held_out = held_out[np.isfinite(held_out)]
    return float(np.min(held_out)) if len(held_out) else None


def _doodle(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    image = np.full((height, width, 3), rng.integers(0, 256, size=3), np.uint8)
    for _ in range(int(rng.integers(3, 14))):
        points = rng.integers(0, [width, height], size=(int(rng.integers(2, 7)), 1, 2)).astype(np.int32)
        colour = tuple(int(value) for value in rng.integers(0, 256, size=3))
        if rng.random() < 0.3:
            cv2.fillPoly(image, [points], colour)
        else:
            cv2.polylines(image, [points], False, colour, int(rng.integers(1, 9)))
    return image


def _shuffled(image: np.ndarray, rng: np.random.Generator, grid: int = _SHUFFLE_GRID) -> np.ndarray:
    """An image cut into grid x grid tiles, put back in random order (same size)."""
    import cv2

    height, width = image.shape[:2]
    tile_h, tile_w = max(1, height // grid), max(1, width // grid)
    tiles = image[: tile_h * grid, : tile_w * grid].reshape(grid, tile_h, grid, tile_w, 3).swapaxes(1, 2)
    tiles = tiles.reshape(grid * grid, tile_h, tile_w, 3)[rng.permutation(grid * grid)]
    out = np.ascontiguousarray(tiles.reshape(grid, grid, tile_h, tile_w, 3).swapaxes(1, 2).reshape(grid * tile_h, grid * tile_w, 3))
    return out if out.shape[:2] == (height, width) else cv2.resize(out, (width, height), interpolation=cv2.INTER_NEAREST)


def training_negatives(size: tuple[int, int], frames: np.ndarray, count: int = TRAINING_NEGATIVES,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-character images for the 'none of them' class: scenes, solid colours,
    gradients, noise and doodles (three quarters), and `frames` (some of her
    training frames as model inputs, (N, H, W, 3) uint8) cut into shuffled tiles
    (the rest). Returns (images (count, H, W, 3) float 0..255, origin (count,)):
    origin is the index in `frames` a negative was cut from, -1 for generated ones."""
    from . import backgrounds

    rng = np.random.default_rng(seed + 7919)
    height, width = size
    own = count // 4 if len(frames) else 0
    kinds = ("scene", "solid", "gradient", "noise", "doodle")
    images = [_doodle(height, width, rng) if kinds[i % 5] == "doodle" else backgrounds.random_background(height, width, rng, kinds[i % 5])
              for i in range(count - own)]
    origin = np.concatenate([np.full(count - own, -1), rng.integers(0, max(len(frames), 1), own)]).astype(int)
    images += [_shuffled(np.asarray(frames[index], np.uint8), rng) for index in origin[count - own :]]
    return np.stack(images).astype(np.float32), origin


EVALUATION_KINDS = ("blank", "flat colour", "scene", "other character")


def evaluation_negatives(phase: str) -> list[tuple[str, np.ndarray]]:
    """The fixed set of non-character images the report scores, as (kind, RGBA
    uint8 image) pairs: blank and flat-colour canvases, empty scenes made from the
    bundled tiles (other seeds than training's), and the bundled CC0 character that
    the samples never use (malePerson), cropped like the phase, on transparent,
    plain and busy backgrounds. The same images every run."""
    from . import backgrounds, samples

    rng = np.random.default_rng(20261129)
    width, height = samples.CANVAS[phase]
    opaque = np.full((height, width), 255, np.uint8)
    out: list[tuple[str, np.ndarray]] = []
    for colour in ((255, 255, 255), (0, 0, 0), (128, 128, 128)):
        out.append(("blank", np.dstack([np.full((height, width, 3), colour, np.uint8), opaque])))
    out.append(("blank", np.zeros((height, width, 4), np.uint8)))
    for colour in ((200, 40, 40), (40, 90, 200), (240, 220, 180), (60, 160, 80)):
        out.append(("flat colour", np.dstack([np.full((height, width, 3), colour, np.uint8), opaque])))
    for _ in range(8):
        out.append(("scene", np.dstack([backgrounds.scene(height, width, rng), opaque])))
    for index, frame in enumerate(samples.held_out_character_frames(phase)):
        kind = ("transparent", "solid", "gradient", "scene")[index % 4]
        if kind != "transparent":
            background = backgrounds.random_background(height, width, rng, kind)
            frame = np.dstack([backgrounds.compose(frame, background), opaque])
        out.append(("other character", frame))
    return out


def rejection_by_kind(kinds: list[str], recognised: np.ndarray) -> dict[str, float]:
    """Share of the negatives of each kind that were NOT recognised."""
    kinds_array = np.array(kinds)
    return {kind: float(np.mean(~recognised[kinds_array == kind])) for kind in dict.fromkeys(kinds)}
