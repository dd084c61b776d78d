"""Images into model inputs, for training (tf.data) and prediction alike.

One preprocessing path, used everywhere:
  decode RGBA -> crop to the drawn content (+ margin) -> letterbox to the phase's
  (height, width) keeping aspect; the padding is transparent.
Training then composes transparent pixels over random backgrounds (so no
character is tied to a background) and jitters geometry and colour; prediction
composes them over a fixed grey. The model itself rescales pixels, so its input
is plain RGB in 0..255.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Margin added around the drawn content's box, as a share of its size.
CONTENT_MARGIN = 0.08
# Transparent pixels are shown to the model over this grey at prediction time.
PREDICT_BACKGROUND = 128.0
# Random backgrounds kept in memory for augmentation (already flipped, tinted or
# solid, so the per-batch work is a lookup).
BACKGROUND_BANK = 160
# Share of the bank that is a plain random colour, and that is a detailed scene
# (the hardest kind; the rest is gradients and noise).
SOLID_SHARE = 0.25
SCENE_SHARE = 0.40
# Random zoom range (log-uniform). Zooming out to 0.6 shows cropped characters
# small inside a busy background, the way whole-frame art on a scene looks.
ZOOM_RANGE = (0.6, 1.15)
# Prediction shows the drawing at the middle of that range (its geometric mean),
# the scale the head learned from most, instead of at its edge (1.0): on new
# drawings nobody here drew, 1.0 left the features off-centre (README, "Quality").
PREDICT_ZOOM = round(float(np.sqrt(ZOOM_RANGE[0] * ZOOM_RANGE[1])), 2)


def crop_box(box: tuple[int, int, int, int], width: int, height: int, margin: float = CONTENT_MARGIN) -> tuple[int, int, int, int]:
    """Grow a content box by `margin` of its size on each side, clipped to the image."""
    left, top, right, bottom = box
    if right <= left or bottom <= top:
        return 0, 0, width, height
    grow_x, grow_y = int((right - left) * margin), int((bottom - top) * margin)
    return max(0, left - grow_x), max(0, top - grow_y), min(width, right + grow_x), min(height, bottom + grow_y)


def letterbox(rgba, box, size: tuple[int, int], zoom: float = 1.0):
    """Crop an RGBA uint8 tensor (H, W, 4) to `box` (left, top, right, bottom) and fit
    it into `size` (height, width) keeping aspect, centred, padding transparent;
    `zoom` < 1 shrinks it further inside the same padding (PREDICT_ZOOM).
    Returns float32 holding whole numbers in 0..255. Works eagerly and inside tf.data."""
    import tensorflow as tf

    box = tf.cast(box, tf.int32)
    crop = rgba[box[1] : box[3], box[0] : box[2], :]
    crop = tf.cast(crop, tf.float32)
    # Premultiply so transparent pixels' hidden colours don't bleed when resizing.
    alpha = crop[:, :, 3:4] / 255.0
    premultiplied = tf.concat([crop[:, :, :3] * alpha, crop[:, :, 3:4]], axis=-1)
    # tf.image.resize's preserve_aspect_ratio, but never 0 pixels on a side: a crop
    # 1000x3 (a thin drawn line, a 1x20000 sliver) would fail the resize otherwise.
    shape = tf.cast(tf.shape(crop)[:2], tf.float32)
    scale = tf.minimum(size[0] / shape[0], size[1] / shape[1]) * zoom
    fitted = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), 1)
    resized = tf.image.resize(premultiplied, fitted, antialias=True, method="area")
    resized = tf.image.resize_with_crop_or_pad(resized, size[0], size[1])
    alpha = resized[:, :, 3:4] / 255.0
    colour = tf.math.divide_no_nan(resized[:, :, :3], alpha)
    # Rounded to whole values, so the uint8 training cache and prediction see the same pixels.
    return tf.round(tf.clip_by_value(tf.concat([colour, resized[:, :, 3:4]], axis=-1), 0.0, 255.0))


def compose(rgba, background):
    """RGBA float (.., H, W, 4) over an RGB background -> RGB float in 0..255."""
    alpha = rgba[..., 3:4] / 255.0
    return rgba[..., :3] * alpha + background * (1.0 - alpha)


def read_rgba(path: Path, max_side: int | None = None) -> np.ndarray:
    """Any image ocpipe reads (first frame of an animation) as upright RGBA uint8
    (H, W, 4), within the pixel budget, its longest side shrunk to max_side (None:
    full size). Raises InputError; see readers.py."""
    from .readers import read_rgba as read

    return read(path, max_side)


def read_bgra(path: Path) -> np.ndarray:
    """read_rgba at full size in OpenCV's channel order (contiguous BGRA), as
    ingest decodes frames: for re-hashing and re-looking at stored frames."""
    import cv2

    return cv2.cvtColor(read_rgba(path), cv2.COLOR_RGBA2BGRA)


def matte(rgba: np.ndarray) -> np.ndarray:
    """RGBA with a plain, opaque background made transparent (see
    hashing.plain_background_matte), so opaque exports get the same treatment
    as transparent ones: random backgrounds in training, the grey at prediction."""
    from .hashing import plain_background_matte

    alpha = plain_background_matte(rgba)
    if alpha is None:
        return rgba
    out = rgba.copy()
    out[:, :, 3] = alpha
    return out


def find_content(rgba: np.ndarray, whole_frame: bool = False) -> tuple[tuple[int, int, int, int], bool]:
    """The drawn content's box in an RGBA image (the same detector ingest uses,
    plus CONTENT_MARGIN) and whether nothing is drawn at all (a blank or flat
    canvas: then the box is the whole image). `whole_frame` keeps the whole image."""
    from .hashing import hash_frame

    height, width = rgba.shape[:2]
    digest = hash_frame(np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]]), with_look=False)
    if whole_frame or digest.blank:
        return (0, 0, width, height), digest.blank
    return crop_box(digest.box, width, height), False


def find_box(rgba: np.ndarray, whole_frame: bool = False) -> tuple[int, int, int, int]:
    """The drawn content's box in an RGBA image (see find_content)."""
    return find_content(rgba, whole_frame)[0]


