"""Search over perceptual hashes: which kept frame, if any, a new frame repeats.

Only hashes and distances live here (see hashing.py for how frames become hashes).
"""

from __future__ import annotations

import numpy as np

from .hashing import hamming


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

    def nearest(self, bits: np.ndarray) -> tuple[str | None, int]:
        """The key of the closest stored hash and its distance in bits (None, -1 if empty)."""
        if self._count == 0:
            return None, -1
        distances = hamming(self._bits[: self._count], bits)
        best = int(np.argmin(distances))
        return self.keys[best], int(distances[best])


def close_pairs(bits_a: np.ndarray, bits_b: np.ndarray, threshold: int, chunk: int = 512) -> list[tuple[int, int, int]]:
    """All (i, j, distance) with hamming(bits_a[i], bits_b[j]) <= threshold."""
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, len(bits_a), chunk):
        block = hamming(bits_a[start : start + chunk, None, :], bits_b[None, :, :])
        for i, j in zip(*np.nonzero(block <= threshold)):
            pairs.append((start + int(i), int(j), int(block[i, j])))
    return pairs
