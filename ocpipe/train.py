"""`ocpipe train`: one Keras model per phase from data/processed/manifest.csv.

For each phase, choose_regime decides how it is measured: cross-validation by
source when a character has few animations, else the fixed train/val/test split.
The default model (pretrained.py) is a frozen pretrained backbone with a linear
head fit on augmented views; `--backbone simple` (and keras.applications names)
train a CNN by back-propagation here (_fit_cnn: tf.data with strong background
randomisation, early stopping on val). Either way the numbers in metrics.json and
the report come from animations the scoring model never saw, and everything for a
phase is written to a temporary folder and swapped into models/<phase>/ only
when complete.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import config
from .data import PREDICT_ZOOM, Items, crop_box
from .errors import TrainingError, WorkspaceError
from .manifest import Row, read_table, split_labels, staged_folder
from .split import sources_by_class
from .workspace import Workspace

log = logging.getLogger(__name__)

# An epoch shows the model at least this many (augmented) images, so tiny
# datasets still get enough gradient steps per epoch.
MIN_IMAGES_PER_EPOCH = 1024
# Synthetic multi-character scenes composed per real training scene (at least MIN_SYNTHETIC).
SYNTHETIC_PER_REAL = 2
MIN_SYNTHETIC = 240
MAX_SYNTHETIC = 600
# Weights are an exponential moving average of the last ~1/(1-m) steps (Polyak
# averaging): validation, early stopping and the saved model all use the
# average. With a val split of a few animations, the raw weights' epoch-to-epoch
# swings made the kept checkpoint a lottery (held-out accuracy 76-89% across
# seeds without it, 91-98% with it; benchmarks/bench_quality.py).
EMA_MOMENTUM = 0.99
LEARNING_RATE = 2e-3
# The learned 'none of them' column beside model.keras (see openset.py).
OPEN_SET_FILE = "openset.json"
# Her training frames' pooled features (unit rows, float16) for the familiarity floor (openset.py).
FAMILIAR_FILE = "familiar.npy"


@dataclass
class TrainOptions:
    epochs: int = config.DEFAULT_EPOCHS
    seed: int = config.DEFAULT_SEED
    backbone: str = config.DEFAULT_BACKBONE
    regime: str = "auto"
    weights: str | None = None
    flip: bool = False
    batch_size: int = config.DEFAULT_BATCH_SIZE
    patience: int = config.EARLY_STOPPING_PATIENCE
    min_images_per_epoch: int = MIN_IMAGES_PER_EPOCH


@dataclass
class PhaseResult:
    phase: str
    model_dir: Path
    metrics: dict
    report: Path
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # inputs that could not be read (the phase still trained)


def _rows_by_split(rows: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {split: [] for split in config.SPLITS}
    for row in rows:
        out[row["split"]].append(row)
    return out


def _items(rows: list[Row], classes: list[str], multi_label: bool) -> Items:
    index = {name: i for i, name in enumerate(classes)}
    boxes, targets = [], []
    for row in rows:
        width, height = int(row["width"]), int(row["height"])
        box = (int(row["box_left"]), int(row["box_top"]), int(row["box_right"]), int(row["box_bottom"]))
        boxes.append((0, 0, width, height) if multi_label else crop_box(box, width, height))
        names = split_labels(row["labels"])
        if multi_label:
            target = np.zeros(len(classes), np.float32)
            target[[index[name] for name in names if name in index]] = 1.0
            targets.append(target)
        else:
            targets.append(index[names[0]])
    dtype = np.float32 if multi_label else np.int32
    shape = (0, len(classes)) if multi_label else (0,)
    outlined = np.array([row.get("has_alpha") == "1" or row.get("background") in ("transparent", "plain") for row in rows], bool)
    return Items([row["path"] for row in rows], np.array(boxes, np.int32).reshape(-1, 4),
                 np.array(targets, dtype) if targets else np.zeros(shape, dtype), outlined)


def synthetic_source_rows(manifest: list[Row]) -> list[Row]:
    """Frames the `multi` phase may compose synthetic scenes from: transparent
    single-character frames of the other phases' TRAIN split (never val or test)."""
    return [row for row in manifest
            if row["phase"] != "multi" and row["split"] == "train" and row.get("has_alpha") == "1"
            and len(split_labels(row["labels"])) == 1]


def phases_with_data(workspace: Workspace) -> list[str]:
    rows = _load_manifest(workspace)
    present = {row["phase"] for row in rows}
    return [phase for phase in config.PHASES if phase in present]


