"""Fit the default model: the frozen pretrained backbone (backbone.py) and a
linear head on its pooled features (head.py), under one of two regimes.

- split: the head learns from the train split; val calibrates the open-set rule;
  test gives the report's figures. The saved model is exactly what was tested.
- cross-validation (few sources per character): sources are dealt into folds;
  each fold's sources are scored by a head fit on the other folds only, so every
  drawing is tested once by a model that never saw it (figures, per-fold spread,
  the open-set calibration). The saved head is then fit on every source.

Backbone features are computed once per view (augmented views of the frames to
learn from, one plain view of every frame), so the folds, the final head and the
open-set class all reuse them: a phase trains in seconds to a minute on two CPU
cores instead of many epochs of back-propagation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import config, openset
from .backbone import COLOUR_FEATURES
from .data import Items
from .errors import TrainingError
from .head import LinearHead, fit_multi_label, fit_single_label
from .manifest import Row, split_labels
from .others import Others

# At most this many training frames are cut into shuffled tiles for the 'none' class.
_OWN_NEGATIVES = 60
# The open-set threshold keeps openset.CALIBRATION_KEEP of held-out frames shown
# plainly *and* in this many augmented views each (other backgrounds, tilts, zooms,
# colour shifts): a few drawings of one character are often near copies of each
# other, and plain held-out copies alone made the rule refuse her new drawings.
CALIBRATION_VIEWS = 4
# Augmented views of her others folder's frames (others.py), in all.
OTHER_VIEW_BUDGET = 1500
# Her others are scored by heads that never saw them in this many folds (by file).
OTHER_FOLDS = 5


def views_per_frame(frames: int) -> int:
    """Augmented views per frame: about config.VIEW_BUDGET in all."""
    return int(np.clip(round(config.VIEW_BUDGET / max(frames, 1)), config.MIN_VIEWS, config.MAX_VIEWS))


def subset(items: Items, keep: np.ndarray) -> Items:
    """The frames of `items` where `keep` is True."""
    outlined = items.outlined[keep] if items.outlined is not None else None
    return Items([path for path, wanted in zip(items.paths, keep) if wanted], items.boxes[keep], items.targets[keep], outlined)


def _subset_dataset(letterboxed, keep: np.ndarray):
    import tensorflow as tf

    mask = tf.constant(keep)
    return letterboxed.enumerate().filter(lambda index, _: mask[index]).map(lambda _, frame: frame)


class Frames:
    """Frames of one set: their Items, the cached letterboxed tf.data, and the
    backbone's pooled features of each frame as prediction sees it."""

    def __init__(self, root, items: Items, size, call) -> None:
        from .data import load_letterboxed
        from .features import plain_features

        self.items = items
        self.letterboxed = load_letterboxed(root, items, size)
        self.features = plain_features(call, self.letterboxed) if len(items) else np.zeros((0, 0), np.float32)

    def images(self, indices: np.ndarray) -> np.ndarray:
        """Model inputs (over the prediction grey, uint8) of frames `indices`, in that order."""
        from .data import PREDICT_BACKGROUND, compose

        wanted = {int(index): position for position, index in enumerate(indices)}
        out: list = [None] * len(indices)
        for index, (rgba, _) in enumerate(self.letterboxed.as_numpy_iterator()):
            if index in wanted:
                out[wanted[index]] = np.asarray(compose(rgba.astype(np.float32), PREDICT_BACKGROUND)).astype(np.uint8)
        return np.stack(out) if out else np.zeros((0, 1, 1, 3), np.uint8)


def fold_of_frames(rows: list[Row], seed: int) -> tuple[np.ndarray, int, list[str]]:
    """Cross-validation fold of each row's source (split.source_folds), the number
    of folds, and the characters with a single source: their frames get fold -1
    (never held out: a character drawn once can't be tested on another drawing)."""
    from .split import source_folds, sources_by_class

    by_class = sources_by_class(rows)
    single = sorted(name for name, sources in by_class.items() if len(sources) < 2)
    testable = {name: sources for name, sources in by_class.items() if len(sources) >= 2}
    n_folds = min(config.CROSS_VALIDATION_FOLDS, max((len(s) for s in testable.values()), default=0))
    folds = source_folds(testable, n_folds, seed) if n_folds >= 2 else {}
    return np.array([folds.get(row["source_id"], -1) for row in rows]), n_folds if folds else 0, single


