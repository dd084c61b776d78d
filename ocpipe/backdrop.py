"""Static backdrops: the scene behind a drawing that moves across it.

Over a detailed background the drawn content can't be found by colour, so an
opaque animation whose scene stays put gets its backdrop estimated instead:

1. a cheap first pass reads up to 15 frames spread over the source (for a
   video, frames just past keyframes, reached by seeking: a few hundred decoded
   frames at most, not a second decode);
2. the backdrop is their per-pixel median (at full size: the mean of the samples
   that show no drawing there). Pixels that differ from it in most samples are
   unstable (water, flicker) and ignored. No static backdrop when too many are
   unstable, or what differs spreads over most of a sample (the camera moves,
   the scene animates); none either when the drawings of most samples stand at
   one spot or most samples show none: a drawing that stays put is part of the
   median. Those sources keep the whole-frame rule (hashing.hash_frame);
3. every frame is compared with the backdrop: pixels that differ are the drawing
   (holes filled), cropped to a pixel-exact box and hashed like a transparent
   frame, with the scene painted grey. Nothing drawn: blank. A frame that
   differs almost everywhere (a cut, a flash) is hashed whole;
4. two frames hold the same drawing at different spots when, aligned on each
   other, hardly any pixel of either drawing differs by more than what the two
   spots' backdrops explain (see changed_pixels).

Arrays are OpenCV's BGR uint8. sample_frames does I/O; the rest is pure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import HASH_BACKGROUND, HASH_SIZE
from .decode import SourceInfo, iter_frames, sequence_files
from .hashing import classify_background, content_box, thumbnail

log = logging.getLogger(__name__)

# Drawings are looked for on a copy of each frame whose longest side is this many pixels.
WORK_SIDE = 384
# Frames the backdrop is the median of; fewer when frames are large (see _SAMPLE_BYTES).
_SAMPLES = 15
_MIN_SAMPLES = 7
# At most this many bytes of full-resolution samples are held at once (~15 1080p frames).
_SAMPLE_BYTES = 100 * 1024 * 1024
# A source needs this many frames before a backdrop is estimated.
MIN_FRAMES = 8
# Seeking makes OpenCV decode from the keyframe before (target - 16): a target
# this far past a keyframe costs ~this many decoded frames, not a whole GOP.
_PAST_KEYFRAME = 18
# Samples after one keyframe are this many frames apart; reading on from one to
# the next costs that many decodes.
_STEP_IN_GOP = 8
# Largest forward gap read frame by frame instead of seeking.
_READ_ON = 48
# A pixel whose largest channel difference from the backdrop (0..255) exceeds
# _DRAWN is drawn; one over _FAINT is drawn too when it touches a drawn region
# (anti-aliased edges, colours near the scene's).
_DRAWN = 40
_FAINT = 14
# At full resolution a faint pixel is drawn when a sure one is within this many pixels.
_REACH = 2
# A pixel differing from the backdrop in more than this share of samples is unstable.
_UNSTABLE = 0.4
# More unstable pixels than this share of the frame: no static backdrop.
_MAX_UNSTABLE = 0.2
# A typical sample whose difference from the median spreads over a box of more
# than this share of the frame: no static backdrop either.
_SPREAD = 0.5
# A frame with more than this share of drawn pixels doesn't fit the backdrop (a
# cut, a flash); it is hashed the way detailed frames are without a backdrop.
_MISFIT = 0.35
# At least this share of the samples must show something over the backdrop.
_DRAWN_SAMPLES = 0.6
# Sample drawings whose boxes overlap by more than this (share of the smaller box)
# stand at the same spot; when most sample pairs do, the drawing stays in place
# (and the median holds the drawing itself: what differs from it is only what moved).
_SAME_SPOT = 0.5
# Drawings are compared at 1/k scale, k chosen so a typical drawing's longest side
# is about this many pixels; alignment is searched this many pixels each way
# (beyond the range the two boxes' edges allow).
_COMPARE_SIDE = 128
_SHIFT = 3
# Boxes whose sizes differ by more than this many pixels (comparison scale) are
# aligned within this span only.
_SPAN = 16
# Sprites keep this share of the drawing's size around it (see Backdrop._cut).
_MARGIN = 0.1
# After alignment a drawing pixel is changed when its colour differs by more than
# _CHANGED beyond what the two spots' backdrops explain; the same drawing changes
# at most _SAME_SHARE of its pixels (at least _SAME_MIN). Measured on an 8-pose
# walk cycle crossing a 1080p scene (H.264): the same drawing at 90 spots changes
# <= 0.2%, the two most alike poses 1.0%.
_CHANGED = 32
_SAME_SHARE = 0.005
_SAME_MIN = 8
# Past 4x this many pixels to weigh, changed_pixels first weighs an even sample of this many.
_ESTIMATE = 256
# Below this many drawn pixels (work scale) a frame is blank: nothing over the backdrop.
_BLANK_PIXELS = 12

STATUS_STATIC = "static"
STATUS_MOVING = "moving"
STATUS_IN_PLACE = "in-place"
STATUS_FEW_FRAMES = "few-frames"
# What each status means, for summaries.
STATUS_TEXT = {
    STATUS_STATIC: "drawing cut from a static backdrop; the same drawing at another spot is a duplicate",
    STATUS_MOVING: "no static backdrop (the camera moves, the scene animates, or the drawing fills most of it); "
                   "frames compared whole (the same drawing at another spot is kept)",
    STATUS_IN_PLACE: "the drawing doesn't move across the scene; frames compared whole (the same drawing at another spot is kept)",
    STATUS_FEW_FRAMES: f"fewer than {MIN_FRAMES} frames, too few to estimate a backdrop; frames compared whole (the same drawing at another spot is kept)",
}


def _above(difference: np.ndarray, threshold: float) -> np.ndarray:
    """Where any channel of an (H, W, 3) uint8 difference exceeds `threshold`:
    one OpenCV pass (inRange over all three channels), ~4x faster than taking
    the channels' maximum first."""
    import cv2

    return cv2.inRange(difference, (0, 0, 0), (threshold, threshold, threshold)) == 0