def _load_manifest(workspace: Workspace) -> list[Row]:
    if not workspace.manifest.exists():
        raise WorkspaceError(f"no manifest at {workspace.manifest}; run `ocpipe ingest` first")
    return read_table(workspace.manifest)


def train_phases(workspace: Workspace, phase: str | None, options: TrainOptions, log: Callable[[str], None] = print,
                 progress=None) -> list[PhaseResult]:
    """Train `phase`, or every phase with data. A phase that can't train is reported
    and skipped when training all; asked for alone, its error propagates.
    `progress` (progress.Progress) follows each phase's longest step."""
    if phase is not None and phase not in config.PHASES:
        raise TrainingError(f"unknown phase '{phase}' (choose one of {', '.join(config.PHASES)})")
    phases = [phase] if phase else phases_with_data(workspace)
    if not phases:
        raise WorkspaceError("the manifest has no frames; ingest some animations first")
    results, errors = [], []
    for number, name in enumerate(phases, 1):
        if len(phases) > 1:
            log(f"[{number}/{len(phases)}] {name}")
        try:
            results.append(train_phase(workspace, name, options, log, progress))
        except TrainingError as exc:
            if phase:
                raise
            errors.append(f"{name}: {exc}")
            log(f"skipped {name}: {exc}")
    if errors and not results:
        raise TrainingError("; ".join(errors))
    return results


def choose_regime(rows: list[Row], multi_label: bool, backbone: str, requested: str = "auto") -> tuple[str, str]:
    """'split' or 'cross-validation', and why (a sentence for the report).

    Cross-validation by source when the least-drawn character has fewer than
    config.CROSS_VALIDATE_BELOW sources: there the fixed split leaves a character
    two or three drawings to learn from and one animation to be judged on. Multi-label
    phases and backbones trained by back-propagation always use the split."""
    if requested not in config.REGIMES:
        raise TrainingError(f"unknown regime '{requested}' (choose one of {', '.join(config.REGIMES)})")
    fewest = min(len(ids) for ids in sources_by_class(rows).values())
    if multi_label or backbone != config.DEFAULT_BACKBONE:
        if requested == "cross-validation":
            raise TrainingError("cross-validation needs the default pretrained backbone and a single-label phase")
        why = "multi-label scenes" if multi_label else f"the {backbone} backbone trains by back-propagation"
        return "split", f"fixed train/val/test split by source ({why})"
    if requested == "split" or (requested == "auto" and fewest >= config.CROSS_VALIDATE_BELOW):
        reason = "asked for" if requested == "split" else (
            f"every character has at least {config.CROSS_VALIDATE_BELOW} animations")
        return "split", f"fixed train/val/test split by source ({reason})"
    reason = "asked for" if requested == "cross-validation" else (
        f"the least-drawn character has {fewest} animation(s), fewer than {config.CROSS_VALIDATE_BELOW}")
    return "cross-validation", (f"cross-validation by source ({reason}): every animation is tested by a model that never "
                                "saw it, and the saved model learns from all of them")