def fit(workspace, phase: str, classes: list[str], splits: dict[str, list[Row]], rows: list[Row],
        synthetic_sources: list[Row], size: tuple[int, int], multi_label: bool, options, regime: str,
        log: Callable[[str], None], progress=None) -> dict:
    """Fit and evaluate one phase's pretrained model; returns train.py's outcome dict.
    `progress` (progress.Progress) follows the backbone's pass over the augmented views."""
    import keras

    from .data import background_bank
    from .features import augmented_features, extractor
    from .model import make_model
    from .progress import Progress
    from .train import _items

    progress = progress or Progress()
    keras.utils.set_random_seed(options.seed)
    model = make_model((*size, 3), len(classes), multi_label, config.DEFAULT_BACKBONE)
    call = extractor(model)
    folds = regime == "cross-validation"
    learn_rows = rows if folds else splits["train"]
    learn = Frames(workspace.root, _items(learn_rows, classes, multi_label), size, call)
    count = len(learn.items)
    letterboxed, targets = learn.letterboxed, learn.items.targets
    n_synthetic = 0
    if multi_label and synthetic_sources:
        import tensorflow as tf

        from .synth import synthetic_scenes
        from .train import MAX_SYNTHETIC, MIN_SYNTHETIC, SYNTHETIC_PER_REAL

        n_synthetic = min(MAX_SYNTHETIC, max(MIN_SYNTHETIC, SYNTHETIC_PER_REAL * count))
        scenes, scene_targets = synthetic_scenes(workspace.root, synthetic_sources, classes, size, n_synthetic, options.seed)
        synthetic = tf.data.Dataset.from_tensor_slices((scenes, scene_targets))
        letterboxed = letterboxed.concatenate(synthetic) if count else synthetic
        targets = np.concatenate([targets, scene_targets]) if count else scene_targets
    if count + n_synthetic == 0:
        raise TrainingError(f"no training frames for phase {phase}; ingest more animations")
    views = views_per_frame(count + n_synthetic)
    log(f"{phase}: backbone features of {count + n_synthetic} frames"
        + (f" ({n_synthetic} synthetic scenes)" if n_synthetic else "")
        + f" x {views} augmented views, {len(classes)} classes, input {size[1]}x{size[0]}, {regime}")
    bank = background_bank(size, options.seed)
    progress.start(f"{phase}: looking at {count + n_synthetic} frames x {views} views", views * (count + n_synthetic))
    try:
        augmented = augmented_features(call, letterboxed, count + n_synthetic, views, bank, options.seed, options.flip, progress)
    finally:
        progress.finish()
    view_frame = np.tile(np.arange(count + n_synthetic), views)
    others = other_features(workspace, phase, size, multi_label, call, bank, options, log, progress)
    common = {"train_frames": count, "synthetic_train_frames": n_synthetic, "views_per_frame": views, "regime": regime,
              "backbone": config.DEFAULT_BACKBONE, "epochs_run": 0, "others": others.summary()}
    if multi_label:
        view_targets = np.concatenate([targets[view_frame], np.zeros((len(others.views), len(classes)), np.float32)])
        return _fit_multi_label(workspace.root, model, call, np.concatenate([augmented, others.views]) if len(others.views)
                                else augmented, view_targets, classes, splits, size, options, common, learn)
    return _fit_single_label(model, call, augmented, view_frame, learn, learn_rows, classes, splits, size, options,
                             common, folds, workspace.root, log, phase, others)


