"""Load a phase's trained model and name the characters in images."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import PHASES, WORK_MAX_SIDE
from .data import Prepared, prepare
from .errors import ModelError
from .openset import familiarity
from .workspace import Workspace

# The layer whose output the open-set column and the familiarity floor read.
FEATURES = "pool"


@dataclass
class Predictor:
    """A loaded model plus its labels.json (and its open-set rule, when it has one)."""

    phase: str
    model: object
    classes: list[str]
    image_size: tuple[int, int]
    multi_label: bool
    thresholds: dict[str, float]
    whole_frame: bool
    # The learned 'none of them' column and its threshold (openset.py); None for models without one.
    open_set: dict | None = None
    # How far the drawing is shrunk inside the letterbox (data.PREDICT_ZOOM; 1.0 for models trained before it).
    zoom: float = 1.0
    # The familiarity floor (openset.py) and her training frames' unit features; None for models before it.
    floor: float | None = None
    references: np.ndarray | None = None

    @classmethod
    def load(cls, workspace: Workspace, phase: str) -> "Predictor":
        if phase not in PHASES:
            raise ModelError(f"unknown phase '{phase}' (choose one of {', '.join(PHASES)})")
        folder = workspace.model_dir(phase)
        labels_path, model_path = folder / "labels.json", folder / "model.keras"
        if not model_path.exists() or not labels_path.exists():
            raise ModelError(f"no trained model for phase {phase} in {folder}; run `ocpipe train --phase {phase}` first")
        try:
            labels = json.loads(labels_path.read_text(encoding="utf-8"))
            open_set = json.loads((folder / labels["open_set"]["file"]).read_text(encoding="utf-8")) if labels.get("open_set") else None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{folder} holds unreadable labels or open-set files ({exc}); retrain with `ocpipe train --phase {phase}`") from exc
        if labels.get("phase") != phase:
            raise ModelError(f"{folder} holds a model trained for phase '{labels.get('phase')}', not '{phase}'; "
                             f"retrain with `ocpipe train --phase {phase}`")
        import keras

        try:
            model = keras.saving.load_model(model_path)
        except Exception as exc:  # corrupt zip, wrong format...
            raise ModelError(f"can't load {model_path} ({exc}); retrain with `ocpipe train --phase {phase}`") from exc
        classes = list(labels["classes"])
        if model.output_shape[-1] != len(classes):
            raise ModelError(f"{model_path} has {model.output_shape[-1]} outputs but labels.json lists {len(classes)} classes")
        if open_set is not None:
            from .head import LinearHead

            open_set = {"threshold": float(labels["open_set"]["threshold"]), "feature_layer": open_set.get("feature_layer", "pool"),
                        # The saved Dense layer and the 'none' column as one head, built once.
                        "head": LinearHead(*model.get_layer("scores").get_weights(),
                                           np.asarray(open_set["none_kernel"], np.float32), float(open_set["none_bias"]))}
        floor, references = _familiar(folder, labels.get("familiarity"), model, phase)
        return cls(phase, model, classes, tuple(labels["image_size"]), bool(labels["multi_label"]),
                   {k: float(v) for k, v in labels.get("thresholds", {}).items()},
                   bool(labels.get("whole_frame", labels["multi_label"])), open_set, float(labels.get("input_zoom", 1.0)),
                   floor, references)

    def prepare(self, rgba: np.ndarray) -> Prepared:
        """Model input for an RGBA image, the crop box used, and whether it is blank."""
        return prepare(rgba, self.image_size, self.whole_frame, self.zoom)

    def _compiled(self):
        """The model (with its pooled features as a second output when there is an
        open-set rule), compiled once: an eager call of a 90-layer model costs ~120 ms
        of Python per image, the compiled one ~15 ms."""
        if getattr(self, "_call", None) is None:
            import keras
            import tensorflow as tf

            outputs = self.model.output
            if self._reads_features:
                outputs = [outputs, self.model.get_layer(FEATURES).output]
            model = keras.Model(self.model.input, outputs)
            self._call = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
        return self._call

    def scores(self, inputs: np.ndarray) -> np.ndarray:
        """Probabilities for a batch of prepared inputs: (N, classes)."""
        return self.run(inputs)[0]

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(probabilities (N, classes), open-set scores (N,) or None, familiarity (N,)
        or None) for prepared inputs."""
        inputs = np.asarray(inputs, np.float32)
        if not self._reads_features:
            return np.asarray(self._compiled()(inputs)), None, None
        probabilities, features = (np.asarray(t) for t in self._compiled()(inputs))
        return (probabilities, None if self.open_set is None else self.open_set["head"].open_set_scores(features),
                None if self.references is None else familiarity(features, self.references))

    @property
    def _reads_features(self) -> bool:
        """Whether prediction needs the pooled features: an open-set column or a familiarity floor."""
        return self.open_set is not None or self.references is not None

    def describe(self, probabilities: np.ndarray, open_score: float | None = None, blank: bool = False,
                 familiar: float | None = None) -> dict:
        """The JSON shape of CONTRACT.md for one image's probabilities: top, scores,
        `labels` (multi-label), and `recognised`: False for a blank image, when the
        open-set score is under its calibrated threshold, or when the image is less
        like her training frames than the familiarity floor (openset.py)."""
        scores = {name: float(p) for name, p in zip(self.classes, probabilities)}
        result = {"top": self.classes[int(np.argmax(probabilities))], "scores": scores}
        unfamiliar = familiar is not None and self.floor is not None and familiar < self.floor
        if self.multi_label:
            result["labels"] = [] if blank or unfamiliar else [name for name in self.classes if scores[name] >= self.thresholds.get(name, 0.5)]
            result["recognised"] = bool(result["labels"])
        else:
            recognised = not blank and (open_score is None or self.open_set is None or open_score >= self.open_set["threshold"])
            result["recognised"] = bool(recognised and not unfamiliar)
            if open_score is not None:
                result["open_set_score"] = float(open_score)
        if familiar is not None:
            result["familiarity"] = float(familiar)
        if unfamiliar and not blank:
            result["unfamiliar"] = True
        if blank:
            result["blank"] = True
        return result

    def predict_prepared(self, prepared: Prepared) -> dict:
        probabilities, open_scores, familiar = self.run(prepared.inputs[None])
        return self.describe(probabilities[0], None if open_scores is None else float(open_scores[0]), prepared.blank,
                             None if familiar is None else float(familiar[0]))

    def predict_rgba(self, rgba: np.ndarray) -> dict:
        return self.predict_prepared(self.prepare(rgba))

    def predict_path(self, path: Path) -> dict:
        """Predict one image file, read within the pixel budget and shrunk to the
        working size first (readers.py). An animated file is judged by its first
        frame, and the result says so under "note". Raises InputError."""
        from .readers import read_picture

        picture = read_picture(Path(path), WORK_MAX_SIDE)
        result = self.predict_rgba(picture.rgba)
        return {**result, "note": picture.note} if picture.note else result


