"""Synthetic multi-character scenes for the `multi` phase, composed from
transparent single-character frames of the TRAIN split only (the caller passes
only those rows), so nothing of val/test leaks into training."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from .backgrounds import paste
from .manifest import Row, split_labels

# Frames loaded per character for composing (bounds memory).
FRAMES_PER_CHARACTER = 80


def synthetic_scenes(root: Path, rows: list[Row], classes: list[str], size: tuple[int, int], count: int, seed: int):
    """`count` transparent RGBA scenes of `size` (height, width) holding 1-3 characters,
    with multi-hot targets over `classes`. Returns (uint8 (N, H, W, 4), float32 (N, C))."""
    import cv2

    rng = np.random.default_rng(seed)
    by_class: dict[str, list[np.ndarray]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["path"]):
        name = split_labels(row["labels"])[0]
        if name not in classes or len(by_class[name]) >= FRAMES_PER_CHARACTER:
            continue
        # imdecode of the file's bytes, not imread: OpenCV's imread can't open a
        # non-ASCII path on Windows (a character folder named 'Zoë').
        image = cv2.imdecode(np.fromfile(Path(root) / row["path"], np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 3 or image.shape[2] != 4:
            continue
        left, top, right, bottom = (int(row[k]) for k in ("box_left", "box_top", "box_right", "box_bottom"))
        crop = image[top:bottom, left:right][:, :, [2, 1, 0, 3]]
        if crop.size:
            by_class[name].append(crop)
    available = [name for name in classes if by_class[name]]
    height, width = size
    scenes = np.zeros((count, height, width, 4), np.uint8)
    targets = np.zeros((count, len(classes)), np.float32)
    for index in range(count):
        k = int(min(len(available), rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25])))
        chosen = rng.choice(len(available), size=k, replace=False)
        for slot, pick in enumerate(chosen):
            name = available[int(pick)]
            frames = by_class[name]
            sprite = frames[int(rng.integers(len(frames)))]
            scale = rng.uniform(0.45, 0.9) * height / sprite.shape[0]
            scale = min(scale, 0.9 * width / k / sprite.shape[1])
            new_size = (max(1, int(sprite.shape[1] * scale)), max(1, int(sprite.shape[0] * scale)))
            sprite = cv2.resize(sprite, new_size, interpolation=cv2.INTER_AREA)
            centre = width * (slot + rng.uniform(0.3, 0.7)) / k
            x = int(centre - new_size[0] / 2)
            y = int(rng.uniform(0.0, 1.0) * max(1, height - new_size[1]))
            paste(scenes[index], sprite, x, y)
            targets[index, classes.index(name)] = 1.0
    return scenes, targets