@dataclass
class OtherFeatures:
    """Backbone features of her others folder (`folder`, workspace-relative): what
    others.read_others found (`read`, its images dropped once featurised),
    augmented `views` (view-major) and `plain` ones (what prediction sees, one per frame)."""

    folder: str
    read: Others
    views: np.ndarray
    plain: np.ndarray

    @property
    def view_file(self) -> np.ndarray:
        """The file (index into read.files) each row of `views` came from."""
        return np.tile(self.read.file_of_frame, len(self.views) // max(len(self.read), 1))

    def summary(self) -> dict:
        return {"folder": self.folder, "files": len(self.read.files), "frames": len(self.read),
                "views": len(self.views), "failed": [str(failure) for failure in self.read.failures],
                "skipped_files": self.read.skipped_files}


def other_features(workspace, phase: str, size, multi_label: bool, call, bank, options, log, progress) -> OtherFeatures:
    """Read the phase's others folder and compute the features the head learns
    'none of them' from: OTHER_VIEW_BUDGET augmented views in all (the same
    augmentation as her frames, so a background can't tell them apart)."""
    import tensorflow as tf

    from .features import augmented_features, plain_features
    from .others import read_others

    folder = workspace.others(phase).relative_to(workspace.root).as_posix()
    others = read_others(workspace, phase, size, whole_frame=multi_label)
    if not len(others):
        return OtherFeatures(folder, others, np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32))
    views = int(np.clip(round(OTHER_VIEW_BUDGET / len(others)), config.MIN_VIEWS, config.MAX_VIEWS))
    letterboxed = tf.data.Dataset.from_tensor_slices((others.images, np.zeros(len(others), np.int32)))
    log(f"{phase}: {len(others)} frames of {len(others.files)} files in {folder} x {views} views "
        "learnt as 'none of them'" + (f" ({others.skipped_files} more files left out)" if others.skipped_files else ""))
    progress.start(f"{phase}: looking at {len(others)} frames of others x {views} views", views * len(others))
    try:
        augmented = augmented_features(call, letterboxed, len(others), views, bank, options.seed + 2, options.flip, progress)
    finally:
        progress.finish()
    plain = plain_features(call, letterboxed)
    return OtherFeatures(folder, replace(others, images=others.images[:0]), augmented, plain)


def _fit_multi_label(root, model, call, augmented, view_targets, classes, splits, size, options, common, learn) -> dict:
    from .baseline import colour_baseline
    from .gradcam import class_focus
    from .metrics import multi_label_metrics
    from .model import set_head
    from .train import _items

    # A scene's colours mix several characters and the background: multi's head
    # leaves the colour histogram out (README, "Quality"); its rows stay zero.
    head = fit_multi_label(augmented[:, :-COLOUR_FEATURES], view_targets, seed=options.seed)
    head = LinearHead(np.vstack([head.kernel, np.zeros((COLOUR_FEATURES, len(classes)), np.float32)]), head.bias)
    set_head(model, head)
    frames = {split: Frames(root, _items(splits[split], classes, True), size, call) for split in ("val", "test")}
    items = {"train": learn.items, **{split: held.items for split, held in frames.items()}}
    evaluation = {split: head.probabilities(held.features, multi_label=True) if len(held.items)
                  else np.zeros((0, len(classes)), np.float32) for split, held in frames.items()}
    metrics, thresholds = multi_label_metrics(evaluation, items, classes)
    references, floor = familiar_floor(call, root, splits["train"], splits["val"], size, whole_frame=True)
    if floor is not None:
        metrics["familiarity"] = _multi_familiarity(call, root, splits["test"], references, floor, size)
    letterboxed = {"train": learn.letterboxed, **{split: held.letterboxed for split, held in frames.items()}}
    metrics["baseline"] = colour_baseline(letterboxed, items, len(classes), True)
    metrics["focus"] = class_focus(model, letterboxed["test"], items["test"], classes)
    metrics.update(common, val_frames=len(items["val"]), test_frames=len(items["test"]))
    return {"model": model, "history": {}, "metrics": metrics, "thresholds": thresholds, "evaluation": evaluation,
            "items": items, "letterboxed": letterboxed, "head": head,
            "familiar": None if floor is None else {"floor": floor, "references": references}}


def _multi_familiarity(call, root, test_rows: list[Row], references: np.ndarray, floor: float, size) -> dict:
    """metrics.json's `familiarity` for multi: the floor, the share of test scenes
    over it, and the share of the fixed non-character set under it."""
    from .data import prepare
    from .features import image_features

    test = openset.familiarity(prediction_features(call, root, test_rows, size, whole_frame=True), references)
    negatives = openset.evaluation_negatives("multi")
    prepared = [prepare(rgba, size, whole_frame=True) for _, rgba in negatives]
    under = openset.familiarity(image_features(call, np.stack([p.inputs for p in prepared])), references) < floor
    under |= np.array([p.blank for p in prepared])
    kinds = [kind for kind, _ in negatives]
    return {"floor": floor, "rule": "scenes less like her training scenes than the familiarity floor get no labels",
            "calibrated_on": "her training scenes, each against the other animations' scenes, and the val scenes",
            "test_kept": float(np.mean(test >= floor)) if len(test) else None,
            "negatives": {"count": len(negatives), "rejected": float(np.mean(under)),
                          "rejected_by_kind": openset.rejection_by_kind(kinds, ~under)}}