def _opaque(frame: np.ndarray) -> np.ndarray:
    """The BGR channels of a BGR or (opaque) BGRA frame, contiguous for OpenCV."""
    return frame if frame.shape[2] == 3 else np.ascontiguousarray(frame[:, :, :3])


def work_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the detection copy of a width x height frame."""
    scale = min(1.0, WORK_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _work(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    # Nearest pixels: ~8x cheaper than an area filter at 1080p, and the backdrop's
    # copy samples exactly the same pixels, so their difference stays exact.
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST)


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """The share of the smaller of two boxes that lies inside the other."""
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, right - left) * max(0, bottom - top)
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return inter / smaller if smaller else 0.0


def _open(mask: np.ndarray) -> np.ndarray:
    """The mask without specks: regions a 2x2 square doesn't fit in (a morphological opening)."""
    import cv2

    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)) > 0


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every region it encloses filled (a pale shirt inside an outline)."""
    import cv2

    padded = np.pad(mask, 1).astype(np.uint8)
    flood = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(padded, flood, (0, 0), 2, flags=4)  # everything outside becomes 2
    return (padded != 2)[1:-1, 1:-1]


@dataclass
class Sprite:
    """A drawing at comparison scale (1/k of the frame): its pixels and the
    backdrop's behind them (both blurred a little), its mask, and its box
    inside these arrays. Built by Backdrop.separate; compared by same_drawing."""

    pixels: np.ndarray  # (h, w, 3) uint8
    behind: np.ndarray  # (h, w, 3) uint8
    mask: np.ndarray  # (h, w) bool
    box: tuple[int, int, int, int]
    grey: np.ndarray  # (h, w) uint8, for alignment
    descriptor: np.ndarray  # (144,) int16: the masked drawing at 12x12, box-normalised
    area: int


@dataclass
class Cutout:
    """What a frame holds over the backdrop: the drawing's pixel-exact box in the
    frame, the 64x64 grey picture to hash (scene painted grey) and its sprite; or blank."""

    box: tuple[int, int, int, int]
    blank: bool
    hash_input: np.ndarray | None = None
    sprite: Sprite | None = None


@dataclass
class Backdrop:
    """A source's static backdrop at full and work resolution, where it is stable,
    and the comparison scale factor k."""

    image: np.ndarray  # (H, W, 3) uint8
    work: np.ndarray  # work-size copy
    stable: np.ndarray  # work-size bool: pixels that never animate
    factor: int  # drawings are compared at 1/factor scale
    small: np.ndarray = field(init=False, repr=False)  # the backdrop at 1/factor, blurred
    stable_full: np.ndarray = field(init=False, repr=False)  # `stable` at the frame's size

    def __post_init__(self) -> None:
        import cv2

        height, width = self.image.shape[:2]
        k = self.factor
        cropped = self.image[: height - height % k, : width - width % k]
        small = cropped if k == 1 else cv2.resize(cropped, (width // k, height // k), interpolation=cv2.INTER_AREA)
        self.small = cv2.GaussianBlur(small, (3, 3), 0)
        self.stable_full = cv2.resize(self.stable.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0

    def work_of(self, frame: np.ndarray) -> np.ndarray:
        """The frame at work size (what separate and same_frame look at first)."""
        return _work(_opaque(frame), (self.work.shape[1], self.work.shape[0]))

    def separate(self, frame: np.ndarray, work: np.ndarray | None = None) -> Cutout | None:
        """Find the drawing in one frame (BGR or opaque BGRA, the backdrop's size;
        `work`: work_of(frame) when the caller has it). None when the frame doesn't
        fit the backdrop (a cut, a flash, a pan).

        Found on the work copy, then exactly at full resolution near it: sure
        pixels differ by more than _DRAWN, faint ones (over _FAINT) count within
        _REACH pixels of sure ones. The sprite and the hash are taken at 1/k."""
        import cv2

        frame = _opaque(frame)
        height, width = frame.shape[:2]
        work_height, work_width = self.work.shape[:2]
        work = self.work_of(frame) if work is None else work
        drawn = _above(cv2.absdiff(work, self.work), _DRAWN) & self.stable
        count = int(np.count_nonzero(drawn))
        if count > _MISFIT * drawn.size:
            return None
        drawn = _open(drawn) if count else drawn
        found = content_box(drawn)
        if found is None or int(np.count_nonzero(drawn)) < _BLANK_PIXELS:
            return Cutout(box=(0, 0, width, height), blank=True)
        scale_x, scale_y = width / work_width, height / work_height
        left, top, right, bottom = found
        x0, y0 = max(0, int((left - 3) * scale_x)), max(0, int((top - 3) * scale_y))
        x1, y1 = min(width, int(np.ceil((right + 3) * scale_x))), min(height, int(np.ceil((bottom + 3) * scale_y)))
        near = cv2.absdiff(frame[y0:y1, x0:x1], self.image[y0:y1, x0:x1])
        stable = self.stable_full[y0:y1, x0:x1]
        sure = _open(_above(near, _DRAWN) & stable)
        reach = cv2.dilate(sure.astype(np.uint8), np.ones((2 * _REACH + 1, 2 * _REACH + 1), np.uint8))
        mask = _above(near, _FAINT) & stable & (reach > 0)
        exact = content_box(mask)
        if exact is None:
            return Cutout(box=(0, 0, width, height), blank=True)
        box = (exact[0] + x0, exact[1] + y0, exact[2] + x0, exact[3] + y0)
        return self._cut(frame, box, mask, (x0, y0))

    def _cut(self, frame: np.ndarray, box: tuple[int, int, int, int], mask: np.ndarray, origin: tuple[int, int]) -> Cutout:
        """The sprite (at 1/k, with a margin for alignment and for parts another
        frame finds and this one doesn't) and the hash input of the drawing in `box`."""
        import cv2

        k = self.factor
        small_height, small_width = self.small.shape[:2]
        left, top, right, bottom = box
        margin = _SHIFT + 2 + int(_MARGIN * max(right - left, bottom - top) / k)
        # On the 1/k grid, so the frame's and the backdrop's small pixels line up.
        x0, y0 = max(0, left // k - margin), max(0, top // k - margin)
        x1, y1 = min(small_width, -(-right // k) + margin), min(small_height, -(-bottom // k) + margin)
        patch = frame[y0 * k : y1 * k, x0 * k : x1 * k]
        pixels = patch if k == 1 else cv2.resize(patch, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        placed = np.zeros(patch.shape[:2], np.uint8)
        mx, my = origin  # where `mask` sits in the frame
        ax0, ay0 = max(mx, x0 * k), max(my, y0 * k)
        ax1, ay1 = min(mx + mask.shape[1], x1 * k), min(my + mask.shape[0], y1 * k)
        placed[ay0 - y0 * k : ay1 - y0 * k, ax0 - x0 * k : ax1 - x0 * k] = mask[ay0 - my : ay1 - my, ax0 - mx : ax1 - mx] * 255
        inside = _fill_holes((placed if k == 1 else cv2.resize(placed, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)) > 127)
        tight = content_box(inside) or (0, 0, inside.shape[1], inside.shape[0])
        # The hash: the drawing's box at 1/k, scene painted grey (so the spot doesn't count).
        side = HASH_SIZE * 4  # imagehash's input side
        crop = cv2.resize(pixels[tight[1] : tight[3], tight[0] : tight[2]], (side, side), interpolation=cv2.INTER_AREA)
        keep = cv2.resize(inside[tight[1] : tight[3], tight[0] : tight[2]].view(np.uint8) * 255, (side, side),
                          interpolation=cv2.INTER_AREA) > 127
        crop[~keep] = HASH_BACKGROUND
        pixels = cv2.GaussianBlur(pixels, (3, 3), 0)
        grey = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
        inner = np.where(inside, grey, HASH_BACKGROUND)[tight[1] : tight[3], tight[0] : tight[2]]
        descriptor = cv2.resize(inner, (12, 12), interpolation=cv2.INTER_AREA).astype(np.int16).ravel()
        sprite = Sprite(pixels=pixels, behind=self.small[y0:y1, x0:x1], mask=inside, box=tight, grey=grey,
                        descriptor=descriptor, area=int(np.count_nonzero(inside)))
        return Cutout(box=box, blank=False, hash_input=cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), sprite=sprite)


def same_frame(work_a: np.ndarray, work_b: np.ndarray) -> bool:
    """Whether two work-size frames of one source show the same picture (a held
    frame): at most _BLANK_PIXELS pixels differ by more than _DRAWN."""
    import cv2

    return int(np.count_nonzero(_above(cv2.absdiff(work_a, work_b), _DRAWN))) <= _BLANK_PIXELS


def _window(array: np.ndarray, x: int, y: int, width: int, height: int, repeat: bool = True) -> np.ndarray:
    """array[y:y+height, x:x+width]; where that reaches outside, edge pixels
    repeated (`repeat`) or zeros."""
    import cv2

    if x >= 0 and y >= 0 and x + width <= array.shape[1] and y + height <= array.shape[0]:
        return array[y : y + height, x : x + width]
    left, top = max(0, -x), max(0, -y)
    right, bottom = max(0, x + width - array.shape[1]), max(0, y + height - array.shape[0])
    if left >= width + array.shape[1] or top >= height + array.shape[0] or right >= width + array.shape[1] or bottom >= height + array.shape[0]:
        return np.zeros((height, width) + array.shape[2:], array.dtype)
    border = cv2.BORDER_REPLICATE if repeat else cv2.BORDER_CONSTANT
    padded = cv2.copyMakeBorder(array, top, bottom, left, right, border, value=0)
    return padded[y + top : y + top + height, x + left : x + left + width]


def _best_offset(new: Sprite, old: Sprite, span: bool) -> tuple[int, int]:
    """(dx, dy) with old's pixel (x, y) under new's (x + dx, y + dy): the best
    match of new's drawing (grey, inside its mask) near where the boxes' centres
    coincide (±1 pixel), or with `span`, anywhere between the boxes' left/top and
    right/bottom edges lining up (a part found in one frame and not the other
    moves one edge), ±_SHIFT."""
    import cv2

    left, top, right, bottom = new.box
    width, height = right - left, bottom - top
    o_left, o_top, o_right, o_bottom = old.box
    template = new.grey[top:bottom, left:right]
    mask = new.mask[top:bottom, left:right].view(np.uint8)
    if not span:
        guess_x, guess_y = (o_left + o_right - width) // 2, (o_top + o_bottom - height) // 2
        window = _window(old.grey, guess_x - 1, guess_y - 1, width + 2, height + 2)
        scores = [(cv2.mean(cv2.absdiff(window[dy : dy + height, dx : dx + width], template), mask=mask)[0], dx, dy)
                  for dy in range(3) for dx in range(3)]
        _, dx, dy = min(scores)
        return left - (guess_x - 1 + dx), top - (guess_y - 1 + dy)
    x_from, x_to = sorted((o_left, o_right - width))
    y_from, y_to = sorted((o_top, o_bottom - height))
    x_from, y_from = max(x_from, x_to - _SPAN) - _SHIFT, max(y_from, y_to - _SPAN) - _SHIFT
    window = _window(old.grey, x_from, y_from, width + x_to + _SHIFT - x_from, height + y_to + _SHIFT - y_from)
    scores = cv2.matchTemplate(window, np.ascontiguousarray(template), cv2.TM_SQDIFF, mask=mask)
    _, _, best, _ = cv2.minMaxLoc(scores)
    return left - (x_from + best[0]), top - (y_from + best[1])


def _changed_at(new: Sprite, old: Sprite, offset: tuple[int, int], enough: int | None) -> int:
    """changed_pixels with old's pixel (x, y) under new's (x + dx, y + dy)."""
    import cv2

    dx, dy = offset
    height, width = new.mask.shape
    old_mask = _window(old.mask.view(np.uint8), -dx, -dy, width, height, repeat=False) > 0
    # Old drawing pixels beyond new's patch, and new ones beyond old's patch, differ.
    x0, y0 = max(0, dx), max(0, dy)
    x1, y1 = min(width, dx + old.mask.shape[1]), min(height, dy + old.mask.shape[0])
    covered = int(np.count_nonzero(new.mask[y0:y1, x0:x1])) if x1 > x0 and y1 > y0 else 0
    outside = max(0, old.area - int(np.count_nonzero(old_mask))) + new.area - covered
    old_pixels = _window(old.pixels, -dx, -dy, width, height, repeat=False)
    # t = 0 (the same opaque pixel) explains every pixel within _CHANGED on all channels.
    suspect = _above(cv2.absdiff(new.pixels, old_pixels), _CHANGED) & (new.mask | old_mask)
    where = np.flatnonzero(suspect)
    if enough is not None and where.size + outside <= enough:
        return where.size + outside
    old_behind = _window(old.behind, -dx, -dy, width, height, repeat=False)
    if enough is not None and where.size > 4 * _ESTIMATE:
        # Many suspects: an even sample of them tells a clearly different drawing.
        step = where.size // _ESTIMATE
        estimate = _unexplained(new, old_pixels, old_behind, where[::step]) * step
        if estimate + outside > 2 * enough:
            return estimate + outside
    return _unexplained(new, old_pixels, old_behind, where) + outside


def _unexplained(new: Sprite, old_pixels: np.ndarray, old_behind: np.ndarray, where: np.ndarray) -> int:
    """How many of the pixels `where` (flat indices) differ by more than _CHANGED
    once the part the backdrops' difference explains is taken out."""
    pixels = new.pixels.reshape(-1, 3)[where].astype(np.float32) - old_pixels.reshape(-1, 3)[where]
    behind = new.behind.reshape(-1, 3)[where].astype(np.float32) - old_behind.reshape(-1, 3)[where]
    share = np.clip((pixels * behind).sum(axis=1) / ((behind * behind).sum(axis=1) + 1e-3), 0.0, 1.0)
    residual = np.abs(pixels - share[:, None] * behind).max(axis=1)
    return int(np.count_nonzero(residual > _CHANGED))


def changed_pixels(new: Sprite, old: Sprite, enough: int | None = None) -> int:
    """Pixels of either drawing that differ once `old` is aligned on `new` (see
    _best_offset), beyond what the two spots' backdrops explain: where both show
    the same drawing, a pixel's difference is (1 - alpha) times the backdrops'
    difference, so translucent and anti-aliased pixels don't count. Drawing
    pixels beyond the other sprite's patch count as changed. With `enough`,
    counting may stop early once the answer is known to be at most `enough`."""
    changed = _changed_at(new, old, _best_offset(new, old, span=False), enough)
    if enough is not None and changed <= enough:
        return changed
    new_size = (new.box[2] - new.box[0], new.box[3] - new.box[1])
    old_size = (old.box[2] - old.box[0], old.box[3] - old.box[1])
    if max(abs(a - b) for a, b in zip(new_size, old_size)) > 1:
        changed = min(changed, _changed_at(new, old, _best_offset(new, old, span=True), enough))
    return changed


def same_drawing(new: Sprite, old: Sprite) -> bool:
    """Whether two sprites of one source show the same drawing (at any spot)."""
    limit = int(max(_SAME_MIN, _SAME_SHARE * max(new.area, old.area)))
    return changed_pixels(new, old, enough=limit) <= limit


def fit_backdrop(samples: list[np.ndarray]) -> Backdrop | str:
    """A Backdrop from opaque BGR frames spread over one source, or the status
    that says why there is none (STATUS_MOVING, STATUS_IN_PLACE, STATUS_FEW_FRAMES).

    The per-pixel median is taken at work size, where it is cheap; at full size
    each pixel is the mean of the samples that show the backdrop there (no
    drawing within a work pixel of it), which also averages codec noise away."""
    import cv2

    if len(samples) < _MIN_SAMPLES:
        return STATUS_FEW_FRAMES
    height, width = samples[0].shape[:2]
    size = work_size(width, height)
    works = np.stack([_work(_opaque(sample), size) for sample in samples])
    work = np.median(works, axis=0).round().astype(np.uint8)
    differs = np.stack([_above(cv2.absdiff(sample, work), _DRAWN) for sample in works])
    stable = differs.mean(axis=0) <= _UNSTABLE
    if 1.0 - stable.mean() > _MAX_UNSTABLE:
        return STATUS_MOVING
    boxes = [box for box in (content_box(_open(drawn & stable)) for drawn in differs) if box is not None]
    # What differs from the median spreads over most of a typical sample: a pan
    # over a partly smooth scene (its texture edges everywhere), or no room left for a backdrop.
    areas = [(box[2] - box[0]) * (box[3] - box[1]) for box in boxes]
    if areas and np.median(areas) > _SPREAD * size[0] * size[1]:
        return STATUS_MOVING
    # Most samples must show a drawing, at spots that differ: where a drawing
    # stands still it is part of the median, and frames would come out blank.
    if len(boxes) < _DRAWN_SAMPLES * len(samples):
        return STATUS_IN_PLACE
    pairs = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]]
    if sum(_overlap(a, b) > _SAME_SPOT for a, b in pairs) > len(pairs) / 2:
        return STATUS_IN_PLACE
    # Sums of at most _SAMPLES uint8 values fit in uint16: a 1080p backdrop needs ~14 MB, not floats.
    total = np.zeros((height, width, 3), np.uint16)
    count = np.zeros((height, width), np.uint8)
    grow = np.ones((3, 3), np.uint8)
    for sample, drawn in zip(samples, differs):
        clean = cv2.resize((cv2.dilate(drawn.astype(np.uint8), grow) == 0).view(np.uint8), (width, height),
                           interpolation=cv2.INTER_NEAREST)
        cv2.add(total, _opaque(sample).astype(np.uint16), dst=total, mask=clean)
        count += clean
    image = cv2.resize(work, (width, height), interpolation=cv2.INTER_LINEAR)  # where no sample was clean
    seen = count > 0
    image[seen] = ((total[seen] + count[seen][:, None] // 2) // count[seen][:, None]).astype(np.uint8)
    scale = width / size[0]
    typical = float(np.median([max(b[2] - b[0], b[3] - b[1]) for b in boxes])) * scale if boxes else _COMPARE_SIDE
    factor = max(1, int(round(typical / _COMPARE_SIDE)))
    return Backdrop(image=image, work=_work(image, size), stable=stable, factor=factor)


def _sample_count(width: int, height: int) -> int:
    return int(np.clip(_SAMPLE_BYTES // max(1, width * height * 3), _MIN_SAMPLES, _SAMPLES))


def _video_keyframes(path: Path) -> tuple[list[int], int]:
    """Indices of a video's keyframes and its packet count, from its packets alone
    (no decoding: ~30 ms for a minute of 1080p). ([], 0) if the container won't say."""
    import cv2

    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_FORMAT, -1])
    keyframes: list[int] = []
    count = 0
    try:
        if not capture.isOpened():
            return [], 0
        while capture.grab():
            if capture.get(cv2.CAP_PROP_LRF_HAS_KEY_FRAME):
                keyframes.append(count)
            count += 1
    finally:
        capture.release()
    return keyframes, count


def video_sample_positions(keyframes: list[int], total: int, count: int) -> list[int]:
    """Frame indices to sample, spread over a video and each cheap to reach: just
    after keyframes (thinned evenly when there are more than `count`), several
    _STEP_IN_GOP apart after each when there are fewer."""
    if total <= 0:
        return []
    if total <= count * _STEP_IN_GOP or not keyframes:
        return sorted(set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist()))
    anchors = [0] + [k + _PAST_KEYFRAME for k in keyframes if k > 0 and k + _PAST_KEYFRAME < total]
    ends = anchors[1:] + [total]
    if len(anchors) >= count:
        chosen = np.unique(np.linspace(0, len(anchors) - 1, count).round().astype(int))
        return [anchors[i] for i in chosen]
    per_anchor = -(-count // len(anchors))
    positions = []
    for anchor, end in zip(anchors, ends):
        positions += [anchor + step * _STEP_IN_GOP for step in range(per_anchor) if anchor + step * _STEP_IN_GOP < end]
    return positions


def _video_samples(path: Path, count_for, frame_count: int) -> list[np.ndarray]:
    import cv2

    keyframes, packets = _video_keyframes(path)
    capture = cv2.VideoCapture(str(path))
    samples: list[np.ndarray] = []
    try:
        if not capture.isOpened():
            return []
        ok, first = capture.read()
        if not ok:
            return []
        count = count_for(first)
        total = packets or frame_count
        position = 1  # the frame the next read returns
        for target in video_sample_positions(keyframes, total, count):
            if target == 0:
                samples.append(first)
                continue
            if 0 <= target - position <= _READ_ON:
                for _ in range(target - position):
                    capture.grab()
            else:
                capture.set(cv2.CAP_PROP_POS_FRAMES, target)
            ok, frame = capture.read()
            if not ok:
                break
            samples.append(frame)
            position = target + 1
    finally:
        capture.release()
    return samples


def sample_frames(path: Path, info: SourceInfo, count: int | None = None) -> list[np.ndarray]:
    """Up to `count` frames (default: as many as _SAMPLE_BYTES allows, at most
    15) spread over a source, as decoded (BGR, or BGRA for sources with alpha).
    Videos are sampled by seeking just past keyframes; GIF/APNG/WebP are read
    through (Pillow decodes them in order anyway); sequences read only the
    files picked. Raises InputError like decode.iter_frames."""

    def count_for(frame: np.ndarray) -> int:
        return count or _sample_count(frame.shape[1], frame.shape[0])

    if info.kind == "video":
        return _video_samples(path, count_for, info.frame_count)
    if info.kind == "sequence":
        files = sequence_files(path)
        first = next(iter_frames(files[0]))
        picks = np.unique(np.linspace(0, len(files) - 1, min(len(files), count_for(first))).round().astype(int))
        return [first if i == 0 else next(iter_frames(files[i])) for i in picks]
    samples: list[np.ndarray] = []
    wanted: set[int] = set()
    for index, frame in enumerate(iter_frames(path, info)):
        if index == 0:
            total = max(1, info.frame_count)
            wanted = set(np.linspace(0, total - 1, min(total, count_for(frame))).round().astype(int).tolist())
        if index in wanted:
            samples.append(frame)
    return samples


def estimate_backdrop(path: Path, info: SourceInfo) -> tuple[str, Backdrop | None]:
    """(status, backdrop) of one source. Status '' when the source doesn't need
    one (its frames use alpha, or its background is plain: the colour tells the
    drawing there); else STATUS_STATIC with the Backdrop, or the reason there is none."""
    if info.frame_count == 1:
        return "", None  # a still: nothing to estimate, nothing to say
    # The first frame decides whether a backdrop is wanted at all, before any sampling:
    # transparent and plain-background animations (most of them) are not decoded twice.
    frames = iter_frames(path, info)
    try:
        first = next(frames, None)
    finally:
        frames.close()
    if first is None or _needs_no_backdrop(first):
        return "", None
    if info.frame_count and info.frame_count < MIN_FRAMES:
        return STATUS_FEW_FRAMES, None
    samples = sample_frames(path, info)
    if not samples:
        return "", None
    if any(sample.shape != samples[0].shape for sample in samples):
        return STATUS_MOVING, None
    fitted = fit_backdrop(samples)
    status = fitted if isinstance(fitted, str) else STATUS_STATIC
    log.info("%s: backdrop %s (%d samples)", path.name, status, len(samples))
    return status, None if isinstance(fitted, str) else fitted


def _needs_no_backdrop(frame: np.ndarray) -> bool:
    """Transparent, or a plain border all round. (A drawing that hides part of a
    plain border, which hashing.background_model calls plain, still gets a
    backdrop tried: a flat sky over a scene's ground would look like that too,
    and over a static scene the backdrop's cut-out tells small poses apart.)"""
    if frame.ndim == 3 and frame.shape[2] == 4 and frame[:, :, 3].min() < 255:
        return True
    return classify_background(thumbnail(_opaque(frame))) != "detailed"
