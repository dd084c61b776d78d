"""A sanity baseline: nearest colour-histogram centroid over the character's own
pixels (opaque pixels of the letterboxed frame). If the CNN scores below this,
it is probably looking at something other than the character."""

from __future__ import annotations

import numpy as np

# Hue x saturation x value bins.
BINS = (12, 4, 4)


def colour_histogram(rgba: np.ndarray) -> np.ndarray:
    """L1-normalised HSV histogram of the pixels with alpha > 50% (float RGBA 0..255)."""
    import cv2

    pixels = rgba[rgba[:, :, 3] > 127][:, :3].astype(np.uint8)
    if len(pixels) == 0:
        return np.full(int(np.prod(BINS)), 1.0 / np.prod(BINS))
    hsv = cv2.cvtColor(pixels[None], cv2.COLOR_RGB2HSV)[0]
    histogram, _ = np.histogramdd(hsv.astype(np.float64), bins=BINS, range=((0, 180), (0, 256), (0, 256)))
    histogram = histogram.ravel()
    return histogram / histogram.sum()


def _histograms(dataset) -> np.ndarray:
    return np.array([colour_histogram(rgba) for rgba, _ in dataset.as_numpy_iterator()])


def nearest_centroid(train: np.ndarray, labels: np.ndarray, num_classes: int, histograms: np.ndarray) -> np.ndarray:
    """Class index per row of `histograms`: the nearest (L1) mean training histogram."""
    centroids = np.stack([train[labels == c].mean(axis=0) if np.any(labels == c) else np.full(train.shape[1], np.inf)
                          for c in range(num_classes)])
    return np.abs(histograms[:, None, :] - centroids[None, :, :]).sum(axis=2).argmin(axis=1)


def colour_baseline(letterboxed: dict, items: dict, num_classes: int, multi_label: bool) -> dict:
    """Accuracy of the nearest-centroid colour baseline on val and test (single-label phases)."""
    if multi_label or len(items["train"]) == 0:
        return {"method": "colour-histogram nearest centroid", "applicable": False}
    train = _histograms(letterboxed["train"])
    result = {"method": "colour-histogram nearest centroid", "applicable": True}
    for split in ("val", "test"):
        if len(items[split]) == 0:
            result[f"{split}_accuracy"] = None
            continue
        predicted = nearest_centroid(train, items["train"].targets, num_classes, _histograms(letterboxed[split]))
        result[f"{split}_accuracy"] = float(np.mean(predicted == items[split].targets))
    return result


def colour_baseline_folds(letterboxed, targets: np.ndarray, fold_of_frame: np.ndarray, num_classes: int) -> dict:
    """The same baseline under cross-validation: each fold's frames (fold >= 0)
    are classified by centroids of the other folds' frames."""
    histograms = _histograms(letterboxed)
    correct, total = 0, 0
    for fold in sorted(set(fold_of_frame[fold_of_frame >= 0].tolist())):
        held = fold_of_frame == fold
        predicted = nearest_centroid(histograms[~held], targets[~held], num_classes, histograms[held])
        correct += int(np.sum(predicted == targets[held]))
        total += int(held.sum())
    accuracy = correct / total if total else None
    return {"method": "colour-histogram nearest centroid", "applicable": True, "test_accuracy": accuracy, "val_accuracy": None}