def _fit_single_label(model, call, augmented, view_frame, learn, learn_rows, classes, splits, size, options, common,
                      folds: bool, root, log, phase: str, others: OtherFeatures) -> dict:
    from .baseline import colour_baseline, colour_baseline_folds
    from .features import image_features
    from .gradcam import class_focus
    from .metrics import single_label_metrics
    from .model import set_head
    from .train import _items

    count = len(learn.items)
    view_targets = learn.items.targets[view_frame]
    # The 'none of them' class: generated negatives and some of her frames cut into shuffled tiles.
    rng = np.random.default_rng(options.seed)
    own = np.sort(rng.choice(count, size=min(_OWN_NEGATIVES, count), replace=False))
    negative_images, origin = openset.training_negatives(size, learn.images(own), seed=options.seed)
    # ... and her others folder's frames (others.py): negative_file says which file a row came from (-1: generated).
    negatives = image_features(call, negative_images)
    negative_frame = np.where(origin >= 0, own[np.maximum(origin, 0)], -1)
    if len(others.views):
        negatives = np.concatenate([negatives, others.views])
        negative_frame = np.concatenate([negative_frame, np.full(len(others.views), -1)])
    negative_file = np.concatenate([np.full(len(negative_images), -1), others.view_file]).astype(int)

    def fit_head(held: np.ndarray, held_files: np.ndarray | None = None):
        """A head fit on every view and negative except those of frames `held` out
        (and of her others' files `held_files`)."""
        keep_views = ~held[view_frame]
        keep_negatives = (negative_frame < 0) | ~held[np.maximum(negative_frame, 0)]
        if held_files is not None:
            keep_negatives &= (negative_file < 0) | ~held_files[np.maximum(negative_file, 0)]
        return fit_single_label(augmented[keep_views], view_targets[keep_views], len(classes),
                                negatives[keep_negatives], seed=options.seed)

    # The familiarity floor (openset.familiarity_floor): her frames the head learns
    # from are the references; her drawings held out from them set the floor. Both as
    # prediction sees a picture (data.prepare finds the drawing itself), not as the
    # stored box crops them: the two differ by up to ~0.02 in similarity.
    seen = prediction_features(call, root, learn_rows, size)
    references = openset.unit_rows(seen)
    sources = [row["source_id"] for row in learn_rows]
    metrics: dict = {}
    if folds:
        fold_of_frame, n_folds, single = fold_of_frames(learn_rows, options.seed)
        scored = fold_of_frame >= 0
        probabilities = np.zeros((count, len(classes)), np.float32)
        scores = np.zeros(count, np.float32)
        augmented_scores = []
        calibration_views = np.arange(len(view_frame)) < CALIBRATION_VIEWS * count  # rows are view-major
        fold_accuracy = []
        for fold in range(n_folds):
            held = fold_of_frame == fold
            fold_head = fit_head(held)
            features = learn.features[held]
            probabilities[held] = fold_head.probabilities(features)
            scores[held] = fold_head.open_set_scores(features)
            views = augmented[held[view_frame] & calibration_views]
            augmented_scores.append(fold_head.open_set_scores(views))
            fold_accuracy.append(float(np.mean(probabilities[held].argmax(axis=1) == learn.items.targets[held])))
            log(f"fold {fold + 1}/{n_folds}: {fold_accuracy[-1]:.0%} of {int(held.sum())} frames right "
                "(a head that never saw these animations)")
        head = fit_head(np.zeros(count, bool))
        tested = subset(learn.items, scored)
        items = {"train": learn.items, "val": subset(learn.items, np.zeros(count, bool)), "test": tested}
        letterboxed = {"train": learn.letterboxed, "val": None, "test": _subset_dataset(learn.letterboxed, scored)}
        evaluation = {"val": np.zeros((0, len(classes)), np.float32), "test": probabilities[scored]}
        metrics.update(single_label_metrics(evaluation, items, classes))
        metrics.update(val_accuracy=None, folds=n_folds, fold_accuracy=fold_accuracy, single_source_classes=single,
                       baseline=colour_baseline_folds(learn.letterboxed, learn.items.targets, fold_of_frame, len(classes)))
        calibration = np.concatenate([scores[scored], *augmented_scores])
        test_scores, calibrated_on = scores[scored], f"out-of-fold frames (plain and {CALIBRATION_VIEWS} augmented views each)"
        if not scored.any():  # every character drawn once: an optimistic stand-in, and the report says so
            views = augmented[calibration_views]
            calibration = np.concatenate([head.open_set_scores(learn.features), head.open_set_scores(views)])
            calibrated_on = "training frames (no animation could be held out)"
        evaluations = [(fold_of_frame != fold, learn.features[fold_of_frame == fold], learn.items.targets[fold_of_frame == fold])
                       for fold in range(n_folds)]
        # Out-of-fold frames against the frames of the other folds: what a model that never saw them finds.
        held_familiar = test_familiar = openset.held_out_familiarity(seen, fold_of_frame)[scored]
    else:
        head = fit_head(np.zeros(count, bool))
        frames = {split: Frames(root, _items(splits[split], classes, False), size, call) for split in ("val", "test")}
        items = {"train": learn.items, **{split: held.items for split, held in frames.items()}}
        letterboxed = {"train": learn.letterboxed, **{split: held.letterboxed for split, held in frames.items()}}
        evaluation, split_scores = {}, {}
        for split, held in frames.items():
            empty = not len(held.items)
            evaluation[split] = np.zeros((0, len(classes)), np.float32) if empty else head.probabilities(held.features)
            split_scores[split] = np.zeros(0) if empty else head.open_set_scores(held.features)
        metrics.update(single_label_metrics(evaluation, items, classes))
        metrics["baseline"] = colour_baseline(letterboxed, items, len(classes), False)
        if len(split_scores["val"]):
            from .data import background_bank
            from .features import augmented_features

            views = augmented_features(call, frames["val"].letterboxed, len(frames["val"].items), CALIBRATION_VIEWS,
                                       background_bank(size, options.seed + 1), options.seed + 1, options.flip)
            calibration = np.concatenate([split_scores["val"], head.open_set_scores(views)])
            calibrated_on = f"val frames (plain and {CALIBRATION_VIEWS} augmented views each)"
        else:  # optimistic stand-in, and the report says so
            calibration, calibrated_on = head.open_set_scores(learn.features), "training frames (no val split)"
        test_scores = split_scores["test"]
        held_familiar = openset.familiarity(prediction_features(call, root, splits["val"], size), references)
        test_familiar = openset.familiarity(prediction_features(call, root, splits["test"], size), references)
        evaluations = [(np.ones(count, bool), frames["test"].features, frames["test"].items.targets)] if len(frames["test"].items) else []
    strangers, stranger_frames = _left_out_scores(augmented, view_frame, view_targets, learn, negatives, negative_frame,
                                                  len(classes), options.seed)
    floor = _floor(seen, learn_rows, held_familiar)
    if floor is not None and len(strangers):
        # A left-out character's frame the floor already refuses (less like the other
        # characters' frames than the floor) needs no help from the head's threshold.
        unlike = openset.held_out_familiarity(seen, learn.items.targets)[stranger_frames] < floor
        strangers = np.where(unlike, -1.0, strangers)
    metrics["learning_curve"] = learning_curve(augmented, view_frame, sources, learn.items.targets, evaluations,
                                               len(classes), options.seed) if evaluations else []
    set_head(model, head)
    metrics["open_set"] = open_set_report(items["test"].targets, evaluation["test"], test_scores, calibration, strangers,
                                          calibrated_on, lambda images: head_scores(call, head, images, references), phase, size,
                                          _unseen_other_scores(fit_head, count, others, options.seed), (floor, test_familiar))
    metrics["focus"] = class_focus(model, letterboxed["test"], items["test"], classes) if len(items["test"]) else {}
    metrics.update(common, val_frames=len(items["val"]), test_frames=len(items["test"]))
    return {"model": model, "history": {}, "metrics": metrics, "thresholds": {}, "evaluation": evaluation,
            "items": items, "letterboxed": letterboxed, "head": head,
            "familiar": None if floor is None else {"floor": floor, "references": references}}


