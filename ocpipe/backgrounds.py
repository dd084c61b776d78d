"""Backgrounds for sample animations and for training augmentation: solid,
gradient, noise texture, and detailed scenes tiled from the bundled CC0 art.

All functions return RGB uint8 arrays of shape (height, width, 3)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

KINDS = ("solid", "gradient", "noise", "scene")


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def solid(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    return np.broadcast_to(_random_colour(rng).astype(np.uint8), (height, width, 3)).copy()


def gradient(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    start, end = _random_colour(rng), _random_colour(rng)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = xs / max(width - 1, 1) * np.cos(angle) + ys / max(height - 1, 1) * np.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return (start + (end - start) * t[..., None]).astype(np.uint8)


def noise(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    cell = int(rng.integers(2, 24))
    small = rng.integers(0, 256, size=(max(1, height // cell), max(1, width // cell), 3), dtype=np.uint8)
    texture = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC if rng.random() < 0.5 else cv2.INTER_NEAREST)
    base = _random_colour(rng)
    mix = rng.uniform(0.3, 1.0)
    return (texture.astype(np.float32) * mix + base * (1 - mix)).astype(np.uint8)


@lru_cache(maxsize=1)
def _tiles() -> tuple[np.ndarray, ...]:
    from .readers import read_rgba

    folder = resources.files("ocpipe") / "assets" / "kenney" / "tiles"
    tiles = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".png"):
            with resources.as_file(entry) as path:
                tiles.append(read_rgba(path))
    return tuple(tiles)


def scene(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A detailed background: a sky gradient with rows of CC0 tiles and props."""
    import cv2

    canvas = gradient(height, width, rng).astype(np.float32)
    tiles = _tiles()
    size = int(rng.integers(max(8, min(height, width) // 8), max(9, min(height, width) // 3)))
    for _ in range(int(rng.integers(6, 30))):
        tile = tiles[int(rng.integers(len(tiles)))]
        tile = cv2.resize(tile, (size, size), interpolation=cv2.INTER_AREA)
        x = int(rng.integers(-size // 2, width))
        y = int(rng.integers(-size // 2, height))
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + size, width), min(y + size, height)
        if x1 <= x0 or y1 <= y0:
            continue
        patch = tile[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
        alpha = patch[:, :, 3:4] / 255.0
        canvas[y0:y1, x0:x1] = patch[:, :, :3] * alpha + canvas[y0:y1, x0:x1] * (1 - alpha)
    return canvas.astype(np.uint8)


def random_background(height: int, width: int, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """A background of the given kind, or of a random kind."""
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    return {"solid": solid, "gradient": gradient, "noise": noise, "scene": scene}[kind](height, width, rng)


def compose(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """RGBA over an RGB background of the same size -> RGB uint8."""
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    return (rgba[:, :, :3].astype(np.float32) * alpha + background.astype(np.float32) * (1 - alpha)).astype(np.uint8)


def paste(canvas: np.ndarray, sprite: np.ndarray, x: int, y: int) -> None:
    """Alpha-composite an RGBA sprite onto an RGBA canvas at (x, y), clipped."""
    height, width = canvas.shape[:2]
    h, w = sprite.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x1 <= x0 or y1 <= y0:
        return
    patch = sprite[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32) / 255.0
    under = canvas[y0:y1, x0:x1].astype(np.float32) / 255.0
    alpha = patch[:, :, 3:4] + under[:, :, 3:4] * (1 - patch[:, :, 3:4])
    colour = (patch[:, :, :3] * patch[:, :, 3:4] + under[:, :, :3] * under[:, :, 3:4] * (1 - patch[:, :, 3:4])) / np.maximum(alpha, 1e-6)
    canvas[y0:y1, x0:x1] = (np.concatenate([colour, alpha], axis=2) * 255).round().astype(np.uint8)
