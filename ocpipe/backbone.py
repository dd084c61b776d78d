"""The pretrained backbone: MobileNet v1 (depth 1.0) with ImageNet weights, frozen.

A CNN trained from scratch on a few dozen frames learns colours and layouts, not
faces; features learned on ImageNet carry over to drawn characters far better
(see README, "Quality"). The weights ship inside ocpipe (assets/mobilenet_v1,
Apache-2.0, see its README for where they come from), so nothing is downloaded.

The backbone is frozen: ocpipe computes its features once per (augmented) frame
and trains only a linear head on them, which takes seconds instead of minutes
and cannot overfit a handful of drawings the way fine-tuning three million
weights would.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

from .model import LAST_CONV as FEATURE_MAP  # the backbone's last activation: Grad-CAM's target layer

_WEIGHTS = ("assets", "mobilenet_v1", "mobilenet_v1_1.0_imagenet_notop.npz")


@lru_cache(maxsize=1)
def _weights() -> dict[str, list[np.ndarray]]:
    """The vendored weights by Keras layer name, as float32 arrays."""
    entry = resources.files("ocpipe").joinpath(*_WEIGHTS)
    with resources.as_file(entry) as path, np.load(path) as archive:
        by_layer: dict[str, dict[int, np.ndarray]] = {}
        for key in archive.files:
            layer, index = key.rsplit("/", 1)
            by_layer.setdefault(layer, {})[int(index)] = archive[key].astype(np.float32)
    return {layer: [arrays[i] for i in sorted(arrays)] for layer, arrays in by_layer.items()}


# The middle block whose pooled features join the last block's: mid-level
# features (textures, patterns of line and colour) carry over to drawn art better
# than the last block's ImageNet-object features alone (README, "Quality").
MIDDLE = "conv_pw_9_relu"


def feature_maps(pixels):
    """The frozen MobileNet's middle (MIDDLE, stride 16, 512 channels) and last
    (stride 32, 1024 channels) feature maps for a symbolic RGB input in 0..255
    (Keras functional API). The layers join the caller's graph, so Grad-CAM can
    reach the activations; the last map is the layer named FEATURE_MAP."""
    import keras
    from keras import layers

    scaled = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="backbone_scale")(pixels)
    base = keras.applications.MobileNet(input_tensor=scaled, include_top=False, weights=None)
    weights = _weights()
    for layer in base.layers:
        if layer.weights:
            layer.set_weights(weights[layer.name])
        layer.trainable = False
    return base.get_layer(MIDDLE).output, layers.Activation("linear", name=FEATURE_MAP)(base.output)


# The colour histogram beside the backbone's features: hue x saturation x value
# bins as in OpenCV's 8-bit HSV (12 hues of 30 degrees, 4 saturations, 4 values),
# plus a hue-less row for greys, over 4x4-averaged pixels.
HUES, SATURATIONS, VALUES = 12, 4, 4
# Its features: the last ones of the pretrained models' 'pool' layer.
COLOUR_FEATURES = (HUES + 1) * SATURATIONS * VALUES
_COLOUR_POOL = 4
# Steepness of a bin edge, per pixel level: 1 level from fully out to fully in.
_EDGE = 1.0


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """(..., 2) position of RGB colours (..., 3) in the plane across the grey axis."""
    return np.stack([(rgb[..., 0] - rgb[..., 1]) / np.sqrt(2), (rgb[..., 0] + rgb[..., 1] - 2 * rgb[..., 2]) / np.sqrt(6)], -1)


def _fixed(tensor, kernel: np.ndarray, bias: np.ndarray, name: str, clip: bool = True):
    """A frozen 1x1 convolution (the linear map `kernel` (in, out) plus `bias`),
    clipped to 0..1 when `clip`: a soft step at each linear test's zero."""
    from keras import layers

    conv = layers.Conv2D(kernel.shape[1], 1, name=name, trainable=False)
    out = conv(tensor)
    conv.set_weights([kernel[None, None].astype(np.float32), bias.astype(np.float32)])
    return layers.ReLU(max_value=1.0, name=f"{name}_step")(out) if clip else out