def train_phase(workspace: Workspace, phase: str, options: TrainOptions, log: Callable[[str], None] = print,
                progress=None) -> PhaseResult:
    """Train, evaluate and save one phase's model (see module docstring)."""
    manifest = _load_manifest(workspace)
    rows = [row for row in manifest if row["phase"] == phase]
    if not rows:
        raise TrainingError(f"no frames for phase {phase} in the manifest; ingest some first")
    multi_label = phase == "multi"
    splits = _rows_by_split(rows)
    notes: list[str] = []
    synthetic_sources: list[Row] = []
    if multi_label:
        synthetic_sources = synthetic_source_rows(manifest)
        classes = sorted({name for row in rows + synthetic_sources for name in split_labels(row["labels"])}, key=str.lower)
    else:
        classes = sorted({row["labels"] for row in rows}, key=str.lower)
    if len(classes) < 2:
        raise TrainingError(f"phase {phase} has only one character ({classes[0]}); a classifier needs at least two")
    regime, regime_reason = choose_regime(rows, multi_label, options.backbone, options.regime)
    log(f"{phase}: {regime_reason}")
    if regime == "split":
        train_counts = Counter(name for row in splits["train"] for name in split_labels(row["labels"]))
        missing = [name for name in classes if train_counts[name] == 0 and not multi_label]
        if missing:
            raise TrainingError(f"no training frames for {', '.join(missing)} in phase {phase}; ingest more animations of them")
        for split in ("val", "test"):
            present = Counter(name for row in splits[split] for name in split_labels(row["labels"]))
            lacking = [name for name in classes if present[name] == 0 and (not multi_label or train_counts[name])]
            if lacking:
                use = "the open-set rule is calibrated on what val has" if split == "val" else "their test scores are missing"
                notes.append(f"no {split} frames for {', '.join(lacking)}: {use}; ingest another animation of them")
    else:
        sources = sources_by_class(rows)
        once = sorted(name for name in classes if len(sources.get(name, ())) < 2)
        if once:
            notes.append(f"{', '.join(once)} {'has' if len(once) == 1 else 'have'} a single animation, so cross-validation "
                         "can't test {} on another drawing (the saved model still learns it); ingest another animation"
                         .format("it" if len(once) == 1 else "them"))
    for note in notes:
        log(f"{phase}: note: {note}")

    size = config.IMAGE_SIZES[phase]
    started = time.time()
    if options.backbone == config.DEFAULT_BACKBONE:
        from .pretrained import fit

        outcome = fit(workspace, phase, classes, splits, rows, synthetic_sources, size, multi_label, options, regime, log, progress)
    else:
        outcome = _fit_cnn(workspace, phase, classes, splits, synthetic_sources, size, multi_label, options, log)
    outcome["metrics"]["train_seconds"] = round(time.time() - started, 1)
    others = outcome["metrics"].get("others") or {}
    failures = others.get("failed", [])
    if failures:
        notes.append(f"{len(failures)} file(s) in {others['folder']} could not be read and were left out: "
                     + "; ".join(failures))
    outcome["metrics"]["notes"] = notes
    log(f"{phase}: trained in {outcome['metrics']['train_seconds']:.0f} s")
    outcome["metrics"]["regime"] = regime
    outcome["metrics"]["regime_reason"] = regime_reason
    model_dir = workspace.model_dir(phase)
    report = _save(workspace, phase, classes, size, multi_label, outcome, notes)
    return PhaseResult(phase, model_dir, outcome["metrics"], report, notes, failures)


