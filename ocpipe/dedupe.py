"""Search over perceptual hashes: which kept frame, if any, a new frame repeats.

Only hashes and distances live here (see hashing.py for how frames become hashes).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .hashing import hamming, look, same_picture


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

    def within(self, bits: np.ndarray, threshold: int) -> list[tuple[str, int]]:
        """(key, distance) of every stored hash within `threshold` bits, nearest first."""
        if self._count == 0:
            return []
        distances = hamming(self._bits[: self._count], bits)
        close = np.flatnonzero(distances <= threshold)
        close = close[np.argsort(distances[close], kind="stable")]
        return [(self.keys[i], int(distances[i])) for i in close]


class Looks:
    """Looks (hashing.look) of kept frames over a detailed background, by path:
    given when a frame is kept, read back once from its PNG for frames kept by
    earlier runs. Over a detailed background a hash match is only a duplicate
    when the looks agree too; ingest and the audit both ask `differ`."""

    def __init__(self, root: Path, rows: Iterable[dict] = ()) -> None:
        self.root = root
        self._detailed = {row["path"] for row in rows if row.get("background") == "detailed"}
        self._looks: dict[str, np.ndarray | None] = {}

    def add(self, key: str, frame_look: np.ndarray) -> None:
        self._detailed.add(key)
        self._looks[key] = frame_look

    def get(self, key: str) -> np.ndarray | None:
        """The look of a kept detailed-background frame; None for other frames or
        an unreadable file (then the hash alone decides)."""
        if key not in self._detailed:
            return None
        if key not in self._looks:
            from .data import read_rgba
            from .errors import OcpipeError

            try:
                self._looks[key] = look(np.ascontiguousarray(read_rgba(self.root / key)[:, :, [2, 1, 0, 3]]))
            except OcpipeError:
                self._looks[key] = None
        return self._looks[key]

    def differ(self, frame_look: np.ndarray | None, key: str) -> bool:
        """True when a frame with `frame_look` and the kept frame `key` are both over
        a detailed background and their looks show different pictures."""
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