def colour_histogram(pixels):
    """The share of the picture in each colour bin ((HUES + 1) x SATURATIONS x
    VALUES, the last hue row for greys), for a symbolic RGB input in 0..255,
    from built-in Keras layers only (a saved model needs no custom code). HSV's
    bins are linear tests in RGB: value v >= t is max(R, G, B) >= t; saturation
    s >= t is 255 (max - min) >= t max; a hue lies between two boundary rays,
    each the half-plane through the grey axis and a colour of that hue. A
    character's palette (hair, eyes, clothes) stays recognisable where the
    backbone's ImageNet features blur it (README, "Quality"). The bin of
    prediction's grey is left out (_counted)."""
    from keras import layers

    x = layers.AveragePooling2D(_COLOUR_POOL, name="colour_pool")(pixels)
    eye = np.eye(3)
    channels = [_fixed(x, eye[:, [c]], np.zeros(1), f"colour_{name}", clip=False) for c, name in enumerate("rgb")]
    top, bottom = layers.Maximum(name="colour_max")(channels), layers.Minimum(name="colour_min")(channels)
    extremes = layers.Concatenate(name="colour_extremes")([top, bottom])  # (max, min)
    # Steps of value (max >= 64 j) and of saturation (255 (max - min) >= 64 j max), j = 1..3.
    levels = 256 / VALUES * np.arange(1, VALUES)
    value_steps = _fixed(extremes, np.stack([np.full(VALUES - 1, _EDGE), np.zeros(VALUES - 1)]), _EDGE * (1 - levels), "colour_value")
    levels = 256 / SATURATIONS * np.arange(1, SATURATIONS)
    saturation_steps = _fixed(extremes, _EDGE * np.stack([255 - levels, np.full(SATURATIONS - 1, -255.0)]),
                              np.zeros(SATURATIONS - 1), "colour_saturation")
    # Hue k: counter-clockwise of boundary ray k and clockwise of ray k + 1 in the chroma plane.
    angles = np.arange(HUES + 1) * 360 / HUES
    rays = _chroma(np.stack([_hue_colour(angle) for angle in angles]))  # (HUES + 1, 2)
    to_chroma = _chroma(np.eye(3))  # (3, 2): row c is channel c's chroma
    side = to_chroma[:, [1]] * rays[None, :, 0] - to_chroma[:, [0]] * rays[None, :, 1]  # cross(ray, chroma) per channel
    # A colour on a ray (pure red, yellow, ... lie on them) belongs to the hue after it, not to both or none.
    after = _fixed(x, _EDGE * side[:, :HUES], np.ones(HUES), "colour_hue_after")
    before = _fixed(x, -_EDGE * side[:, 1:], np.zeros(HUES), "colour_hue_before")
    hues = layers.Multiply(name="colour_hue")([after, before])
    # The grey row: what no hue took.
    grey = _fixed(hues, -np.ones((HUES, 1)), np.ones(1), "colour_grey")
    hues = layers.Concatenate(name="colour_hues")([hues, grey])
    values, saturations = _bins(value_steps, VALUES, "colour_values"), _bins(saturation_steps, SATURATIONS, "colour_saturations")
    # The joint bin of each pixel: hue x saturation x value, spread out by copying rows and multiplied.
    index = np.arange(COLOUR_FEATURES)
    spread = [(hues, HUES + 1, index // (SATURATIONS * VALUES)), (saturations, SATURATIONS, index // VALUES % SATURATIONS),
              (values, VALUES, index % VALUES)]
    copies = []
    for n, (tensor, count, rows) in enumerate(spread):
        kernel = np.eye(count)[:, rows] * (_counted() if n == 0 else 1.0)  # prediction's grey is left out
        copies.append(_fixed(tensor, kernel, np.zeros(COLOUR_FEATURES), f"colour_spread_{n}", clip=False))
    return layers.GlobalAveragePooling2D(name="colour_histogram")(layers.Multiply(name="colour_joint")(copies))


def _counted() -> np.ndarray:
    """(COLOUR_FEATURES,) 1 for every bin but the one of prediction's grey
    (data.PREDICT_BACKGROUND: the greys of saturation under a quarter and values
    128-191), which stays 0. Prediction shows the letterbox's padding and
    transparent pixels in that grey, training over random backgrounds: counted,
    a large share the head never saw in training would weigh in every answer.
    The backbone's features still see those greys."""
    from .data import PREDICT_BACKGROUND

    counted = np.ones((HUES + 1, SATURATIONS, VALUES))  # the layout of the joint bins (colour_histogram)
    counted[HUES, 0, int(PREDICT_BACKGROUND // (256 / VALUES))] = 0.0
    return counted.ravel()


def _bins(steps, count: int, name: str):
    """One-hot rows (count) from count - 1 steps (thresholds 1 .. count - 1 reached):
    bin j = step j - step j + 1, with step 0 = 1 and step count = 0."""
    kernel = np.zeros((count - 1, count))
    for j in range(count - 1):
        kernel[j, j + 1], kernel[j, j] = 1.0, -1.0
    bias = np.zeros(count)
    bias[0] = 1.0
    return _fixed(steps, kernel, bias, name)


def _hue_colour(angle: float) -> np.ndarray:
    """The fully saturated RGB colour (0..1) of an HSV hue in degrees."""
    import colorsys

    return np.array(colorsys.hsv_to_rgb((angle % 360) / 360, 1.0, 1.0))