def learning_curve(augmented: np.ndarray, view_frame: np.ndarray, frame_sources: list[str], targets: np.ndarray,
                   evaluations: list[tuple[np.ndarray, np.ndarray, np.ndarray]], num_classes: int, seed: int,
                   max_views: int = 8) -> list[dict]:
    """Accuracy against the number of animations per character the head learns
    from: for m = 1, 2, 3, 4, 6, ... a head fit on at most m sources of each
    character (their first `max_views` views per frame, no open-set class) scores
    held-out frames. `targets`: class of each frame to learn from; `evaluations`:
    (mask of the frames it may learn from, held-out features, held-out classes) per
    fold (one for the split regime). Returns [{"animations": m, "accuracy": a}]."""
    from .split import seeded_order

    by_class: dict[int, list[str]] = defaultdict(list)
    for source, target in dict(zip(frame_sources, targets.tolist())).items():
        by_class[target].append(source)
    most = max(len(sources) for sources in by_class.values())
    sources = np.array(frame_sources)
    first_views = np.arange(len(view_frame)) < max_views * len(targets)  # rows are view-major
    curve = []
    for m in (size for size in (1, 2, 3, 4, 6, 8, 12, 16) if size < most):
        correct = total = 0
        for learnable, features, truth in evaluations:
            allowed = set(sources[learnable])
            chosen = {source for names in by_class.values() for source in [s for s in seeded_order(names, seed) if s in allowed][:m]}
            frames = np.isin(sources, list(chosen)) & learnable
            views = frames[view_frame] & first_views
            if len(np.unique(targets[view_frame[views]])) < 2:
                continue
            head = fit_single_label(augmented[views], targets[view_frame[views]], num_classes, seed=seed)
            correct += int(np.sum(head.logits(features).argmax(axis=1) == truth))
            total += len(truth)
        if total:
            curve.append({"animations": m, "accuracy": correct / total})
    return curve


