"""Perceptual hashing of drawn frames: what the drawing looks like, not its canvas.

A 64-bit pHash over a whole canvas where the character is small merges different
drawings, and transparent pixels hold arbitrary colours. So a frame is

1. composed over a fixed grey (transparency can't fool the hash); a plain (solid
   or gradient) background is cut away first and replaced by the same grey, so
   one drawing exported transparent, over white or over black hashes alike,
2. cropped to its drawn content (alpha mask, or pixels unlike the background),
3. hashed with a 256-bit pHash (16x16 DCT block, imagehash).

A plain background may be partly hidden: a bust cut at the chest touches the
frame's bottom and sides, so half its border ring is drawing. The background's
colour is then fitted from the ring's commonest colour outwards (see
background_model).

Everything here is pure: arrays in, numbers out. Searching hashes is in dedupe.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .config import HASH_BACKGROUND, HASH_SIZE

# Content detection runs on a thumbnail whose longest side is this many pixels.
_THUMB_SIDE = 192
# Alpha above this counts as drawn (0..255).
_ALPHA_DRAWN = 24
# A pixel differing from the border colour by more than this (0..255, any channel) is drawn.
_COLOUR_DRAWN = 40
# Mean |Laplacian| of the border ring above which the background is "detailed".
_DETAILED_BACKGROUND = 6.0
# Mean |border - fitted plane| (0..255) above which the background is "detailed"
# (solid and gradient borders, even JPEG'd, stay under 1).
_UNEXPLAINED_BORDER = 3.0
# Share of transparent pixels above which a frame's background is "transparent".
_TRANSPARENT_SHARE = 0.05
# A drawing over a plain colour that touches the frame's edges (background_model):
# the plane fitted from the ring's commonest colour must hold at least
# _EDGE_RING_SHARE of the ring within _RING_INLIER (0..255), fit those pixels to
# _EDGE_RESIDUAL on average, change by at most _EDGE_SLOPE across the frame (a
# solid colour, or a faint gradient), be smooth inside (mean |Laplacian| <=
# _EDGE_TEXTURE) and leave one drawing (its largest piece >= _EDGE_ONE_DRAWING of
# what isn't background). Measured on painted busts flattened over white, black
# and a colour (JPEG q90): 57-81% of the ring, residual <= 1.2, slope <= 4,
# texture <= 2, one piece; busy scenes fail the share, residual or texture; a sky
# over scattered tiles (the bundled scene backgrounds) changes by 20-160 and
# mostly leaves 5-12 pieces. A bust over a strong gradient stays 'detailed'.
_RING_INLIER = 10.0
_EDGE_RING_SHARE = 0.4
_EDGE_RESIDUAL = 1.5
_EDGE_SLOPE = 16.0
_EDGE_TEXTURE = 3.0
_EDGE_ONE_DRAWING = 0.9
# The hash and look of a transparent or plain-background frame crop its drawing
# to a box that leaves out this share of the drawn pixels on each side (_boxes).
_TRIM = 0.001
# A look is a frame shrunk to _LOOK_SIDE pixels, in grey, blurred over _LOOK_BLUR
# pixels. Two looks show the same picture unless more than _LOOK_CHANGED pixels,
# in groups of at least _LOOK_SPECK, differ by more than _LOOK_DIFFERENT. Measured
# on 8-pose walk cycles standing on busy 720p/1080p scenes: MP4, GIF and JPEG
# re-encodes change <= 19 pixels; most pose pairs change 20-150.
_LOOK_SIDE = 2 * _THUMB_SIDE
_LOOK_BLUR = 5
_LOOK_DIFFERENT = 32
_LOOK_SPECK = 3
_LOOK_CHANGED = 20
# Pixels (height + width) by which two whole-frame looks' shapes may differ and
# still be compared: rounding a rescaled copy's short side.
_LOOK_SHAPE_SLACK = 2
# A drawing's look (transparent and plain backgrounds): its drawn content cropped
# and stretched to _DRAWING_SIDE pixels square, grey, blurred over _DRAWING_BLUR
# pixels, with the band along its alpha outline marked. Two drawing looks show the
# same drawing unless more than _DRAWING_CHANGED pixels, in groups of at least
# _LOOK_SPECK and off the outline band, differ by more than _DRAWING_DIFFERENT
# from every pixel around them (so a crop a pixel off doesn't count). Measured on
# painted and anime headshots (README, "ingest"): GIF/WebP/JPEG/MP4
# re-encodes, slid and 6%-rescaled copies change <= 3 pixels; a new expression
# on the same body (a smile, surprised eyes) changes 23-90, though its hash moves
# only 4-12 bits of 256.
_DRAWING_SIDE = 128
_DRAWING_BLUR = 3
_DRAWING_DIFFERENT = 24
_DRAWING_CHANGED = 10
# Pixels along the drawing look's own edge that count as outline band.
_EDGE = 2


@dataclass(frozen=True)
class FrameHash:
    """The hash of one frame and what was learned on the way.

    bits: packed hash, HASH_SIZE**2 / 8 bytes (uint8). box: drawn content as
    (left, top, right, bottom) in pixels of the frame, right/bottom exclusive.
    blank: nothing drawn. background: 'transparent', 'plain' or 'detailed'."""

    bits: np.ndarray
    box: tuple[int, int, int, int]
    blank: bool
    background: str
    # A hash match is a repeat only when the looks agree too (see same_picture):
    # over a detailed background the hash sees the whole canvas, where a small
    # character's new pose moves few bits (look: the whole frame); on transparent
    # and plain backgrounds a new expression moves few bits (drawing_look).
    look: np.ndarray | None = None

    @property
    def hex(self) -> str:
        return self.bits.tobytes().hex()


def export_kind(frame: np.ndarray, background: str) -> str:
    """How a kept frame was exported, as far as copies of it differ: 'hard alpha'
    for transparency that is only on or off (a GIF), else its background kind
    ('transparent' with soft, anti-aliased edges, 'plain', 'detailed')."""
    if background == "transparent" and frame.ndim == 3 and frame.shape[2] == 4:
        alpha = frame[::2, ::2, 3]
        if not ((alpha > 0) & (alpha < 255)).any():
            return "hard alpha"
    return background


def hex_to_bits(text: str) -> np.ndarray:
    """Inverse of FrameHash.hex."""
    return np.frombuffer(bytes.fromhex(text), dtype=np.uint8).copy()


def _thumbnails(frame: np.ndarray) -> tuple[np.ndarray, float, np.ndarray | None]:
    """(thumbnail, its scale, the bilinear double-size step on the way or None)."""
    import cv2

    height, width = frame.shape[:2]
    scale = min(1.0, _THUMB_SIDE / max(height, width))
    if scale == 1.0:
        return frame, 1.0, None
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    double = None
    if scale < 0.25:
        # Bilinear to twice the thumbnail first, then area: 16 samples per thumbnail
        # pixel average codec noise well enough, at a quarter of a full area pass's
        # cost (~0.35 vs ~1.5 ms for 1080p), which is most of ingest's work per frame.
        frame = double = cv2.resize(frame, (size[0] * 2, size[1] * 2), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA), scale, double


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """The frame shrunk so its longest side is at most _THUMB_SIDE pixels (content
    detection and classify_background work on it)."""
    return _thumbnails(frame)[0]


def _ring(image: np.ndarray, width: int = 2) -> np.ndarray:
    """The pixels of a border ring `width` pixels wide, as an (N, C) or (N,) array."""
    parts = [image[:width], image[-width:], image[width:-width, :width], image[width:-width, -width:]]
    channels = image.shape[2:] if image.ndim == 3 else ()
    return np.concatenate([part.reshape(-1, *channels) for part in parts])


def _uses_alpha(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[2] == 4 and bool(image[:, :, 3].min() < 255)


@lru_cache(maxsize=16)
def _ring_design(height: int, width: int) -> np.ndarray:
    """(N, 3) rows (1, u, v) of the border ring's pixels of a height x width image."""
    ys, xs = np.mgrid[0:height, 0:width]
    u = _ring(xs / max(width - 1, 1)).astype(np.float64)
    v = _ring(ys / max(height - 1, 1)).astype(np.float64)
    return np.stack([np.ones_like(u), u, v], axis=1)