@dataclass(frozen=True)
class Prepared:
    """One image made ready for a model: `inputs` (height, width, 3) float32 in
    0..255 (what the model sees), the crop `box` it was cut from, and whether the
    image is `blank` (nothing drawn)."""

    inputs: np.ndarray
    box: tuple[int, int, int, int]
    blank: bool


def letterboxed_for_prediction(rgba: np.ndarray, size: tuple[int, int], whole_frame: bool = False, zoom: float = 1.0):
    """One RGBA image matted, cropped to its drawn content and letterboxed (RGBA
    float tensor, 0..255), the crop box it was cut from, and whether it is blank.
    At the default zoom 1 it is what the training cache holds (load_letterboxed)."""
    rgba = matte(rgba)
    box, blank = find_content(rgba, whole_frame)
    return letterbox(rgba, box, size, zoom), box, blank


def prepare(rgba: np.ndarray, size: tuple[int, int], whole_frame: bool = False, zoom: float = PREDICT_ZOOM) -> Prepared:
    """Prediction input for one RGBA image (see Prepared), shown at `zoom`."""
    letterboxed, box, blank = letterboxed_for_prediction(rgba, size, whole_frame, zoom)
    return Prepared(compose(letterboxed, PREDICT_BACKGROUND).numpy(), box, blank)


def zoomed(letterboxed, zoom: float = PREDICT_ZOOM):
    """Letterboxed RGBA (H, W, 4), as the training cache holds it (zoom 1), shrunk
    to `zoom` inside its padding: what prediction shows the model, up to one more
    resampling (prepare letterboxes the original at `zoom` directly; the two differ
    by about 2 levels per pixel on average, without decoding each frame again)."""
    import tensorflow as tf

    letterboxed = tf.convert_to_tensor(letterboxed)
    if zoom == 1.0:
        return tf.cast(letterboxed, tf.float32)
    height, width = letterboxed.shape[0], letterboxed.shape[1]
    return letterbox(letterboxed, (0, 0, width, height), (height, width), zoom)


