"""Pooled backbone features of frames: plain (what prediction sees) and augmented
(what training learns from). The backbone is frozen, so each view's features are
computed once and every head fit (folds, the final model, the open-set class)
reuses them."""

from __future__ import annotations

import numpy as np

# Pooled-feature layer of the pretrained models (the linear head's input).
POOL = "pool"
BATCH = 32


def extractor(model):
    """A function images (N, H, W, 3) float 0..255 -> pooled features (N, d),
    compiled once, from a model whose layer POOL holds the pooled features."""
    import keras
    import tensorflow as tf

    features = keras.Model(model.input, model.get_layer(POOL).output)
    call = tf.function(lambda images: features(images, training=False), reduce_retracing=True)
    return call


def _collect(call, dataset, progress=None) -> np.ndarray:
    parts = []
    for images in dataset:
        parts.append(call(images).numpy())
        if progress is not None:
            progress.advance(len(parts[-1]))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def plain_features(call, letterboxed) -> np.ndarray:
    """Features of cached letterboxed frames (tf.data of (RGBA uint8, target))
    composed over the prediction grey, in order: (N, d)."""
    from .data import evaluation_dataset

    return _collect(call, evaluation_dataset(letterboxed, BATCH).map(lambda images, _: images))


def augmented_features(call, letterboxed, count: int, views: int, bank: np.ndarray, seed: int, flip: bool,
                       progress=None) -> np.ndarray:
    """Features of `views` augmented copies of each of `count` frames (random
    background, geometry, colour jitter; data.augment_batch): (views * count, d),
    view-major, so row v * count + i is a view of frame i. `progress`
    (progress.Progress) advances by the images done."""
    import tensorflow as tf

    from .data import augment_batch

    bank_tensor = tf.constant(bank, dtype=tf.uint8)
    frames = letterboxed.map(lambda rgba, _: rgba).repeat(views).batch(BATCH)
    counter = tf.data.Dataset.counter(start=seed * 1_000_003)
    images = tf.data.Dataset.zip((frames, counter)).map(
        lambda rgba, step: augment_batch(rgba, tf.stack([step, tf.cast(seed, tf.int64)]), bank_tensor, flip),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    ).prefetch(2)
    return _collect(call, images, progress)


def image_features(call, images: np.ndarray) -> np.ndarray:
    """Features of ready images (N, H, W, 3) float 0..255."""
    return np.concatenate([call(images[i : i + BATCH]).numpy() for i in range(0, len(images), BATCH)]) if len(images) else np.zeros((0, 0))
