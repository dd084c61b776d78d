"""A phase's Keras model split for the browser: trunk (ONNX) + head (numbers).

The trunk maps an RGB image (any height and width, 0..255) to two outputs: the
Grad-CAM layer's activations (`last_conv_act`) and the features the Dense
"scores" layer reads (`features`). The head, that Dense layer's kernel and bias
with its softmax or sigmoid, is exported as numbers and run by the page, which
is what lets it compute Grad-CAM in closed form: the Grad-CAM layer reaches the
scores through global average pooling and that one Dense layer (rows `offset`
.. `offset + channels` of its kernel), so the gradient needs no autodiff
(tf2onnx can't export gradients of this graph anyway).

Trunks with identical layers and weights (every phase of the default frozen
MobileNet backbone) are written once: the page loads one file for all phases.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ExportError

# Output names of the exported trunk.
MAP_OUTPUT = "last_conv_act"
FEATURES_OUTPUT = "features"
INPUT = "image"
OPSET = 17
# Float32 initialisers with at least this many values are stored as float16 (see convert()).
_HALF_MIN_SIZE = 1024
# Largest probability difference between the ONNX trunk + head and Keras that export accepts.
MAX_SCORE_DIFFERENCE = 1e-3

EXTRA_HINT = "pip install 'ocpipe[export]'"


def require_extra() -> None:
    """Raise ExportError in one line when the export extra (tf2onnx, onnx, onnxruntime) is missing."""
    missing = []
    for name in ("tf2onnx", "onnx", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
        except Exception as exc:  # a broken install: say which package, not a traceback
            raise ExportError(f"can't import {name} ({exc}); reinstall it with {EXTRA_HINT}") from exc
    if missing:
        raise ExportError(f"ocpipe export needs {', '.join(missing)}: {EXTRA_HINT}")


@dataclass
class Head:
    """The Dense 'scores' layer and where the Grad-CAM layer's pooled activations sit in its input."""

    kernel: np.ndarray  # (features, classes) float32
    bias: np.ndarray  # (classes,) float32
    activation: str  # 'softmax' or 'sigmoid'
    gradcam_layer: str
    offset: int  # first row of the kernel fed by the Grad-CAM layer's pooled activations
    channels: int  # that layer's channels

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        from ..head import LinearHead

        return LinearHead(self.kernel, self.bias).probabilities(features.astype(np.float64), self.activation == "sigmoid")


@dataclass
class Split:
    trunk: object  # keras.Model: image (None, None, 3) -> [map, features]
    head: Head
    digest: str  # same layers and weights -> same digest
    head_input_layer: str  # the layer whose output the head reads ('pool' for the default backbone)


def _origin(tensor):
    """The layer that produced a KerasTensor."""
    return tensor._keras_history.operation


def _pooled_offset(tensor, target: str) -> tuple[int, int]:
    """(offset, channels) of GlobalAveragePooling2D(target) inside `tensor` (the Dense
    layer's input), through Concatenate, Dropout and identity layers; ExportError otherwise."""
    from keras import layers

    layer = _origin(tensor)
    if isinstance(layer, layers.GlobalAveragePooling2D) and _origin(layer.input).name == target:
        if getattr(layer, "keepdims", False) or getattr(layer, "data_format", "channels_last") != "channels_last":
            raise ExportError(f"layer {layer.name} pools in a layout export doesn't support")
        return 0, int(tensor.shape[-1])
    if isinstance(layer, (layers.Dropout, layers.Identity)) or (
            isinstance(layer, layers.Activation) and getattr(layer.activation, "__name__", "") == "linear"):
        return _pooled_offset(layer.input, target)
    if isinstance(layer, layers.Concatenate) and layer.axis in (-1, 1):
        start = 0
        for part in layer.input:
            try:
                offset, channels = _pooled_offset(part, target)
                return start + offset, channels
            except ExportError:
                start += int(part.shape[-1])
    raise ExportError(f"the model's Grad-CAM layer '{target}' does not reach its scores through global average "
                      "pooling and one Dense layer, which the exported page needs for its heat map")


