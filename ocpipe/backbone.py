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
