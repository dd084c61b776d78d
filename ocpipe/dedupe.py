"""Search over perceptual hashes: which kept frame, if any, a new frame repeats.

Only hashes and distances live here (see hashing.py for how frames become hashes).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .backdrop import Sprite, same_drawing
from .hashing import hamming, look, same_picture

# Sprites compared pixel by pixel per frame, at most: the nearest by descriptor.
_SPRITE_CANDIDATES = 4
# Sprites whose descriptors (12x12 grey) differ by more than this mean (0..255)
# are different drawings without a closer look.
_DESCRIPTOR_FAR = 24.0
# A matching sprite this much larger (area) than the kept one replaces it in the search.
_FULLER = 1.02
# Sprites held per source, at most (bounds memory when a source keeps thousands of frames).
_MAX_SPRITES = 400
# One drawing exported two ways (transparent with soft edges, transparent with
# hard GIF edges, flattened over a plain colour) repeats itself up to this many
# times the threshold apart when the looks show the same drawing: where the
# exports differ is the drawing's edge (the cut-out of a flattened copy guesses
# it, a GIF's palette rounds it on or off), which costs 12-40 bits of 256 while
# the look agrees. Measured on 41 painted headshots: of 246 copies flattened over
# three colours (JPEG q90), 190 within 32 bits with the same look (117 within
# 12); of 34 GIF copies, 33 (22 within 12); none of 558 pairs of different
# drawings within 64 bits showed the same look. Frames exported the same way
# keep the threshold: two poses of a walk cycle a pixel apart (24 bits) are two
# drawings there.
DRAWING_REACH = 8 / 3
_DRAWN = ("transparent", "hard alpha", "plain")


def reach(threshold: int, frame_look: np.ndarray | None) -> int:
    """How far (bits) to search for a frame's repeats: `threshold`, or further for
    a drawing look (see DRAWING_REACH and Looks.repeats)."""
    return int(threshold * DRAWING_REACH) if frame_look is not None and frame_look.ndim == 3 else threshold


def across_exports(kind_a: str, kind_b: str) -> bool:
    """Whether two frames are one drawing's different exports (hashing.export_kind):
    the pairs that may repeat each other beyond the threshold (DRAWING_REACH)."""
    return kind_a != kind_b and kind_a in _DRAWN and kind_b in _DRAWN


class HashIndex:
    """Kept hashes of one group (phase + labels) with brute-force Hamming search.

    Brute force over packed bits with NumPy's popcount is ~1 µs per stored hash
    per thousand queries, which beats a BK-tree up to tens of thousands of frames."""

    def __init__(self, n_bytes: int) -> None:
        self._bits = np.empty((0, n_bytes), dtype=np.uint8)
        self._count = 0
        self.keys: list[str] = []

    def __len__(self) -> int:
        return self._count

    def add(self, bits: np.ndarray, key: str) -> None:
        if self._count == len(self._bits):
            grown = np.empty((max(16, 2 * len(self._bits)), self._bits.shape[1]), dtype=np.uint8)
            grown[: self._count] = self._bits[: self._count]
            self._bits = grown
        self._bits[self._count] = bits
        self._count += 1
        self.keys.append(key)

    def truncate(self, size: int) -> None:
        """Forget every hash added after the first `size` (rolls back a failed source)."""
        self._count = min(self._count, size)
        del self.keys[size:]

    def bits(self, key: str) -> np.ndarray:
        """The stored hash of `key` (the latest one added under that key)."""
        position = len(self.keys) - 1 - self.keys[::-1].index(key)
        return self._bits[position]

    def within(self, bits: np.ndarray, threshold: int) -> list[tuple[str, int]]:
        """(key, distance) of every stored hash within `threshold` bits, nearest first."""
        if self._count == 0:
            return []
        distances = hamming(self._bits[: self._count], bits)
        close = np.flatnonzero(distances <= threshold)
        close = close[np.argsort(distances[close], kind="stable")]
        return [(self.keys[i], int(distances[i])) for i in close]


class Looks:
    """Looks of kept frames (FrameHash.look: the whole frame over a detailed
    background, the drawing itself on transparent and plain ones), by path: given
    when a frame is kept, read back once from its PNG for frames kept by earlier
    runs. A hash match is only a duplicate when the looks agree too; ingest and the
    audit both ask `differ`. Drawing looks hold 32 KB each, whole-frame ones ~80 KB."""

    def __init__(self, root: Path, rows: Iterable[dict] = ()) -> None:
        self.root = root
        # Frames cut from a static backdrop have no look: their hash is of the drawing alone.
        self._background = {row["path"]: row.get("background", "") for row in rows if row.get("backdrop") != "static"}
        self._looks: dict[str, np.ndarray | None] = {}
        self._exports: dict[str, str] = {}  # hashing.export_kind, once the frame was seen

    def add(self, key: str, frame_look: np.ndarray, background: str, export: str) -> None:
        self._background[key] = background
        self._looks[key] = frame_look
        self._exports[key] = export

    def export(self, key: str) -> str:
        """hashing.export_kind of a kept frame ('' when unknown or unreadable)."""
        self.get(key)
        return self._exports.get(key, "")

    def get(self, key: str) -> np.ndarray | None:
        """The look of a kept frame; None for a frame cut from a backdrop or an
        unreadable file (then the hash alone decides)."""
        if key not in self._background:
            return None
        if key not in self._looks:
            from .data import read_bgra
            from .errors import OcpipeError
            from .hashing import export_kind, hash_frame

            try:
                frame = read_bgra(self.root / key)
                background = self._background[key]
                self._looks[key] = look(frame) if background == "detailed" else hash_frame(frame, background=background).look
                self._exports[key] = export_kind(frame, background)
            except OcpipeError:
                self._looks[key] = None
        return self._looks[key]

    def discard(self, keys: Iterable[str]) -> None:
        """Forget kept frames that were dropped after all (the per-source cap)."""
        for key in keys:
            self._background.pop(key, None)
            self._looks.pop(key, None)

    def repeats(self, frame_look: np.ndarray | None, export: str, key: str, distance: int, threshold: int) -> bool:
        """Whether a frame (`frame_look`, exported as `export`: hashing.export_kind)
        `distance` bits from the kept frame `key` repeats it: within `threshold`
        unless their looks differ; further (up to `reach`) only when the two are
        different exports (across_exports) whose drawing looks show the same drawing."""
        if distance <= threshold:
            return not self.differ(frame_look, key)
        other = self.get(key)
        return (frame_look is not None and other is not None and frame_look.ndim == other.ndim == 3
                and across_exports(export, self.export(key)) and same_picture(frame_look, other))

    def differ(self, frame_look: np.ndarray | None, key: str) -> bool:
        """True when a frame with `frame_look` and the kept frame `key` both have
        looks and they show different pictures (hashing.same_picture)."""
        if frame_look is None:
            return False
        other = self.get(key)
        return other is not None and not same_picture(frame_look, other)


def close_pairs(bits_a: np.ndarray, bits_b: np.ndarray, threshold: int, chunk: int = 512) -> list[tuple[int, int, int]]:
    """All (i, j, distance) with hamming(bits_a[i], bits_b[j]) <= threshold."""
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, len(bits_a), chunk):
        block = hamming(bits_a[start : start + chunk, None, :], bits_b[None, :, :])
        for i, j in zip(*np.nonzero(block <= threshold)):
            pairs.append((start + int(i), int(j), int(block[i, j])))
    return pairs


class Drawings:
    """Sprites (backdrop.Sprite) of the frames one source kept over its static
    backdrop: which of them, if any, shows the same drawing as a new frame at
    another spot. Only the few nearest by descriptor are compared pixel by pixel.
    At most _MAX_SPRITES are held (~150 KB each at most); past that the one
    matched least recently is forgotten (its frame still counts by its hash)."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._sprites: list[Sprite] = []
        self._descriptors = np.empty((16, 144), dtype=np.int16)
        self._used: list[int] = []  # when each sprite was last added or matched
        self._clock = 0

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: str, sprite: Sprite) -> None:
        self._clock += 1
        if len(self.keys) >= _MAX_SPRITES:
            position = int(np.argmin(self._used))
            self.keys[position], self._sprites[position], self._used[position] = key, sprite, self._clock
            self._descriptors[position] = sprite.descriptor
            return
        if len(self.keys) == len(self._descriptors):
            self._descriptors = np.concatenate([self._descriptors, np.empty_like(self._descriptors)])
        self._descriptors[len(self.keys)] = sprite.descriptor
        self.keys.append(key)
        self._sprites.append(sprite)
        self._used.append(self._clock)

    def find(self, sprite: Sprite) -> str | None:
        """The key of a kept sprite showing the same drawing, or None. A match
        found more of the drawing than the kept sprite (a pale part over a pale
        spot of the scene goes unseen) stands in for it from then on, so later
        frames line up with the whole drawing at once."""
        if not self.keys:
            return None
        self._clock += 1
        distances = np.abs(self._descriptors[: len(self.keys)] - sprite.descriptor[None, :]).mean(axis=1)
        near = np.flatnonzero(distances <= _DESCRIPTOR_FAR)
        for position in near[np.argsort(distances[near], kind="stable")][:_SPRITE_CANDIDATES]:
            if same_drawing(sprite, self._sprites[position]):
                if sprite.area > self._sprites[position].area * _FULLER:
                    self._sprites[position] = sprite
                    self._descriptors[position] = sprite.descriptor
                self._used[position] = self._clock
                return self.keys[position]
        return None


def spread_evenly(frame_indices: list[int], count: int, total: int) -> list[int]:
    """Positions in `frame_indices` (ascending) of `count` of them spread as evenly
    as they allow over frames 0..total-1: for each of `count` evenly spaced
    targets, in order, the nearest frame not yet taken that leaves enough for the rest."""
    import bisect

    if count >= len(frame_indices):
        return list(range(len(frame_indices)))
    chosen: list[int] = []
    low = 0
    for step in range(count):
        target = (step + 0.5) * total / count
        high = len(frame_indices) - (count - step)  # last position that leaves room
        at = min(max(bisect.bisect_left(frame_indices, target, low, high + 1), low), high)
        if at > low and abs(frame_indices[at - 1] - target) <= abs(frame_indices[at] - target):
            at -= 1
        chosen.append(at)
        low = at + 1
    return chosen
