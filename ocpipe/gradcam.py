"""Grad-CAM: pure heat-map computation, then separate rendering.

gradcam_heatmap() returns a 0..1 array at the target layer's resolution; it
never divides by zero (an all-zero map stays zero). The target layer defaults to
the last top-level layer with a 4-D output, which for a model with a pretrained
backbone inside is the backbone itself: its output feature map is reachable in
the outer graph, so nested models work without rebuilding them.
"""

from __future__ import annotations

import numpy as np


def find_target_layer(model, name: str | None = None) -> str:
    """The layer whose activations Grad-CAM weighs: `name` if given, else the last
    top-level layer with a 4-D (batch, height, width, channels) output."""
    if name is not None:
        try:
            model.get_layer(name)
        except ValueError as exc:
            raise ValueError(f"model has no layer named '{name}'") from exc
        return name
    from .model import LAST_CONV

    if any(layer.name == LAST_CONV for layer in model.layers):  # the simple model's (its colour branch is 4-D too)
        return LAST_CONV
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is not None and len(shape) == 4 and not layer.name.startswith(("image", "input")):
            return layer.name
    raise ValueError("model has no convolutional (4-D) layer for Grad-CAM")


def _grad_model(model, layer_name: str):
    import keras

    cache = getattr(model, "_ocpipe_grad_models", None)
    if cache is None:
        cache = {}
        model._ocpipe_grad_models = cache
    if layer_name not in cache:
        cache[layer_name] = keras.Model(model.input, [model.get_layer(layer_name).output, model.output])
    return cache[layer_name]


def _compiled_map(model, layer_name: str, plus_plus: bool):
    """A compiled function (image batch of one, class index) -> (probabilities, raw
    map) for this model and layer, built once: called eagerly, a 90-layer model and
    its gradient cost ~10x more Python than arithmetic (185 vs ~20 ms per image)."""
    import tensorflow as tf

    cache = model.__dict__.setdefault("_ocpipe_gradcam_functions", {})
    key = (layer_name, plus_plus)
    if key not in cache:
        grad_model = _grad_model(model, layer_name)

        @tf.function(reduce_retracing=True)
        def run(batch, index):
            with tf.GradientTape() as tape:
                features, predictions = grad_model(batch, training=False)
                target = tf.gather(predictions[0], index)
            gradients, feature = tape.gradient(target, features)[0], features[0]
            if plus_plus:
                squared, cubed = gradients**2, gradients**3
                denominator = 2.0 * squared + tf.reduce_sum(feature, axis=(0, 1)) * cubed
                alphas = tf.math.divide_no_nan(squared, denominator)
                weights = tf.reduce_sum(alphas * tf.nn.relu(gradients), axis=(0, 1))
            else:
                weights = tf.reduce_mean(gradients, axis=(0, 1))
            return predictions[0], tf.nn.relu(tf.reduce_sum(feature * weights, axis=-1))

        cache[key] = run
    return cache[key]