@dataclass(frozen=True)
class Items:
    """Frames of one split: paths, crop boxes and targets (class index or multi-hot)."""

    paths: list[str]
    boxes: np.ndarray  # (N, 4) int32
    targets: np.ndarray  # (N,) int32 or (N, C) float32
    # True where the frame's alpha (its own, or cut from a plain background) outlines the character.
    outlined: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)


def background_bank(size: tuple[int, int], seed: int, count: int = BACKGROUND_BANK) -> np.ndarray:
    """Random backgrounds of every kind (solid, gradient, noise, detailed scenes),
    some mirrored and colour-tinted: (count, H, W, 3) uint8."""
    from . import backgrounds

    rng = np.random.default_rng(seed)
    bank = np.empty((count, size[0], size[1], 3), np.uint8)
    for i in range(count):
        draw = rng.random()
        if draw < SOLID_SHARE:
            bank[i] = backgrounds.solid(size[0], size[1], rng)
            continue
        kind = "scene" if draw < SOLID_SHARE + SCENE_SHARE else ("gradient", "noise")[i % 2]
        image = backgrounds.random_background(size[0], size[1], rng, kind).astype(np.float32)
        if rng.random() < 0.5:
            image = image[:, ::-1]
        bank[i] = np.clip(image * rng.uniform(0.6, 1.4, size=3), 0, 255).astype(np.uint8)
    return bank


def _affine(batch: int, size: tuple[int, int], rng_seed, flip: bool):
    """Random similarity transforms (rotation +-12 deg, zoom ZOOM_RANGE, shift +-10%) as
    the 8-parameter projective form tf.raw_ops.ImageProjectiveTransformV3 wants."""
    import tensorflow as tf

    height, width = float(size[0]), float(size[1])
    seeds = tf.random.experimental.stateless_split(rng_seed, 5)
    angle = tf.random.stateless_uniform([batch], seeds[0], -0.21, 0.21)
    zoom = tf.exp(tf.random.stateless_uniform([batch], seeds[1], np.log(ZOOM_RANGE[0]), np.log(ZOOM_RANGE[1])))
    shift_x = tf.random.stateless_uniform([batch], seeds[2], -0.1, 0.1) * width
    shift_y = tf.random.stateless_uniform([batch], seeds[3], -0.1, 0.1) * height
    mirror = tf.where(tf.random.stateless_uniform([batch], seeds[4]) < 0.5, -1.0, 1.0) if flip else tf.ones([batch])
    # Output pixel (x, y) samples input at A @ (x - c) + c - shift, A = R(angle) / zoom (x mirrored).
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    cx, cy = width / 2.0, height / 2.0
    a0, a1 = cos * mirror, -sin
    b0, b1 = sin * mirror, cos
    a2 = cx - a0 * cx - a1 * cy - shift_x
    b2 = cy - b0 * cx - b1 * cy - shift_y
    zeros = tf.zeros([batch])
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def _colour_jitter(batch: int, seeds):
    """Random colour jitter per image, for RGB rows in 0..1: hue rotation (+-0.02
    turn) and saturation (0.85..1.15) in YIQ space folded with contrast
    (0.85..1.15) into one 3x3 matrix, plus a brightness shift (+-0.08). Returns
    (matrix (N, 3, 3), contrast (N,), brightness (N, 1, 1)); augment_batch applies
    them with one matmul instead of four tf.image ops."""
    import tensorflow as tf

    to_yiq = tf.constant([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], tf.float32)
    from_yiq = tf.linalg.inv(to_yiq)
    hue = tf.random.stateless_uniform([batch], seeds[0], -0.02, 0.02) * 2.0 * np.pi
    saturation = tf.random.stateless_uniform([batch], seeds[1], 0.85, 1.15)
    contrast = tf.random.stateless_uniform([batch], seeds[2], 0.85, 1.15)
    brightness = tf.random.stateless_uniform([batch, 1, 1], seeds[3], -0.08, 0.08)  # same shift on every channel
    cos, sin, ones, zeros = tf.cos(hue) * saturation, tf.sin(hue) * saturation, tf.ones([batch]), tf.zeros([batch])
    rotate = tf.reshape(tf.stack([ones, zeros, zeros, zeros, cos, -sin, zeros, sin, cos], axis=1), [batch, 3, 3])
    # Column-vector form M = from_yiq @ rotate @ to_yiq; for row vectors use M^T.
    matrix = tf.transpose(from_yiq[None] @ rotate @ to_yiq[None], [0, 2, 1])
    return matrix * contrast[:, None, None], contrast, brightness


