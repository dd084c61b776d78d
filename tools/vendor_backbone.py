"""Rebuild ocpipe/assets/mobilenet_v1/ from the registry package that ships the weights.

The pretrained backbone ocpipe trains on is Google's MobileNet v1 (depth 1.0,
ImageNet, TF-slim release, Apache-2.0). No run-time download is allowed, so its
weights are vendored; they come from the PyPI package `nudity==0.2.3`, whose
`nudity/files/retrained_graph.pb` is a frozen TF graph of that network with the
original 1001-class ImageNet head intact (TensorFlow's retrain.py only added a
2-class layer on top; the backbone is untouched). This script, run by a
developer with internet access (never at run time):

1. downloads the sdist with pip, reads the graph's constants,
2. maps them onto keras.applications.MobileNet (BN gamma = 1: slim has none),
3. checks the Keras network against the original graph on random inputs,
4. writes the no-top weights as an .npz (float16 convolution kernels, float32
   batch-norm statistics: 6 MB instead of 13 MB, same predictions to ~1e-3).

    python tools/vendor_backbone.py
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "ocpipe" / "assets" / "mobilenet_v1" / "mobilenet_v1_1.0_imagenet_notop.npz"
PACKAGE = "nudity==0.2.3"


def main() -> None:
    import keras
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", folder, PACKAGE], check=True)
        archive = next(Path(folder).glob("nudity-*.tar.gz"))
        with tarfile.open(archive) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("retrained_graph.pb"))
            graph_bytes = tar.extractfile(member).read()
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(graph_bytes)
    consts = {node.name: tf.make_ndarray(node.attr["value"].tensor) for node in graph.node if node.op == "Const"}
    prefix = "MobilenetV1/"

    def batch_norm(name: str) -> list[np.ndarray]:
        beta = consts[f"{name}/beta"]
        return [consts.get(f"{name}/gamma", np.ones_like(beta)), beta, consts[f"{name}/moving_mean"], consts[f"{name}/moving_variance"]]

    model = keras.applications.MobileNet(input_shape=(224, 224, 3), include_top=False, weights=None)
    model.get_layer("conv1").set_weights([consts[prefix + "Conv2d_0/weights"]])
    model.get_layer("conv1_bn").set_weights(batch_norm(prefix + "Conv2d_0/BatchNorm"))
    for i in range(1, 14):
        model.get_layer(f"conv_dw_{i}").set_weights([consts[prefix + f"Conv2d_{i}_depthwise/depthwise_weights"]])
        model.get_layer(f"conv_dw_{i}_bn").set_weights(batch_norm(prefix + f"Conv2d_{i}_depthwise/BatchNorm"))
        model.get_layer(f"conv_pw_{i}").set_weights([consts[prefix + f"Conv2d_{i}_pointwise/weights"]])
        model.get_layer(f"conv_pw_{i}_bn").set_weights(batch_norm(prefix + f"Conv2d_{i}_pointwise/BatchNorm"))

    # The Keras network must compute what the original graph computes.
    imported = tf.Graph()
    with imported.as_default():
        tf.import_graph_def(graph, name="")
    session = tf.compat.v1.Session(graph=imported)
    pixels = np.random.default_rng(0).uniform(0, 255, (4, 224, 224, 3)).astype(np.float32)
    original = np.concatenate([  # the graph takes one image at a time
        session.run("MobilenetV1/Logits/AvgPool_1a/AvgPool:0", {"input:0": image[None] / 127.5 - 1.0}).reshape(1, -1)
        for image in pixels])
    ours = model(pixels / 127.5 - 1.0).numpy().mean(axis=(1, 2))
    error = float(np.abs(original - ours).max() / np.abs(original).max())
    print(f"Keras vs original graph: largest relative difference {error:.2e}")
    if error > 1e-4:
        raise SystemExit("the converted network does not match the original graph")

    arrays = {}
    for layer in model.layers:
        for index, weight in enumerate(layer.get_weights()):
            is_kernel = layer.name.startswith(("conv1", "conv_dw_", "conv_pw_")) and not layer.name.endswith("_bn")
            arrays[f"{layer.name}/{index}"] = weight.astype(np.float16 if is_kernel else np.float32)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.1f} MB, {sum(a.size for a in arrays.values()):,} weights)")


if __name__ == "__main__":
    main()