@lru_cache(maxsize=16)
def _ring_solver(height: int, width: int) -> np.ndarray:
    """Least-squares solver (3, N) for the plane fit over the border ring of a
    height x width image; the same for every frame of a source, so cached."""
    return np.linalg.pinv(_ring_design(height, width))


def fit_background(thumb: np.ndarray) -> np.ndarray:
    """Fit the border colours with a plane per channel, colour = a + b*u + c*v
    (u, v: 0..1 across the width and height), so a solid or linear-gradient
    background is modelled at any resolution. Returns a (3, 3) coefficient array."""
    return _ring_solver(*thumb.shape[:2]) @ _ring(thumb[:, :, :3]).astype(np.float64)


def fit_ring_plane(thumb: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A plane fitted to the border ring's background when part of the ring is
    drawing: start from the ring's commonest colour (16 levels a channel), then
    refit on the ring pixels within _RING_INLIER of the plane, three times.
    Returns (coefficients, share of the ring within _RING_INLIER, their mean
    distance)."""
    ring = _ring(thumb[:, :, :3]).astype(np.float64)
    design = _ring_design(*thumb.shape[:2])
    bins = (ring // 16).astype(np.int64)
    key = (bins[:, 0] * 16 + bins[:, 1]) * 16 + bins[:, 2]
    near = np.abs(ring - ring[key == np.bincount(key).argmax()].mean(axis=0)).max(axis=1) <= 2 * _RING_INLIER
    for _ in range(3):
        coefficients = np.linalg.lstsq(design[near], ring[near], rcond=None)[0]
        residual = np.abs(ring - design @ coefficients).max(axis=1)
        near = residual <= _RING_INLIER
        if near.sum() < 3:
            return coefficients, 0.0, float("inf")
    return coefficients, float(near.mean()), float(residual[near].mean())


def _plane_parts(coefficients: np.ndarray, height: int, width: int, region) -> tuple[np.ndarray, np.ndarray]:
    """The plane over `region` as a row part (width, 3) and a column part (height, 3):
    plane[y, x] = down[y] + across[x]."""
    u0, v0, u1, v1 = region
    coefficients = coefficients.astype(np.float32)
    across = coefficients[0] + coefficients[1] * np.linspace(u0, u1, width, dtype=np.float32)[:, None]
    down = coefficients[2] * np.linspace(v0, v1, height, dtype=np.float32)[:, None]
    return across, down


def _plane(coefficients: np.ndarray, height: int, width: int, region=(0.0, 0.0, 1.0, 1.0)) -> np.ndarray:
    """The fitted background (height, width, 3) float32 over the fraction `region`
    = (u0, v0, u1, v1) of the frame it was fitted on."""
    across, down = _plane_parts(coefficients, height, width, region)
    return down[:, None, :] + across[None, :, :]


def background_difference(image: np.ndarray, coefficients: np.ndarray, region=(0.0, 0.0, 1.0, 1.0)) -> np.ndarray:
    """Largest per-channel |pixel - fitted background| (float32) of `image`, which
    covers the fraction `region` = (u0, v0, u1, v1) of the frame it was fitted on.
    One channel at a time, each plane a sum of a row and a column: numpy's loops
    over a last axis of 3 cost 3-5x more (7.5 -> 1.5 ms on a 700x500 crop)."""
    import cv2

    across, down = _plane_parts(coefficients, *image.shape[:2], region)
    largest = None
    for channel in range(3):
        difference = cv2.absdiff(np.asarray(image[:, :, channel], np.float32), np.add.outer(down[:, channel], across[:, channel]))
        largest = difference if largest is None else cv2.max(largest, difference, dst=largest)
    return largest


def border_difference(thumb: np.ndarray) -> np.ndarray:
    """Per-pixel distance of a thumbnail from the plane fitted to its border colours."""
    return background_difference(thumb, fit_background(thumb))


def drawn_mask(thumb: np.ndarray, difference: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of drawn pixels: opaque ones if the frame has alpha in use,
    else pixels far from the fitted (solid or gradient) border background.
    `difference`: border_difference(thumb), when the caller already has it."""
    if _uses_alpha(thumb):
        return thumb[:, :, 3] > _ALPHA_DRAWN
    return (border_difference(thumb) if difference is None else difference) > _COLOUR_DRAWN


def _background_part(difference: np.ndarray, seeds: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the background: pixels within _COLOUR_DRAWN of the fitted
    colour and connected to a seed, by default a border pixel within _RING_INLIER
    of it (so a white shirt on a white canvas keeps its inside, and a drawn edge
    pixel of nearly the background's colour seeds nothing). `seeds`: a boolean
    mask of difference's shape, when the caller knows better."""
    import cv2

    count, labels = cv2.connectedComponents((difference <= _COLOUR_DRAWN).astype(np.uint8), connectivity=4)
    if seeds is None:
        seeds = np.zeros(difference.shape, bool)
        seeds[[0, -1], :] = seeds[:, [0, -1]] = True
        seeds &= difference <= _RING_INLIER
    background = np.zeros(count, bool)  # by label: a lookup table, ~10x faster than np.isin
    background[labels[seeds]] = True
    background[0] = False
    return background[labels]


def _cut_alpha(difference: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Alpha (float32, 0..1) that cuts `background` away: near 0 there, in between
    on the drawing's edge by how far a pixel is from the background's colour, 1 on
    the drawing."""
    soft = np.clip((difference - _COLOUR_DRAWN / 4) / (_COLOUR_DRAWN * 0.75), 0.0, 1.0)
    return np.where(background, soft, np.float32(1.0)).astype(np.float32)


def _plain_alpha(image: np.ndarray, coefficients: np.ndarray) -> tuple[np.ndarray, float]:
    """Alpha (float32, 0..1) that cuts a plain background fitted by `coefficients`
    away from an opaque image (_background_part, _cut_alpha); and the share of the
    image that is background."""
    difference = background_difference(image, coefficients)
    background = _background_part(difference)
    return _cut_alpha(difference, background), float(background.mean())


def plain_background_matte(image: np.ndarray) -> np.ndarray | None:
    """An alpha channel (uint8) that cuts an opaque frame's plain (solid or
    gradient) background away, or None when the frame already uses alpha, its
    background is detailed, or nothing sensible would be cut (see _plain_alpha)."""
    if _uses_alpha(image):
        return None
    kind, coefficients, _ = background_model(thumbnail(image))
    if kind != "plain":
        return None
    alpha, share = _plain_alpha(image, coefficients)
    if share < 0.05 or share > 0.995:
        return None
    return (alpha * 255.0).astype(np.uint8)


def _edge_touching_plane(thumb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(coefficients, background_difference) of the plane of a plain background
    that the drawing partly hides at the frame's edges (a bust cut at the chest),
    or None (see _EDGE_RING_SHARE)."""
    import cv2

    coefficients, share, residual = fit_ring_plane(thumb)
    if share < _EDGE_RING_SHARE or residual > _EDGE_RESIDUAL or np.abs(coefficients[1:]).max() > _EDGE_SLOPE:
        return None
    difference = background_difference(thumb, coefficients)
    background = _background_part(difference)
    inside = cv2.erode(background.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if not inside.any():
        return None
    grey = cv2.cvtColor(np.ascontiguousarray(thumb[:, :, :3]), cv2.COLOR_BGR2GRAY)
    if float(np.abs(cv2.Laplacian(grey, cv2.CV_16S, ksize=3))[inside].mean()) > _EDGE_TEXTURE:
        return None
    _, _, stats, _ = cv2.connectedComponentsWithStats((~background).astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    if areas.size == 0 or areas.max() < _EDGE_ONE_DRAWING * areas.sum():
        return None
    return coefficients, difference


def background_model(thumb: np.ndarray, edges: bool = True) -> tuple[str, np.ndarray, np.ndarray]:
    """(kind, coefficients, difference) of a thumbnail: kind is 'transparent',
    'plain' (solid or smooth gradient) or 'detailed'; coefficients the plane
    fitted to the background's colour (fit_background) and difference each
    pixel's distance from it (background_difference). A drawing over a plain
    colour that hides much of the border ring is plain too, with the plane fitted
    from the ring's commonest colour (_edge_touching_plane; `edges=False` skips
    that test, for a source already known to be detailed)."""
    coefficients = fit_background(thumb)
    difference = background_difference(thumb, coefficients)
    kind = classify_background(thumb, difference)
    if kind == "detailed" and edges:
        edge = _edge_touching_plane(thumb)
        if edge is not None:
            return "plain", *edge
    return kind, coefficients, difference


def classify_background(thumb: np.ndarray, difference: np.ndarray | None = None) -> str:
    """'transparent', 'plain' (solid or smooth gradient) or 'detailed', from the
    border ring alone (background_model also finds plain backgrounds the drawing
    partly hides). `difference`: border_difference(thumb), when the caller has it."""
    import cv2

    if thumb.shape[2] == 4 and (thumb[:, :, 3] < 255).mean() > _TRANSPARENT_SHARE:
        return "transparent"
    grey = cv2.cvtColor(np.ascontiguousarray(thumb[:, :, :3]), cv2.COLOR_BGR2GRAY)
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_16S, ksize=3))
    ring = _ring(laplacian[1:-1, 1:-1], width=3) if min(grey.shape) > 10 else laplacian.ravel()
    if float(ring.mean()) > _DETAILED_BACKGROUND:
        return "detailed"
    # Smooth but not one colour plane either (a sky over a row of tiles): detailed too.
    residual = _ring(border_difference(thumb) if difference is None else difference)
    return "detailed" if float(residual.mean()) > _UNEXPLAINED_BORDER else "plain"


def content_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (left, top, right, bottom; exclusive) of a mask, None if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _boxes(mask: np.ndarray) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]] | None:
    """(content_box, trimmed box) of a boolean mask, None if it is empty. The
    trimmed box leaves out the outermost _TRIM of the drawn pixels on each side:
    the box the hash and look crop to. A GIF's palette turns faint edge pixels on
    or off, and JPEG ringing adds a few beside a hard outline, which moves the
    exact box by pixels and the hash by 14-40 bits; those pixels are too few to
    move this box (real-art GIF copies within reach and looking alike: 135 -> 168
    of 185; same-background JPEG q50 re-saves within the threshold: 141 -> 153 of 192).
    Both come from the mask's column and row counts (OpenCV's reduce: ~4x faster
    than numpy's sums and any over a 1080p crop)."""
    import cv2

    counts = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    columns = cv2.reduce(counts, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    rows = cv2.reduce(counts, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    drawn_rows, drawn_columns = np.flatnonzero(rows), np.flatnonzero(columns)
    if drawn_rows.size == 0:
        return None
    exact = int(drawn_columns[0]), int(drawn_rows[0]), int(drawn_columns[-1]) + 1, int(drawn_rows[-1]) + 1

    def span(profile: np.ndarray) -> tuple[int, int]:
        total = np.cumsum(profile)
        return (int(np.searchsorted(total, _TRIM * total[-1], side="right")),
                int(np.searchsorted(total, (1 - _TRIM) * total[-1])) + 1)

    left, right = span(columns)
    top, bottom = span(rows)
    return exact, (left, top, max(right, left + 1), max(bottom, top + 1))


def _refine_box(frame: np.ndarray, thumb: np.ndarray, box: tuple[int, int, int, int], scale: float,
                coefficients: np.ndarray) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """Turn a thumbnail box into a pixel-exact box on the full frame: the drawn
    mask is recomputed at full resolution inside the box grown by a thumbnail
    pixel, so the crop doesn't jitter with the thumbnail's grid. Returns (exact
    box, trimmed box for the hash: _boxes)."""
    height, width = frame.shape[:2]
    left, top, right, bottom = box
    grow = 1.0 / scale
    region = (
        max(0, int((left - 1) * grow)),
        max(0, int((top - 1) * grow)),
        min(width, int(np.ceil((right + 1) * grow))),
        min(height, int(np.ceil((bottom + 1) * grow))),
    )
    x0, y0, x1, y1 = region if scale != 1.0 else (0, 0, width, height)
    patch = frame[y0:y1, x0:x1]
    if _uses_alpha(thumb):
        mask = patch[:, :, 3] > _ALPHA_DRAWN
    else:
        mask = background_difference(patch, coefficients, _fraction((x0, y0, x1, y1), width, height)) > _COLOUR_DRAWN
    boxes = _boxes(mask)
    if boxes is None:
        return (region, region) if scale != 1.0 else (box, box)
    exact, trimmed = boxes
    return tuple(v + o for v, o in zip(exact, (x0, y0, x0, y0))), tuple(v + o for v, o in zip(trimmed, (x0, y0, x0, y0)))


def _fraction(box: tuple[int, int, int, int], width: int, height: int) -> tuple[float, float, float, float]:
    """A pixel box as fractions (u0, v0, u1, v1) of pixel-centre coordinates."""
    left, top, right, bottom = box
    return (left / max(width - 1, 1), top / max(height - 1, 1), (right - 1) / max(width - 1, 1), (bottom - 1) / max(height - 1, 1))


def compose_over(frame: np.ndarray, value: int = HASH_BACKGROUND) -> np.ndarray:
    """A BGRA frame composed over a solid grey `value`; BGR frames pass through."""
    import cv2

    if frame.ndim == 2 or frame.shape[2] == 3:
        return frame
    # A channel at a time: ~6x faster than broadcasting over a last axis of 3.
    alpha = frame[:, :, 3].astype(np.float32) / 255.0
    rest = value * (1.0 - alpha)
    return cv2.merge([(frame[:, :, channel].astype(np.float32) * alpha + rest).astype(np.uint8) for channel in range(3)])


def hash_frame(frame: np.ndarray, hash_size: int = HASH_SIZE, background: str | None = None,
               with_look: bool = True) -> FrameHash:
    """Hash one BGR/BGRA frame (see module docstring). Costs a few milliseconds
    for a 1080p frame: content is found on a thumbnail; only the crop is resized,
    from the thumbnail itself when the background is detailed. `background`
    ('plain' or 'detailed'), when given, overrides the per-frame guess for opaque
    frames, so one source is treated one way throughout. `with_look=False` skips
    the look (only deduplication needs it)."""
    import cv2

    thumb, scale, double = _thumbnails(frame)
    # The background's plane serves the drawn mask, the background check and the cut-out.
    found, coefficients, difference = background_model(thumb, edges=background != "detailed")
    mask = drawn_mask(thumb, difference)
    # A caller that knows the source's background ('plain'/'detailed') passes it:
    # codec noise can tip a busy border across the threshold from frame to frame.
    background = background if background in ("plain", "detailed") and found != "transparent" else found
    if background == "plain" and found == "detailed":
        # This frame's drawing hides more of the border than the source's first one did.
        coefficients = fit_ring_plane(thumb)[0]
        difference = background_difference(thumb, coefficients)
        mask = drawn_mask(thumb, difference)
    height, width = frame.shape[:2]
    thumb_box = box = content_box(mask)
    blank = box is None or mask.sum() < max(4, mask.size // 2000)
    if blank:
        box = hash_box = (0, 0, width, height)
    elif background == "detailed":
        # The border-colour model doesn't describe a detailed background, so a
        # pixel-exact pass would cost ~40 ms per 1080p frame for nothing: scale the thumbnail's box.
        left, top, right, bottom = box
        box = hash_box = (int(left / scale), int(top / scale), min(width, int(np.ceil(right / scale))),
                          min(height, int(np.ceil(bottom / scale))))
    else:
        box, hash_box = _refine_box(frame, thumb, box, scale, coefficients)
    side = hash_size * 4  # imagehash's highfreq_factor
    frame_look = None
    if background == "detailed" and not blank and min(thumb_box[2] - thumb_box[0], thumb_box[3] - thumb_box[1]) >= side:
        # Over a detailed background the box is already thumbnail-grained and the
        # thumbnail holds enough pixels for the hash: shrinking the full frame again
        # would cost ~6 ms per 1080p frame.
        left, top, right, bottom = thumb_box
        small = cv2.resize(np.ascontiguousarray(thumb[top:bottom, left:right, :3]), (side, side), interpolation=cv2.INTER_AREA)
    elif _uses_alpha(thumb):
        # Compose before resizing, so hidden colours of transparent pixels never blend in.
        left, top, right, bottom = hash_box
        composed = compose_over(frame[top:bottom, left:right])
        small = cv2.resize(composed, (side, side), interpolation=cv2.INTER_AREA)
        if with_look and not blank:
            frame_look = drawing_look(composed, frame[top:bottom, left:right, 3])
    elif background == "plain" and not blank:
        # Cut the plain background away and put the drawing over the hash grey, as
        # if it had been exported transparent: then the same drawing exported over
        # white, black, a gradient or transparency hashes (and looks) alike.
        composed, alpha = _over_grey(frame, hash_box, coefficients, difference)
        small = cv2.resize(composed, (side, side), interpolation=cv2.INTER_AREA)
        if with_look:
            frame_look = drawing_look(composed, alpha)
    else:
        # Blank canvases, and small content over a detailed background.
        left, top, right, bottom = box
        small = cv2.resize(frame[top:bottom, left:right], (side, side), interpolation=cv2.INTER_AREA)
        if with_look and not blank:
            frame_look = drawing_look(frame[top:bottom, left:right])
        difference = background_difference(small, coefficients, _fraction(box, width, height))
        small = np.ascontiguousarray(small[:, :, :3])
        small[difference <= _COLOUR_DRAWN] = HASH_BACKGROUND
    bits = phash_bits(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), hash_size)
    if with_look and background == "detailed" and not blank:
        frame_look = look(frame, double)
    return FrameHash(bits=bits, box=box, blank=blank, background=background, look=frame_look)


def _over_grey(frame: np.ndarray, box: tuple[int, int, int, int], coefficients: np.ndarray,
               thumb_difference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The crop `box` of an opaque frame over a plain background (plane
    `coefficients`), shrunk to _DRAWING_SIDE square, with the background cut away
    and the hash grey put in its place: C + (1 - alpha) * (grey - background),
    exact where alpha is right. Which pixels connect to the frame's border needs
    the whole frame: that is found on the thumbnail (`thumb_difference`: its
    distance from the plane) and seeds the cut-out on the crop itself, with the
    crop's own edge, so the cut-out doesn't depend on where the drawing stands.
    Returns (BGR, alpha) uint8, both _DRAWING_SIDE square (all the hash and look
    need)."""
    import cv2

    height, width = frame.shape[:2]
    sure = cv2.erode(_background_part(thumb_difference).astype(np.uint8), np.ones((3, 3), np.uint8))
    left, top, right, bottom = box
    side = _DRAWING_SIDE
    # Output pixel (x, y) covers crop pixels from x * (right - left) / side; its
    # centre sits at ((left + (x + 0.5) * cw / side) * sx - 0.5, ...) in the thumbnail.
    sx, sy = sure.shape[1] / width, sure.shape[0] / height
    cw, ch = (right - left) / side, (bottom - top) / side
    warp = np.float32([[cw * sx, 0, (left + 0.5 * cw) * sx - 0.5], [0, ch * sy, (top + 0.5 * ch) * sy - 0.5]])
    seeds = cv2.warpAffine(sure, warp, (side, side), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE) > 0
    seeds[0, :] = seeds[-1, :] = seeds[:, 0] = seeds[:, -1] = True  # the crop's edge touches the background
    crop = cv2.resize(np.ascontiguousarray(frame[top:bottom, left:right, :3]), (side, side), interpolation=cv2.INTER_AREA)
    region = _fraction(box, width, height)
    difference = background_difference(crop, coefficients, region)
    alpha = _cut_alpha(difference, _background_part(difference, seeds))
    plane = _plane(coefficients, side, side, region)
    alpha = _edge_alpha(crop.astype(np.float32), alpha, plane)
    composed = crop + (1.0 - alpha)[:, :, None] * (np.float32(HASH_BACKGROUND) - plane)
    return np.clip(composed, 0, 255).astype(np.uint8), (alpha * 255.0).astype(np.uint8)


def _edge_alpha(crop: np.ndarray, alpha: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """`alpha` with its values along the drawing's edge re-estimated by colour. An
    edge pixel is alpha * F + (1 - alpha) * B, with B the background's plane and F
    the drawing's colour nearby (the mean of fully drawn pixels within 2 pixels),
    so alpha is the pixel's projection onto F - B; where F is too close to B to
    tell, the distance-based alpha stays. A dark outline's soft edge over white
    then composes over grey as the transparent export does (measured on the
    bundled sprites' busts: 18-48 -> 4-30 bits from the transparent export)."""
    import cv2

    solid = cv2.erode((alpha >= 0.999).astype(np.float32), np.ones((3, 3), np.uint8))
    weight = cv2.boxFilter(solid, -1, (5, 5), normalize=False)
    edge = cv2.dilate((alpha < 0.999).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    colour = cv2.boxFilter(crop * solid[:, :, None], -1, (5, 5), normalize=False) / np.maximum(weight, 1e-6)[:, :, None]
    span = colour - plane
    length = _dot(span, span)
    trusted = edge & (weight > 0) & (alpha > 0) & (length > _COLOUR_DRAWN ** 2)
    refined = alpha.copy()
    refined[trusted] = np.clip(_dot(crop - plane, span)[trusted] / length[trusted], 0.0, 1.0)
    return refined


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel dot product of two (H, W, 3) arrays, channel by channel: numpy's
    sum over a last axis of 3 costs ~10x more (and adds in the same order)."""
    return a[:, :, 0] * b[:, :, 0] + a[:, :, 1] * b[:, :, 1] + a[:, :, 2] * b[:, :, 2]


def phash_bits(grey: np.ndarray, hash_size: int = HASH_SIZE) -> np.ndarray:
    """Packed pHash (hash_size**2 bits) of a grey uint8 picture, normally
    (hash_size * 4) pixels square: already cropped, composed and shrunk."""
    import imagehash
    from PIL import Image

    return np.packbits(imagehash.phash(Image.fromarray(grey), hash_size=hash_size).hash.ravel())


def look(frame: np.ndarray, double: np.ndarray | None = None) -> np.ndarray:
    """A frame's look: the frame at _LOOK_SIDE pixels (a smaller one enlarged, so a
    rescaled copy of it looks alike), grey and blurred so codec, palette and
    resampling noise fade while drawn changes stay (~80 KB for 16:9). `double` is
    _thumbnails' double-size step, when there is one."""
    import cv2

    source = compose_over(double if double is not None else frame)
    height, width = source.shape[:2]
    scale = _LOOK_SIDE / max(height, width)
    if scale != 1.0:
        source = cv2.resize(source, (max(1, round(width * scale)), max(1, round(height * scale))),
                            interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR)
    grey = cv2.cvtColor(np.ascontiguousarray(source), cv2.COLOR_BGR2GRAY)
    return cv2.GaussianBlur(grey, (_LOOK_BLUR, _LOOK_BLUR), 0)


def drawing_look(crop: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """A drawing's look: `crop` (BGR, the drawn content, already composed over the
    hash grey when it had alpha) stretched to _DRAWING_SIDE square, grey, blurred;
    and the band along the outline of `alpha` (the crop's alpha channel) and the
    crop's edge, where re-encodes that round soft edges to hard ones (GIF) and crops
    a pixel off differ. (2, side, side) uint8."""
    import cv2

    size = (_DRAWING_SIDE, _DRAWING_SIDE)
    grey = cv2.cvtColor(np.ascontiguousarray(cv2.resize(crop, size, interpolation=cv2.INTER_AREA)[:, :, :3]), cv2.COLOR_BGR2GRAY)
    # The crop's own edge counts as outline too: a box a pixel wider or narrower
    # (codec noise on a plain background) shifts what the last columns show.
    band = np.ones(size, np.uint8)
    band[_EDGE:-_EDGE, _EDGE:-_EDGE] = 0
    if alpha is not None:
        small = cv2.resize(np.ascontiguousarray(alpha), size, interpolation=cv2.INTER_AREA)
        kernel = np.ones((3, 3), np.uint8)
        band |= ((cv2.dilate(small, kernel) > _ALPHA_DRAWN) & (cv2.erode(small, kernel) < 255 - _ALPHA_DRAWN)).astype(np.uint8)
    return np.stack([cv2.GaussianBlur(grey, (_DRAWING_BLUR, _DRAWING_BLUR), 0), band])


def _changed_in_specks(changed: np.ndarray, limit: int) -> int:
    """Pixels of a 0/1 mask that lie in groups of at least _LOOK_SPECK, as far as
    the answer against `limit` needs: up to `limit` changed pixels, or over 8x
    `limit`, the plain count settles it without the component pass."""
    import cv2

    count = cv2.countNonZero(changed)
    if count <= limit or count > 8 * limit:
        return count
    _, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    return int(areas[areas >= _LOOK_SPECK].sum())


def _same_drawing(look_a: np.ndarray, look_b: np.ndarray) -> bool:
    """same_picture for two drawing looks: a pixel changed when it lies outside the
    range of the other look's 3x3 neighbourhood by more than _DRAWING_DIFFERENT,
    either way round, off both outline bands."""
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    a, b = look_a[0].astype(np.int16), look_b[0].astype(np.int16)

    def outside(x, y_look):
        return np.maximum(x - cv2.dilate(y_look, kernel), cv2.erode(y_look, kernel) - x)

    over = np.maximum(outside(a, look_b[0]), outside(b, look_a[0]))
    changed = ((over > _DRAWING_DIFFERENT) & (look_a[1] == 0) & (look_b[1] == 0)).astype(np.uint8)
    return _changed_in_specks(changed, _DRAWING_CHANGED) <= _DRAWING_CHANGED


def same_picture(look_a: np.ndarray, look_b: np.ndarray) -> bool:
    """Whether two looks show the same picture: held frames and re-encodes (MP4,
    GIF palette, JPEG) differ in a few scattered pixels; a small character's new
    pose, or a new expression, changes a patch of them. Whole-frame looks of
    different shapes are different pictures; a whole-frame look and a drawing
    look can't be compared, so the hash alone decides (True)."""
    import cv2

    if look_a.ndim != look_b.ndim:
        return True
    if look_a.ndim == 3:
        return _same_drawing(look_a, look_b)
    if look_a.shape != look_b.shape:
        # Both are _LOOK_SIDE on their longest side: a rescaled copy's other side
        # may round a pixel or two away; another shape is another picture.
        if abs(look_a.shape[0] - look_b.shape[0]) + abs(look_a.shape[1] - look_b.shape[1]) > _LOOK_SHAPE_SLACK:
            return False
        look_b = cv2.resize(look_b, look_a.shape[::-1], interpolation=cv2.INTER_LINEAR)
    changed = (cv2.absdiff(look_a, look_b) > _LOOK_DIFFERENT).astype(np.uint8)
    return _changed_in_specks(changed, _LOOK_CHANGED) <= _LOOK_CHANGED


def hamming(bits_a: np.ndarray, bits_b: np.ndarray) -> np.ndarray:
    """Hamming distance in bits between packed hashes (broadcasts over rows)."""
    return np.bitwise_count(np.bitwise_xor(bits_a, bits_b)).sum(axis=-1)
