"""Model builders. Preprocessing (rescaling) lives inside the model, so a saved
model takes raw RGB pixels (0..255) and loads with plain keras.saving.load_model."""

from __future__ import annotations

import logging
from pathlib import Path

from .errors import TrainingError

log = logging.getLogger(__name__)

LAST_CONV = "last_conv_act"
PRETRAINED = "mobilenet"
# Learned colours in the simple model's colour-histogram branch.
COLOUR_BINS = 24


def make_model(input_shape: tuple[int, int, int], num_classes: int, multi_label: bool = False,
               backbone: str = "simple", weights: str | None = None):
    """A classifier over (height, width, 3) RGB inputs in 0..255.

    backbone='mobilenet' (the default): the frozen pretrained MobileNet of
    backbone.py; its middle and last feature maps, each globally average-pooled,
    and the picture's colour histogram (backbone.colour_histogram), concatenated
    ('pool': 512 + 1024 + 208 features); one Dense layer (the head, fit by
    pretrained.py and set with set_head).
    backbone='simple': a compact CNN from scratch (trains on a CPU in minutes).
    Otherwise the name of a keras.applications model (e.g. MobileNetV3Small,
    EfficientNetB0) with `weights` None, 'imagenet' (downloaded: needs internet)
    or a local weights file."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="image")
    colour = None
    if backbone == PRETRAINED:
        from .backbone import colour_histogram, feature_maps

        middle, last = feature_maps(inputs)
        pooled = layers.Concatenate(name="pool")([layers.GlobalAveragePooling2D(name="pool_middle")(middle),
                                                  layers.GlobalAveragePooling2D(name="pool_last")(last),
                                                  colour_histogram(inputs)])
        outputs = layers.Dense(num_classes, activation="sigmoid" if multi_label else "softmax", name="scores")(pooled)
        return keras.Model(inputs, outputs, name=f"ocpipe_{backbone}")
    if backbone == "simple":
        x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
        colour = _colour_histogram(x)
        # A strided stem and pooling to 1/4 resolution first: drawn characters are
        # large, flat-coloured shapes, and this keeps training at ~70M MACs per image.
        x = layers.Conv2D(24, 3, strides=2, padding="same", use_bias=False, name="stem")(x)
        x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
        x = layers.Activation("relu", name="stem_act")(x)
        x = layers.MaxPooling2D(2, name="stem_pool")(x)
        for index, filters in enumerate((48, 96, 128)):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{index}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"bn{index}")(x)
            x = layers.Activation("relu", name=f"act{index}")(x)
            if index < 2:
                x = layers.MaxPooling2D(2, name=f"pool{index}")(x)
        x = layers.Conv2D(160, 3, padding="same", use_bias=False, name="last_conv")(x)
        x = layers.BatchNormalization(momentum=0.9, name="last_conv_bn")(x)
        x = layers.Activation("relu", name=LAST_CONV)(x)
    else:
        x = _backbone(inputs, backbone, weights)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if colour is not None:
        x = layers.Concatenate(name="shape_and_colour")([x, colour])
    x = layers.Dropout(0.3, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="sigmoid" if multi_label else "softmax", name="scores")(x)
    return keras.Model(inputs, outputs, name=f"ocpipe_{backbone}")


def set_head(model, head) -> None:
    """Put a fitted head.LinearHead into a pretrained model's Dense layer."""
    model.get_layer("scores").set_weights([head.kernel, head.bias])


def _colour_histogram(pixels):
    """A learned, soft colour histogram of the image (built-in layers only): each
    4x4-averaged pixel is softly assigned to COLOUR_BINS learned colours and the
    assignments are averaged. A character's palette (hair, clothes, skin) stays
    recognisable from angles and poses the CNN has not seen, which helps most a
    character with few training frames; the convolutional path carries shape."""
    from keras import layers

    x = layers.AveragePooling2D(4, name="colour_pool")(pixels)
    x = layers.Conv2D(COLOUR_BINS, 1, name="colour_bins")(x)
    x = layers.Softmax(name="colour_assign")(x)
    x = layers.GlobalAveragePooling2D(name="colour_histogram")(x)
    return layers.Dense(32, activation="relu", name="colour_dense")(x)


def _backbone(inputs, name: str, weights: str | None):
    import keras

    constructor = getattr(keras.applications, name, None)
    if constructor is None or not callable(constructor):
        raise TrainingError(f"unknown backbone '{name}'; use 'simple' or a keras.applications model such as MobileNetV3Small")
    local = weights not in (None, "imagenet")
    if local and not Path(weights).is_file():
        raise TrainingError(f"weights file {weights} not found")
    kwargs = {"include_top": False, "input_shape": tuple(inputs.shape[1:])}
    try:
        model = constructor(weights="imagenet" if weights == "imagenet" else None, **kwargs)
    except Exception as exc:  # network errors surface as many types
        if weights != "imagenet":
            raise TrainingError(f"can't build {name}: {exc}") from exc
        log.warning("ImageNet weights for %s could not be downloaded (%s); training it from scratch instead", name, exc)
        model = constructor(weights=None, **kwargs)
    if local:
        try:
            model.load_weights(weights, skip_mismatch=True)
        except Exception as exc:
            raise TrainingError(f"can't load weights {weights} into {name}: {exc}") from exc
    # keras.applications models take 0..255 pixels and scale internally.
    return model(inputs)


def strategy():
    """MirroredStrategy over all GPUs when several are visible, else the default."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