def _familiar(folder: Path, entry: dict | None, model, phase: str) -> tuple[float | None, np.ndarray | None]:
    """(floor, her training frames' unit features (M, d) float32) from labels.json's
    "familiarity" entry and its .npy file; (None, None) when the model has none."""
    if not entry:
        return None, None
    try:
        path, floor = folder / entry["file"], float(entry["floor"])
        dims = int(model.get_layer(FEATURES).output.shape[-1])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{folder / 'labels.json'} has an unreadable familiarity entry, or the model has no '{FEATURES}' "
                         f"layer ({exc}); retrain with `ocpipe train --phase {phase}`") from exc
    try:
        references = np.load(path, allow_pickle=False).astype(np.float32)
    except (OSError, ValueError) as exc:
        raise ModelError(f"can't read {path} ({exc}); retrain with `ocpipe train --phase {phase}`") from exc
    if references.ndim != 2 or references.shape[1] != dims or not len(references):
        raise ModelError(f"{path} holds features of shape {references.shape}, not (frames, {dims}); "
                         f"retrain with `ocpipe train --phase {phase}`")
    return floor, references


def pictures_in(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The pictures to predict: files as given, and for a folder the PNG, JPG, GIF
    and WebP files inside it at any depth (hidden ones and links to folders left
    out), in natural order. Also (folder, reason) for folders that hold none."""
    import os

    from .config import IMAGE_EXTENSIONS
    from .decode import natural_key

    found: list[Path] = []
    empty: list[tuple[Path, str]] = []
    for path in map(Path, paths):
        if not path.is_dir():
            found.append(path)
            continue
        inside = []
        for folder, folders, files in os.walk(path):
            folders[:] = [name for name in folders if not name.startswith(".")]
            inside += [Path(folder) / name for name in files
                       if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS]
        if not inside:
            empty.append((path, "no pictures in this folder (PNG, JPG, GIF, WebP)"))
        found += sorted(inside, key=lambda file: [natural_key(part) for part in file.relative_to(path).parts])
    return found, empty


def summary(result: dict, top: int = 3) -> str:
    """One line of plain words for a prediction (ocpipe predict, the app)."""
    ranked = sorted(result["scores"].items(), key=lambda item: -item[1])
    if "labels" in result:
        listed = ", ".join(f"{name} {score:.1%}" for name, score in ranked[:top])
        found = ", ".join(result["labels"]) if result["labels"] else "no character over its threshold"
        return f"{found}  ({listed})"
    name, score = ranked[0]
    if result.get("recognised", True):
        return ", ".join(f"{n} {s:.1%}" for n, s in ranked[:top])
    why = "nothing drawn" if result.get("blank") else f"closest: {name} {score:.0%}"
    return f"none of the trained characters ({why})"