def _fit_cnn(workspace, phase, classes, splits, synthetic_sources, size, multi_label, options, log):
    import keras
    import tensorflow as tf

    from .baseline import colour_baseline
    from .data import background_bank, evaluation_dataset, load_letterboxed, training_dataset
    from .model import make_model, strategy

    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()  # --seed repeats a run exactly
    items = {split: _items(splits[split], classes, multi_label) for split in config.SPLITS}
    letterboxed = {split: load_letterboxed(workspace.root, items[split], size) for split in config.SPLITS}
    train_set = letterboxed["train"]
    n_train = len(items["train"])
    n_synthetic = 0
    if multi_label:
        from .synth import synthetic_scenes

        n_synthetic = min(MAX_SYNTHETIC, max(MIN_SYNTHETIC, SYNTHETIC_PER_REAL * n_train)) if synthetic_sources else 0
        if n_synthetic:
            scenes, targets = synthetic_scenes(workspace.root, synthetic_sources, classes, size, n_synthetic, options.seed)
            synthetic = tf.data.Dataset.from_tensor_slices((scenes, targets))
            train_set = train_set.concatenate(synthetic) if n_train else synthetic
            n_train += n_synthetic
        if n_train == 0:
            raise TrainingError("no multi training scenes and no transparent single-character frames to compose them from")
    bank = background_bank(size, options.seed)
    batch = max(1, min(options.batch_size, n_train))
    train_ds = training_dataset(train_set, n_train, batch, options.seed, bank, options.flip)
    steps = max(1, max(n_train, options.min_images_per_epoch) // batch)
    val_ds = evaluation_dataset(letterboxed["val"], batch) if len(items["val"]) else None

    if multi_label:
        loss, metrics = "binary_crossentropy", [keras.metrics.BinaryAccuracy(name="accuracy")]
        class_weight = None
    else:
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
        counts = np.bincount(items["train"].targets, minlength=len(classes)).astype(np.float64)
        class_weight = {i: float(len(items["train"]) / (len(classes) * c)) for i, c in enumerate(counts) if c}
    with strategy().scope():
        model = make_model((*size, 3), len(classes), multi_label, options.backbone, options.weights)
        model.compile(optimizer=make_optimizer(), loss=loss, metrics=metrics)
    monitor = "val_loss" if val_ds is not None else "loss"
    callbacks = [
        # First, so the callbacks after it see (and early stopping keeps) the averaged weights.
        keras.callbacks.SwapEMAWeights(swap_on_epoch=True),
        keras.callbacks.EarlyStopping(monitor=monitor, patience=options.patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=max(2, options.patience // 3)),
        _epoch_log(phase, options.epochs, log),
    ]
    log(f"{phase}: training on {n_train} frames ({n_synthetic} synthetic) of {len(classes)} classes, "
        f"input {size[1]}x{size[0]}, up to {options.epochs} epochs of {steps} steps")
    history = model.fit(train_ds, validation_data=val_ds, epochs=options.epochs, steps_per_epoch=steps, shuffle=False,
                        class_weight=class_weight, callbacks=callbacks, verbose=0)

    evaluation = {}
    for split in ("val", "test"):
        if len(items[split]):
            probabilities = model.predict(evaluation_dataset(letterboxed[split], batch), verbose=0)
        else:
            probabilities = np.zeros((0, len(classes)), np.float32)
        evaluation[split] = probabilities
    baseline = colour_baseline(letterboxed, items, len(classes), multi_label)
    from .metrics import multi_label_metrics, single_label_metrics

    if multi_label:
        metrics_out, thresholds = multi_label_metrics(evaluation, items, classes)
    else:
        metrics_out, thresholds = single_label_metrics(evaluation, items, classes), {}
    metrics_out["baseline"] = baseline
    from .gradcam import class_focus

    metrics_out["focus"] = class_focus(model, letterboxed["test"], items["test"], classes)
    metrics_out["epochs_run"] = len(history.history.get("loss", []))
    metrics_out["train_frames"] = len(items["train"])
    metrics_out["synthetic_train_frames"] = n_synthetic
    metrics_out["val_frames"] = len(items["val"])
    metrics_out["test_frames"] = len(items["test"])
    return {"model": model, "history": history.history, "metrics": metrics_out, "thresholds": thresholds,
            "evaluation": evaluation, "items": items, "letterboxed": letterboxed}


def make_optimizer():
    """Adam with weight averaging (see EMA_MOMENTUM); pair it with
    keras.callbacks.SwapEMAWeights(swap_on_epoch=True) in fit."""
    import keras

    return keras.optimizers.Adam(LEARNING_RATE, use_ema=True, ema_momentum=EMA_MOMENTUM)


def _epoch_log(phase: str, epochs: int, log: Callable[[str], None]):
    """A Keras callback that prints one line per epoch (the CLI's progress).
    Built here rather than at module level so importing ocpipe never imports Keras."""
    import keras

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            shown = "  ".join(f"{key} {value:.3f}" for key, value in logs.items()
                              if key in ("loss", "accuracy", "val_loss", "val_accuracy"))
            log(f"{phase}: epoch {epoch + 1}/{epochs}  {shown}")

    return EpochLog()


def _save(workspace: Workspace, phase: str, classes, size, multi_label, outcome, notes) -> Path:
    """Write model, labels, metrics, plots and report to a temporary folder, then
    swap it in for models/<phase>/ (the previous model survives any failure)."""
    from .train_report import write_report

    final = workspace.model_dir(phase)
    with staged_folder(final) as staging:
        outcome["model"].save(staging / "model.keras")
        labels = {"phase": phase, "classes": classes, "image_size": list(size), "multi_label": multi_label,
                  "thresholds": outcome["thresholds"], "whole_frame": multi_label, "input_zoom": PREDICT_ZOOM}
        head = outcome.get("head")
        open_set = outcome["metrics"].get("open_set")
        if head is not None and head.none_kernel is not None and open_set:
            labels["open_set"] = {"threshold": open_set["threshold"], "file": OPEN_SET_FILE, "rule": open_set["rule"]}
            (staging / OPEN_SET_FILE).write_text(json.dumps({
                "feature_layer": "pool", "none_kernel": [round(float(v), 7) for v in head.none_kernel],
                "none_bias": head.none_bias, "threshold": open_set["threshold"]}), encoding="utf-8")
        if (familiar := outcome.get("familiar")) is not None:
            np.save(staging / FAMILIAR_FILE, familiar["references"].astype(np.float16), allow_pickle=False)
            labels["familiarity"] = {"floor": familiar["floor"], "file": FAMILIAR_FILE}
        (staging / "labels.json").write_text(json.dumps(labels, indent=2), encoding="utf-8")
        (staging / "metrics.json").write_text(json.dumps(outcome["metrics"], indent=2), encoding="utf-8")
        (staging / "history.json").write_text(json.dumps({k: [float(v) for v in values] for k, values in outcome["history"].items()}, indent=2), encoding="utf-8")
        write_report(workspace, staging, phase, classes, multi_label, outcome, notes)
    return final / "report.md"
