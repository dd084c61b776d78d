"""The few-drawings machinery: folds by source, the linear head, the open-set rule."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocpipe import openset
from ocpipe.head import fit_single_label
from ocpipe.pretrained import fold_of_frames, views_per_frame
from ocpipe.split import source_folds


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 9), min_size=1, max_size=6), folds=st.integers(1, 6), seed=st.integers(0, 3))
def test_source_folds_deal_every_source_once_and_evenly(counts, folds, seed):
    by_class = {f"c{i}": [f"c{i}-s{j}" for j in range(n)] for i, n in enumerate(counts)}
    assigned = source_folds(by_class, folds, seed)
    assert set(assigned) == {s for sources in by_class.values() for s in sources}
    assert set(assigned.values()) <= set(range(folds))
    for sources in by_class.values():  # each character's sources spread over the folds, within one of each other
        per_fold = Counter(assigned[s] for s in sources)
        assert max(per_fold.values()) - (min(per_fold.values()) if len(per_fold) == folds else 0) <= 1
    assert source_folds(by_class, folds, seed) == assigned  # deterministic
    sizes = Counter(assigned.values())
    assert max(sizes.values()) - min(sizes.get(f, 0) for f in range(folds)) <= len(counts)


def test_fold_of_frames_keeps_sources_whole_and_sets_single_source_characters_aside():
    rows = [{"labels": name, "source_id": f"{name}-{s}"} for name, sources in (("A", 4), ("B", 3), ("C", 1))
            for s in range(sources) for _ in range(5)]
    folds, count, single = fold_of_frames(rows, seed=0)
    assert count == 4 and single == ["C"]
    by_source = defaultdict(set)
    for row, fold in zip(rows, folds):
        by_source[row["source_id"]].add(int(fold))
    assert all(len(f) == 1 for f in by_source.values())  # no source on both sides of any fold
    assert by_source["C-0"] == {-1}  # never held out: nothing to test it against
    assert {next(iter(by_source[f"A-{s}"])) for s in range(4)} == {0, 1, 2, 3}


def test_views_per_frame_stays_in_its_bounds():
    assert views_per_frame(1) == 32 and views_per_frame(10_000) == 4 and 4 <= views_per_frame(150) <= 32


def _blobs(count, classes, dims=24, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (classes, dims))
    labels = np.arange(count) % classes
    return (centres[labels] + rng.normal(0, 1, (count, dims))).astype(np.float32) * 7 + 40, labels


def test_head_folds_standardisation_into_one_linear_layer():
    from sklearn.linear_model import LogisticRegression

    features, labels = _blobs(300, 4)
    head = fit_single_label(features, labels, 4, strength=0.3)
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    reference = LogisticRegression(C=0.3, class_weight="balanced", max_iter=2000).fit((features - mean) / scale, labels)
    test, _ = _blobs(60, 4, seed=1)
    ours = head.probabilities(test)
    assert np.allclose(ours, reference.predict_proba((test - mean) / scale), atol=1e-4)


def test_head_never_names_a_class_it_never_saw_and_learns_a_none_column():
    features, labels = _blobs(200, 3)
    seen = labels != 2
    negatives = np.random.default_rng(3).normal(0, 1, (80, features.shape[1])).astype(np.float32)
    head = fit_single_label(features[seen], labels[seen], 3, negatives=negatives)
    assert head.probabilities(features)[:, 2].max() < 1e-6
    assert head.none_kernel is not None and head.none_kernel.shape == (features.shape[1],)
    own = openset.score(head.logits(features[seen]), head.none_logit(features[seen]))
    noise = openset.score(head.logits(negatives), head.none_logit(negatives))
    assert own.mean() > 0.9 and noise.mean() < 0.2


def test_threshold_keeps_her_frames_and_moves_by_left_out_characters():
    rng = np.random.default_rng(0)
    own = rng.uniform(0.6, 1.0, 1000)
    strict = openset.calibrate(own)
    assert np.mean(own >= strict) >= openset.CALIBRATION_KEEP
    # Strangers scoring low: a looser threshold still rejects 80% of them, and keeps more of hers.
    low = rng.uniform(0.0, 0.4, 200)
    loose = openset.choose_threshold(own, low)
    assert loose < strict and np.mean(low < loose) >= 0.79
    assert np.mean(own >= loose) == 1.0
    # Strangers the familiarity floor refuses anyway (-1): no looser than her lowest-scored frame.
    refused = openset.choose_threshold(own, np.full(200, -1.0))
    assert refused == own.min() and refused < strict
    # Strangers scoring as high as her frames: stricter, but never keeping less than KEEP_AT_LEAST.
    high = rng.uniform(0.6, 1.0, 200)
    tight = openset.choose_threshold(own, high)
    assert tight > strict and np.mean(own >= tight) >= openset.KEEP_AT_LEAST - 1e-9
    assert openset.choose_threshold(own, np.zeros(0)) == strict


def test_score_is_the_top_character_probability_against_none():
    logits = np.array([[2.0, 0.0], [0.0, 0.0]])
    none = np.array([2.0, -50.0])
    assert openset.score(logits, none) == pytest.approx([np.e**2 / (2 * np.e**2 + 1), 0.5], abs=1e-6)


def test_familiarity_is_the_nearest_frame_and_the_floor_her_least_familiar_drawing():
    """Cosine similarity to the most similar reference; held-out familiarity only
    looks at other groups' frames; the floor is the lowest of those (NaN skipped)."""
    frames = np.array([[1.0, 0.0, 0.0], [2.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 3.0, 0.3], [0.6, 0.8, 0.0]])
    sources = np.array(["a", "a", "b", "b", "c"])
    references = openset.unit_rows(frames)
    assert np.allclose(np.linalg.norm(references, axis=1), 1.0)
    assert openset.familiarity(frames[:1] * 5, references)[0] == pytest.approx(1.0)  # scale doesn't matter
    assert openset.familiarity(np.array([[0.0, 0.0, 1.0]]), references)[0] == pytest.approx(0.3 / np.hypot(3.0, 0.3), abs=1e-6)
    held = openset.held_out_familiarity(frames, sources)
    # Frame 0's own source (frame 1, nearly the same) doesn't count: its nearest other is c's (0.6, 0.8).
    assert held[0] == pytest.approx(0.6, abs=1e-6)
    assert held[4] == pytest.approx(max(references[4] @ references[j] for j in range(4)), abs=1e-6)
    assert openset.familiarity_floor(held) == pytest.approx(held.min())
    lonely = openset.held_out_familiarity(frames[:2], sources[:2])  # one source: nothing held out
    assert np.isnan(lonely).all() and openset.familiarity_floor(lonely) is None
    assert openset.familiarity_floor(np.array([np.nan, 0.7, 0.8])) == pytest.approx(0.7)