def gradcam_heatmaps(model, image: np.ndarray, class_indices: list[int], layer_name: str | None = None,
                     plus_plus: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """Probabilities and one heat map per class index for one image (H, W, 3).

    One compiled forward and backward pass per class. Maps are float32 in 0..1 at
    the target layer's resolution."""
    import tensorflow as tf

    run = _compiled_map(model, find_target_layer(model, layer_name), plus_plus)
    batch = tf.convert_to_tensor(image[None].astype(np.float32))
    probabilities, maps = None, []
    for index in class_indices:
        predictions, heatmap = run(batch, tf.constant(index, tf.int32))
        probabilities, heatmap = predictions.numpy(), heatmap.numpy()
        peak = float(heatmap.max())
        maps.append((heatmap / peak if peak > 0 else np.zeros_like(heatmap)).astype(np.float32))
    if probabilities is None:
        probabilities = np.asarray(model(batch, training=False))[0]
    return probabilities, maps


def gradcam_heatmap(model, image: np.ndarray, class_index: int | None = None, layer_name: str | None = None,
                    plus_plus: bool = False) -> np.ndarray:
    """The 0..1 Grad-CAM map for one class (default: the top prediction)."""
    if class_index is None:
        class_index = int(np.argmax(np.asarray(model(image[None].astype(np.float32), training=False))[0]))
    return gradcam_heatmaps(model, image, [class_index], layer_name, plus_plus)[1][0]


def upsample(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a heat map to (height, width), smoothly."""
    import cv2

    return cv2.resize(heatmap.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def unletterbox(heatmap: np.ndarray, box: tuple[int, int, int, int], input_size: tuple[int, int],
                image_shape: tuple[int, int], zoom: float = 1.0) -> np.ndarray:
    """Map a heat map over the letterboxed model input (the crop shown at `zoom`,
    data.letterbox) back onto the original image (zeros outside the crop box).
    `input_size`, `image_shape`: (height, width)."""
    import cv2

    left, top, right, bottom = box
    crop_h, crop_w = bottom - top, right - left
    full = upsample(heatmap, input_size)
    scale = min(input_size[0] / crop_h, input_size[1] / crop_w) * zoom
    content_h, content_w = max(1, round(crop_h * scale)), max(1, round(crop_w * scale))
    offset_y, offset_x = (input_size[0] - content_h) // 2, (input_size[1] - content_w) // 2
    content = full[offset_y : offset_y + content_h, offset_x : offset_x + content_w]
    out = np.zeros(image_shape, np.float32)
    out[top:bottom, left:right] = cv2.resize(content, (crop_w, crop_h), interpolation=cv2.INTER_LINEAR)
    return out


def overlay(image_rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, colormap: str = "jet") -> np.ndarray:
    """Blend a 0..1 heat map (any size) over an RGB uint8 image with a colour map."""
    import cv2

    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be between 0 and 1")
    maps = {"jet": cv2.COLORMAP_JET, "inferno": cv2.COLORMAP_INFERNO, "viridis": cv2.COLORMAP_VIRIDIS, "turbo": cv2.COLORMAP_TURBO}
    if colormap not in maps:
        raise ValueError(f"unknown colour map '{colormap}' (choose one of {', '.join(maps)})")
    heat = upsample(heatmap, image_rgb.shape[:2]) if heatmap.shape != image_rgb.shape[:2] else heatmap
    coloured = cv2.applyColorMap((heat * 255).astype(np.uint8), maps[colormap])[:, :, ::-1]
    weight = (alpha * heat)[:, :, None]  # cold areas stay see-through
    return (image_rgb.astype(np.float32) * (1 - weight) + coloured.astype(np.float32) * weight).astype(np.uint8)


def focus_score(heatmap: np.ndarray, mask: np.ndarray) -> float | None:
    """Share of the heat map's mass on the character (mask True), 0..1.
    None when the map is all zero. The map is resized to the mask's shape."""
    heat = upsample(heatmap, mask.shape) if heatmap.shape != mask.shape else heatmap
    total = float(heat.sum())
    if total <= 0:
        return None
    return float(heat[mask.astype(bool)].sum() / total)


# Focus is measured on at most this many (frame, class) pairs of the test split.
FOCUS_LIMIT = 400
# A class whose mean focus is under this looks mostly at background.
FOCUS_WARNING = 0.5


def batch_heatmaps(model, images: np.ndarray, class_indices: np.ndarray, layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM maps (N, h, w) in 0..1 for a batch of inputs, one class per image.
    Images don't interact at inference, so one gradient of the summed scores gives every map."""
    import tensorflow as tf

    grad_model = _grad_model(model, find_target_layer(model, layer_name))
    batch = tf.convert_to_tensor(images.astype(np.float32))
    with tf.GradientTape() as tape:
        features, predictions = grad_model(batch, training=False)
        target = tf.reduce_sum(tf.gather(predictions, tf.constant(class_indices, tf.int32), batch_dims=1))
    gradients = tape.gradient(target, features)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    heat = tf.nn.relu(tf.reduce_sum(features * weights, axis=-1)).numpy()
    peaks = heat.reshape(len(heat), -1).max(axis=1)
    return np.where(peaks[:, None, None] > 0, heat / np.maximum(peaks, 1e-12)[:, None, None], 0.0).astype(np.float32)


def class_focus(model, letterboxed, items, classes: list[str], batch_size: int = 32) -> dict[str, float]:
    """Mean focus score per class over outlined test frames (their true classes'
    maps against their alpha): the background-shortcut detector of the report."""
    from .data import PREDICT_BACKGROUND, compose, zoomed

    outlined = items.outlined if items.outlined is not None else np.zeros(len(items), bool)
    pairs = []
    for index in np.flatnonzero(outlined):
        target = items.targets[index]
        for class_index in (np.flatnonzero(target > 0.5) if np.ndim(target) else [int(target)]):
            pairs.append((int(index), int(class_index)))
    pairs = pairs[:FOCUS_LIMIT]
    if not pairs:
        return {}
    wanted = {index for index, _ in pairs}
    frames = {i: rgba for i, (rgba, _) in enumerate(letterboxed.as_numpy_iterator()) if i in wanted}
    scores: dict[int, list[float]] = {}
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        rgba = np.stack([zoomed(frames[index]).numpy() for index, _ in chunk])  # as prediction shows them
        maps = batch_heatmaps(model, compose(rgba, PREDICT_BACKGROUND), np.array([c for _, c in chunk]))
        for (_, class_index), heat, frame in zip(chunk, maps, rgba):
            value = focus_score(heat, frame[:, :, 3] > 127)
            if value is not None:
                scores.setdefault(class_index, []).append(value)
    return {classes[c]: float(np.mean(v)) for c, v in sorted(scores.items())}