def split_model(model) -> Split:
    """Split a trained phase model into a dynamic-size trunk and its head (see module docstring)."""
    import keras

    from ..gradcam import find_target_layer

    try:
        scores = model.get_layer("scores")
    except ValueError as exc:
        raise ExportError("the model has no Dense layer named 'scores'") from exc
    activation = getattr(scores.activation, "__name__", "")
    if not isinstance(scores, keras.layers.Dense) or activation not in ("softmax", "sigmoid"):
        raise ExportError("the model's 'scores' layer is not a Dense layer with a softmax or sigmoid")
    target = find_target_layer(model)
    offset, channels = _pooled_offset(scores.input, target)
    kernel, bias = (np.asarray(w, np.float32) for w in scores.get_weights())
    fixed = keras.Model(model.inputs, [model.get_layer(target).output, scores.input], name="trunk")
    config = fixed.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":  # any height and width: one trunk serves every phase's size
            shape = layer["config"]["batch_shape"]
            layer["config"]["batch_shape"] = [None, None, None, shape[-1]]
    trunk = keras.Model.from_config(config)
    weights = fixed.get_weights()
    trunk.set_weights(weights)
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for array in weights:
        digest.update(np.ascontiguousarray(array).tobytes())
    head = Head(kernel, bias, activation, target, offset, channels)
    return Split(trunk, head, digest.hexdigest(), _origin(scores.input).name)


def convert(trunk, path: Path, half: bool = False) -> None:
    """Write the trunk as ONNX (opset OPSET; input INPUT (1, H, W, 3) float32;
    outputs MAP_OUTPUT (1, h, w, C) and FEATURES_OUTPUT (1, D)).

    half: store large float32 weights as float16 plus a Cast, which halves the
    file (MobileNet: 12.8 -> 6.5 MB); compute stays float32. The vendored MobileNet
    kernels are float16 values, but tf2onnx folds batch normalisation into them,
    so they round: measured up to 0.0025 in probability on `multi` scenes (1e-6
    on fullbody), against ~1e-7 with float32 weights."""
    import tensorflow as tf
    import tf2onnx
    from onnx import TensorProto, helper, numpy_helper

    signature = [tf.TensorSpec([1, None, None, 3], tf.float32, name=INPUT)]

    @tf.function(input_signature=signature)
    def forward(image):
        activations, features = trunk(image, training=False)
        return {MAP_OUTPUT: activations, FEATURES_OUTPUT: features}

    from ..quiet import native_stderr_silenced

    with native_stderr_silenced():
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature, opset=OPSET)
    if half:
        graph = proto.graph
        casts, halves = [], []
        for initializer in list(graph.initializer):
            values = numpy_helper.to_array(initializer)
            if values.dtype != np.float32 or values.size < _HALF_MIN_SIZE:
                continue
            stored = numpy_helper.from_array(values.astype(np.float16), f"{initializer.name}__float16")
            halves.append(stored)
            casts.append(helper.make_node("Cast", [stored.name], [initializer.name], to=TensorProto.FLOAT))
            graph.initializer.remove(initializer)
        graph.initializer.extend(halves)
        nodes = casts + list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes)
    proto.producer_name = "ocpipe export"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(proto.SerializeToString())


def run_onnx(session, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(maps (N, h, w, C), features (N, D)) of prepared inputs through an onnxruntime session."""
    maps, features = [], []
    for image in images:
        out = dict(zip([o.name for o in session.get_outputs()], session.run(None, {INPUT: image[None].astype(np.float32)})))
        maps.append(out[MAP_OUTPUT][0])
        features.append(out[FEATURES_OUTPUT][0])
    return np.stack(maps), np.stack(features)


def verify(path: Path, model, head: Head, images: np.ndarray, tolerance: float | None = None) -> float:
    """The largest probability difference between the ONNX trunk + the head and the
    Keras model on `images` (prepared inputs, (N, H, W, 3)); ExportError over
    `tolerance` (default MAX_SCORE_DIFFERENCE)."""
    tolerance = MAX_SCORE_DIFFERENCE if tolerance is None else tolerance
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    _, features = run_onnx(session, images)
    expected = np.asarray(model(images.astype(np.float32), training=False))
    difference = float(np.abs(head.probabilities(features) - expected).max()) if len(images) else 0.0
    if difference > tolerance:
        raise ExportError(f"the exported model's scores differ from the Keras model's by {difference:.2g} "
                          f"(more than {tolerance})" + ("; export without --half" if tolerance > MAX_SCORE_DIFFERENCE else ""))
    return difference
