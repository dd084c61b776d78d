"""Grad-CAM finds evidence where it is, and survives degenerate maps."""

from __future__ import annotations

import numpy as np
import pytest

from ocpipe.gradcam import find_target_layer, focus_score, gradcam_heatmap, overlay

pytestmark = pytest.mark.slow


def _data(count=160, size=64, seed=0):
    """Class 0: a red square in the top-left quadrant; class 1: a blue one. Noise elsewhere."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(count, size, size, 3)).astype(np.float32)
    labels = np.arange(count) % 2
    for image, label in zip(images, labels):
        y, x = rng.integers(2, size // 2 - 14, size=2)
        image[y : y + 12, x : x + 12] = (255, 0, 0) if label == 0 else (0, 0, 255)
    return images, labels


def test_heatmap_peak_lands_on_the_evidence():
    import keras

    from ocpipe.model import make_model

    keras.utils.set_random_seed(0)
    images, labels = _data()
    model = make_model((64, 64, 3), 2)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, epochs=12, batch_size=32, verbose=0)
    test_images, test_labels = _data(40, seed=1)
    assert model.evaluate(test_images, test_labels, verbose=0)[1] > 0.9
    hits = 0
    for image in test_images[:10]:
        heatmap = gradcam_heatmap(model, image)
        assert heatmap.min() >= 0 and heatmap.max() <= 1 and not np.isnan(heatmap).any()
        y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        hits += (y < heatmap.shape[0] / 2 + 1) and (x < heatmap.shape[1] / 2 + 1)
    assert hits >= 8


def test_all_zero_map_is_not_nan():
    import keras

    inputs = keras.Input((16, 16, 3))
    features = keras.layers.Conv2D(2, 3, padding="same", kernel_initializer="zeros", name="c")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(features))
    model = keras.Model(inputs, outputs)
    assert find_target_layer(model) == "c"
    heatmap = gradcam_heatmap(model, np.zeros((16, 16, 3), np.float32), 0)
    assert np.all(heatmap == 0)
    assert focus_score(heatmap, np.ones((16, 16), bool)) is None


def test_focus_and_overlay():
    heatmap = np.zeros((8, 8), np.float32)
    heatmap[:4, :4] = 1.0
    mask = np.zeros((32, 32), bool)
    mask[:16, :16] = True
    assert focus_score(heatmap, mask) > 0.8
    image = np.full((32, 32, 3), 100, np.uint8)
    blended = overlay(image, heatmap, alpha=0.5)
    assert blended.shape == image.shape
    assert not np.array_equal(blended[2, 2], image[2, 2]) and np.array_equal(blended[30, 30], image[30, 30])


@pytest.mark.parametrize("zoom", [1.0, 0.83])
def test_unletterbox_lays_the_map_back_on_the_drawing(zoom):
    """A heat map that is hot exactly where the model input shows the drawing
    (prepare at `zoom`) lands on the drawing in the original picture."""
    from ocpipe.data import prepare
    from ocpipe.gradcam import unletterbox

    picture = np.zeros((300, 500, 4), np.uint8)
    picture[60:240, 150:270] = (200, 40, 40, 255)  # a tall drawing off-centre, on transparency
    prepared = prepare(picture, (160, 160), zoom=zoom)
    drawn = (np.abs(prepared.inputs - 128.0).sum(axis=2) > 30).astype(np.float32)
    assert 0.4 * zoom**2 < drawn.mean() < 0.8 * zoom**2  # shrunk by the zoom inside the padding
    laid = unletterbox(drawn, prepared.box, (160, 160), picture.shape[:2], zoom) > 0.5
    truth = picture[:, :, 3] > 0
    assert (laid & truth).sum() / (laid | truth).sum() > 0.9