def prediction_features(call, root, rows: list[Row], size, whole_frame: bool = False, batch: int = 64) -> np.ndarray:
    """Pooled features of stored frames as prediction sees them: each read and
    prepared the way `ocpipe predict` prepares a picture (data.prepare)."""
    from .data import prepare, read_rgba
    from .features import image_features

    parts = [image_features(call, np.stack([prepare(read_rgba(Path(root) / row["path"]), size, whole_frame).inputs
                                            for row in rows[start : start + batch]]))
             for start in range(0, len(rows), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def familiar_floor(call, root, learned: list[Row], held_out: list[Row], size, whole_frame: bool = False):
    """(references, floor) of the familiarity floor
    (openset.familiarity_floor) with a fixed split (multi): `learned`, the frames
    the head learns from, are the references; each against the other animations'
    frames, and the `held_out` frames (val) against them, set the floor (None:
    nothing held out)."""
    seen = prediction_features(call, root, learned, size, whole_frame)
    references = openset.unit_rows(seen)
    return references, _floor(seen, learned, openset.familiarity(prediction_features(call, root, held_out, size, whole_frame), references))


def _floor(seen: np.ndarray, learned: list[Row], held: np.ndarray) -> float | None:
    """openset.familiarity_floor over `seen` (features of `learned`), each frame
    against the other animations' frames, and `held`, the familiarity of her
    frames held out of training (val or out-of-fold)."""
    groups = np.array([row["source_id"] for row in learned])
    return openset.familiarity_floor(np.concatenate([openset.held_out_familiarity(seen, groups), held]))


def head_scores(call, head, images: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(character probabilities, open-set scores, familiarity to `references`) of ready model inputs."""
    from .features import image_features

    features = image_features(call, images)
    return head.probabilities(features), head.open_set_scores(features), openset.familiarity(features, references)


def _left_out_scores(augmented, view_frame, view_targets, learn, negatives, negative_frame, num_classes: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Open-set scores of each character's frames (plain and CALIBRATION_VIEWS
    augmented views) by a head fit without that character: a character the model
    never saw, drawn in her style. Also the frame each score is of."""
    count = len(learn.items)
    calibration_views = np.arange(len(view_frame)) < CALIBRATION_VIEWS * count
    out, frames = [], []
    for target in range(num_classes):
        mine = learn.items.targets == target
        if not mine.any() or mine.all():
            continue
        keep_negatives = (negative_frame < 0) | ~mine[np.maximum(negative_frame, 0)]
        head = fit_single_label(augmented[~mine[view_frame]], view_targets[~mine[view_frame]], num_classes,
                                negatives[keep_negatives], seed=seed)
        views = mine[view_frame] & calibration_views
        features = np.concatenate([learn.features[mine], augmented[views]])
        out.append(head.open_set_scores(features))
        frames.append(np.concatenate([np.flatnonzero(mine), view_frame[views]]))
    return (np.concatenate(out), np.concatenate(frames)) if out else (np.zeros(0), np.zeros(0, int))


def _unseen_other_scores(fit_head, count: int, others: OtherFeatures, seed: int) -> np.ndarray | None:
    """Open-set scores of her others' frames (as prediction sees them), each by a
    head that never saw its file (OTHER_FOLDS folds by file); None with fewer than two files."""
    folds = min(OTHER_FOLDS, len(others.read.files))
    if folds < 2:
        return None
    fold_of_file = np.random.default_rng(seed).permutation(len(others.read.files)) % folds
    scores = np.zeros(len(others.plain), np.float32)
    for fold in range(folds):
        held_files = fold_of_file == fold
        frames = held_files[others.read.file_of_frame]
        scores[frames] = fit_head(np.zeros(count, bool), held_files).open_set_scores(others.plain[frames])
    return scores


def open_set_report(truth: np.ndarray, probabilities: np.ndarray, scores: np.ndarray, calibration: np.ndarray,
                    strangers: np.ndarray, calibrated_on: str, score_images, phase: str, size,
                    other_scores: np.ndarray | None = None,
                    familiar: tuple[float | None, np.ndarray] = (None, np.zeros(0))) -> dict:
    """The open-set rule (threshold from `calibration`, and the familiarity floor
    `familiar` = (floor or None, familiarity of the test frames)) and both sides
    of it: held-out real frames (recognised, recognised and right) and the fixed
    non-character set (rejected, per kind), beside plain top-score thresholding
    that keeps the same share of real frames; with `other_scores` (her others
    folder, each scored by a head that never saw its file), their share rejected
    by the head's threshold."""
    from .data import prepare

    threshold = openset.choose_threshold(calibration, strangers)
    floor, test_familiar = familiar
    negatives = openset.evaluation_negatives(phase)
    prepared = [prepare(rgba, size) for _, rgba in negatives]
    negative_probabilities, negative_scores, negative_familiar = score_images(np.stack([p.inputs for p in prepared]))
    blank = np.array([p.blank for p in prepared])
    by_head = ~blank & (negative_scores >= threshold)
    learned = by_head & (negative_familiar >= floor) if floor is not None else by_head
    kinds = [kind for kind, _ in negatives]
    report = {
        "rule": "recognised when nothing-drawn is false, the top character's probability, competing with a "
                "learned 'none of them' class, is at least the threshold"
                + (openset.FAMILIAR_CLAUSE if floor is not None else ""),
        "threshold": float(threshold), "target_keep": openset.CALIBRATION_KEEP, "calibrated_on": calibrated_on,
        "calibration_frames": int(len(calibration)),
        "calibration_kept": float(np.mean(calibration >= threshold)) if len(calibration) else None,
        "strict_threshold": openset.calibrate(calibration),
        "left_out_frames": int(len(strangers)),
        "left_out_rejected": float(np.mean(strangers < threshold)) if len(strangers) else None,
        "negatives": {"count": len(negatives), "rejected": float(np.mean(~learned)),
                      "rejected_by_kind": openset.rejection_by_kind(kinds, learned)},
    }
    if floor is not None:
        report["familiarity"] = {
            "floor": floor, "references": "her training frames (cosine similarity of the pooled features)",
            "calibrated_on": "her own frames held out from the references: each training frame against the other "
                             "animations' frames, and the val or out-of-fold frames against the rest",
            "negatives_rejected": float(np.mean(blank | (negative_familiar < floor))),
            "negatives_rejected_by_head_alone": float(np.mean(~by_head)),
            "test_kept": float(np.mean(test_familiar >= floor)) if len(test_familiar) else None,
        }
    if other_scores is not None:
        report["others_rejected_unseen"] = float(np.mean(other_scores < threshold))
    if len(truth):
        kept = scores >= threshold
        if floor is not None:
            kept &= test_familiar >= floor
        right = probabilities.argmax(axis=1) == truth
        report["test"] = {"frames": int(len(truth)), "recognised": float(kept.mean()),
                          "recognised_and_right": float(np.mean(kept & right))}
        top = openset.calibrate(probabilities.max(axis=1), float(kept.mean()))
        plain = ~blank & (negative_probabilities.max(axis=1) >= top)
        report["top_score_rule"] = {"threshold": float(top), "negatives_rejected": float(np.mean(~plain)),
                                    "recognised_and_right": float(np.mean((probabilities.max(axis=1) >= top) & right))}
    return report
