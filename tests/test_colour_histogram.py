"""The colour histogram beside the backbone's features: OpenCV's HSV bins, built
from Keras's built-in layers only."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocpipe.backbone import HUES, SATURATIONS, VALUES


@pytest.fixture(scope="module")
def histogram():
    import keras

    from ocpipe.backbone import colour_histogram

    inputs = keras.Input((32, 48, 3))
    model = keras.Model(inputs, colour_histogram(inputs))
    return lambda images: model.predict(np.asarray(images, np.float32), verbose=0).reshape(-1, HUES + 1, SATURATIONS, VALUES)


def _flat(colour):
    return np.full((32, 48, 3), colour, np.float32)


@pytest.mark.parametrize(("colour", "hue", "saturation", "value"), [
    ((255, 0, 0), 0, 3, 3),  # pure red lies on the 0-degree ray: the hue after it
    ((255, 255, 0), 2, 3, 3),  # yellow, 60 degrees
    ((0, 0, 255), 8, 3, 3),  # blue, 240 degrees
    ((230, 120, 40), 0, 3, 3),  # orange, about 25 degrees
    ((40, 200, 120), 5, 3, 3),  # a green of exactly 150 degrees: on a ray, so the hue after it
    ((90, 60, 200), 8, 2, 3),  # violet-blue, about 253 degrees, saturation 0.7
    ((100, 100, 100), HUES, 0, 1),  # grey: no hue
    ((0, 0, 0), HUES, 0, 0),
    ((255, 255, 255), HUES, 0, 3),
    ((200, 170, 170), 0, 0, 3),  # pale pink, saturation 0.15
])
def test_a_flat_colour_fills_its_opencv_bin(histogram, colour, hue, saturation, value):
    shares = histogram([_flat(colour)])[0]
    assert shares[hue, saturation, value] == pytest.approx(1.0, abs=1e-3)
    assert shares.sum() == pytest.approx(1.0, abs=1e-3)
    if hue < HUES:  # OpenCV agrees (8-bit HSV: hue in 0..179, 15 per bin)
        h, s, v = cv2.cvtColor(np.uint8([[colour]]), cv2.COLOR_RGB2HSV)[0, 0]
        assert (h * 2 // (360 // HUES), s // (256 // SATURATIONS), v // (256 // VALUES)) == (hue, saturation, value)


def test_shares_follow_the_picture_and_ignore_where_colours_are(histogram):
    picture = _flat((255, 0, 0))
    picture[:, 24:] = (0, 0, 255)
    moved = np.roll(picture, 12, axis=1)
    shares, shares_moved = histogram([picture, moved])
    assert shares[0, 3, 3] == pytest.approx(0.5, abs=1e-3) and shares[8, 3, 3] == pytest.approx(0.5, abs=1e-3)
    assert np.allclose(shares, shares_moved, atol=1e-3)
    noise = np.random.default_rng(0).uniform(0, 255, (3, 32, 48, 3))
    assert np.allclose(histogram(noise).sum(axis=(1, 2, 3)), 1.0, atol=0.01)


def test_prediction_grey_counts_for_nothing(histogram):
    """The letterbox's padding is shown in data.PREDICT_BACKGROUND at prediction and
    over random backgrounds in training: its bin is left out."""
    from ocpipe.data import PREDICT_BACKGROUND

    padded = _flat((PREDICT_BACKGROUND,) * 3)
    padded[:, :24] = (255, 0, 0)
    shares = histogram([_flat((PREDICT_BACKGROUND,) * 3), padded])
    assert shares[0].sum() == pytest.approx(0.0, abs=1e-4)
    assert shares[1, 0, 3, 3] == pytest.approx(0.5, abs=1e-3) and shares[1].sum() == pytest.approx(0.5, abs=1e-3)
    assert histogram([_flat((150, 150, 150))])[0].sum() == pytest.approx(0.0, abs=1e-4)  # its whole bin: greys 128-191
    assert histogram([_flat((100, 100, 100))])[0, HUES, 0, 1] == pytest.approx(1.0, abs=1e-3)  # other greys count
