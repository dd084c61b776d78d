"""graph.py: a phase model split into an ONNX trunk and a head the page computes.

The trained default (MobileNet) model is covered end to end by test_export_web.py;
here the other architecture ocpipe trains ('simple': a CNN with a colour branch
beside it) and the multi-label head, each built untrained with a random head (what
is tested is the split and the closed-form Grad-CAM, which hold for any weights)."""

from __future__ import annotations

import numpy as np
import pytest


def closed_form_gradcam(activations: np.ndarray, probabilities: np.ndarray, head, index: int, multi_label: bool) -> np.ndarray:
    """The page's Grad-CAM (model.mjs) in NumPy: gradients of p_index through the head, in closed form."""
    if multi_label:
        gradient = np.zeros_like(probabilities)
        gradient[index] = probabilities[index] * (1 - probabilities[index])
    else:
        gradient = probabilities[index] * ((np.arange(len(probabilities)) == index) - probabilities)
    weights = head.kernel[head.offset : head.offset + head.channels] @ gradient
    heat = np.maximum(activations @ weights, 0)
    return heat / heat.max() if heat.max() > 0 else heat


@pytest.mark.parametrize("backbone, multi_label, offset, channels", [("simple", False, 0, 160), ("simple", True, 0, 160)])
def test_trunk_and_head_reproduce_keras_and_gradcam(tmp_path, backbone, multi_label, offset, channels):
    import keras
    import onnxruntime

    from ocpipe.export.graph import convert, run_onnx, split_model
    from ocpipe.gradcam import gradcam_heatmaps
    from ocpipe.model import make_model

    keras.utils.set_random_seed(0)
    model = make_model((96, 192, 3), 4, multi_label, backbone)
    kernel, bias = model.get_layer("scores").get_weights()
    model.get_layer("scores").set_weights([np.random.default_rng(1).normal(0, 0.3, kernel.shape).astype(np.float32), bias])
    split = split_model(model)
    assert (split.head.offset, split.head.channels) == (offset, channels)
    assert split.head.activation == ("sigmoid" if multi_label else "softmax")
    convert(split.trunk, tmp_path / "trunk.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "trunk.onnx"), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(2).uniform(0, 255, (3, 96, 192, 3)).astype(np.float32)
    maps, features = run_onnx(session, images)
    probabilities = split.head.probabilities(features)
    np.testing.assert_allclose(probabilities, np.asarray(model(images)), atol=1e-5)
    for image, activations, row in zip(images, maps, probabilities):
        index = int(row.argmax())
        _, (expected,) = gradcam_heatmaps(model, image, [index])
        mine = closed_form_gradcam(activations, row, split.head, index, multi_label)
        np.testing.assert_allclose(mine, expected, atol=1e-4)
    # The trunk takes any size: one file serves phases of different shapes.
    other, _ = run_onnx(session, np.random.default_rng(3).uniform(0, 255, (1, 160, 160, 3)).astype(np.float32))
    assert other.shape[1:3] == (10, 10)


def test_a_model_whose_heat_map_layer_bypasses_pooling_is_refused():
    import keras
    from keras import layers

    from ocpipe.errors import ExportError
    from ocpipe.export.graph import split_model

    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(8, 3, name="last_conv_act")(inputs)
    x = layers.Flatten()(x)  # no global average pooling: no closed form
    model = keras.Model(inputs, layers.Dense(2, activation="softmax", name="scores")(x))
    with pytest.raises(ExportError, match="global average pooling"):
        split_model(model)