def augment_batch(rgba, rng_seed, bank, flip: bool = False):
    """Train-time augmentation of a batch of letterboxed RGBA images (uint8 or
    float, 0..255): geometry (transparent fill), a random bank background behind
    transparent pixels, colour jitter. Returns RGB float32 in 0..255."""
    import tensorflow as tf

    batch = tf.shape(rgba)[0]
    size = (rgba.shape[1], rgba.shape[2])
    seeds = tf.random.experimental.stateless_split(rng_seed, 6)
    transforms = _affine(batch, size, seeds[0], flip)
    rgba = tf.raw_ops.ImageProjectiveTransformV3(
        images=rgba, transforms=transforms, output_shape=tf.constant(size, tf.int32),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT",
    )
    picks = tf.random.stateless_uniform([batch], seeds[1], 0, bank.shape[0], dtype=tf.int32)
    rgb = compose(tf.cast(rgba, tf.float32), tf.cast(tf.gather(bank, picks), tf.float32)) / 255.0
    matrix, contrast, brightness = _colour_jitter(batch, seeds[2:6])
    pixels = tf.reshape(rgb, [batch, -1, 3])
    mean = tf.reduce_mean(pixels, axis=1, keepdims=True) @ (matrix / contrast[:, None, None])
    pixels = pixels @ matrix + (1.0 - contrast[:, None, None]) * mean + brightness
    return tf.reshape(tf.clip_by_value(pixels, 0.0, 1.0) * 255.0, tf.shape(rgb))


def load_letterboxed(workspace_root: Path, items: Items, size: tuple[int, int]):
    """Cached tf.data of (letterboxed RGBA uint8, target): decode + matte + crop +
    letterbox in parallel. uint8 keeps the cache at a quarter of float32's memory."""
    import tensorflow as tf

    # Stored paths use forward slashes; pathlib joins them with the platform's separator.
    paths = [str(Path(workspace_root) / path) for path in items.paths]
    dataset = tf.data.Dataset.from_tensor_slices((paths, items.boxes.astype(np.int32), items.targets))

    def load(path, box, target):
        image = tf.io.decode_png(tf.io.read_file(path), channels=4)
        image = tf.ensure_shape(tf.numpy_function(matte, [image], tf.uint8, stateful=False), [None, None, 4])
        return tf.cast(letterbox(image, box, size), tf.uint8), target

    # Cached here, so training, evaluation, the baseline, the focus score and the
    # report's gallery all decode and matte each frame once.
    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).cache()


def training_dataset(letterboxed, count: int, batch_size: int, seed: int, bank: np.ndarray, flip: bool):
    """shuffle -> repeat -> batch -> augment (parallel) -> prefetch over cached
    letterboxed frames. Endless: fit it with steps_per_epoch."""
    import tensorflow as tf

    bank_tensor = tf.constant(bank, dtype=tf.uint8)
    dataset = letterboxed.shuffle(max(count, 1), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    counter = tf.data.Dataset.counter(start=seed * 1_000_003)
    dataset = tf.data.Dataset.zip((dataset, counter)).map(
        lambda pair, step: (augment_batch(pair[0], tf.stack([step, tf.cast(seed, tf.int64)]), bank_tensor, flip), pair[1]),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(letterboxed, batch_size: int):
    """Letterboxed frames at PREDICT_ZOOM over the prediction grey, batched: what predict sees."""
    import tensorflow as tf

    return letterboxed.map(lambda rgba, target: (compose(zoomed(rgba), PREDICT_BACKGROUND), target),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size).prefetch(tf.data.AUTOTUNE)