def test_training_negatives_mix_generated_images_and_her_frames_cut_up():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 64, 48, 3)).astype(np.uint8)
    images, origin = openset.training_negatives((64, 48), frames, count=40, seed=1)
    assert images.shape == (40, 64, 48, 3) and images.dtype == np.float32
    assert np.sum(origin == -1) == 30 and set(origin[origin >= 0]) <= set(range(5))
    for image, source in zip(images[origin >= 0], origin[origin >= 0]):
        # The same pixels, in other places: the tiles are shuffled, not the colours.
        assert sorted(image.reshape(-1, 3).sum(axis=1).tolist()) == sorted(frames[source].reshape(-1, 3).astype(float).sum(axis=1).tolist())
        assert not np.array_equal(image, frames[source])


@pytest.mark.parametrize("phase", ["eyes", "headshot", "fullbody"])
def test_evaluation_negatives_are_fixed_and_cover_every_kind(phase):
    first, second = openset.evaluation_negatives(phase), openset.evaluation_negatives(phase)
    assert {kind for kind, _ in first} == set(openset.EVALUATION_KINDS)
    assert all(np.array_equal(a, b) and ka == kb for (ka, a), (kb, b) in zip(first, second))
    strangers = [image for kind, image in first if kind == "other character"]
    assert len(strangers) == 8 and all((image[:, :, 3] > 0).mean() > 0.02 for image in strangers)
