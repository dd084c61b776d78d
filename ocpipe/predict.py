"""Load a phase's trained model and name the characters in images."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import PHASES, WORK_MAX_SIDE
from .data import prepare
from .errors import ModelError
from .workspace import Workspace


@dataclass
class Predictor:
    """A loaded model plus its labels.json."""

    phase: str
    model: object
    classes: list[str]
    image_size: tuple[int, int]
    multi_label: bool
    thresholds: dict[str, float]
    whole_frame: bool

    @classmethod
    def load(cls, workspace: Workspace, phase: str) -> "Predictor":
        if phase not in PHASES:
            raise ModelError(f"unknown phase '{phase}' (choose one of {', '.join(PHASES)})")
        folder = workspace.model_dir(phase)
        labels_path, model_path = folder / "labels.json", folder / "model.keras"
        if not model_path.exists() or not labels_path.exists():
            raise ModelError(f"no trained model for phase {phase} in {folder}; run `ocpipe train --phase {phase}` first")
        try:
            labels = json.loads(labels_path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"{labels_path} is unreadable ({exc}); retrain with `ocpipe train --phase {phase}`") from exc
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
        return cls(phase, model, classes, tuple(labels["image_size"]), bool(labels["multi_label"]),
                   {k: float(v) for k, v in labels.get("thresholds", {}).items()}, bool(labels.get("whole_frame", labels["multi_label"])))

    def prepare(self, rgba: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """Model input (H, W, 3 float) for an RGBA image, and the crop box used."""
        return prepare(rgba, self.image_size, self.whole_frame)

    def scores(self, inputs: np.ndarray) -> np.ndarray:
        """Probabilities for a batch of prepared inputs: (N, classes)."""
        return np.asarray(self.model(inputs, training=False))

    def describe(self, probabilities: np.ndarray) -> dict:
        """The JSON shape of CONTRACT.md for one image's probabilities."""
        scores = {name: float(p) for name, p in zip(self.classes, probabilities)}
        result = {"top": self.classes[int(np.argmax(probabilities))], "scores": scores}
        if self.multi_label:
            result["labels"] = [name for name in self.classes if scores[name] >= self.thresholds.get(name, 0.5)]
        return result

    def predict_rgba(self, rgba: np.ndarray) -> dict:
        inputs, _ = self.prepare(rgba)
        return self.describe(self.scores(inputs[None])[0])

    def predict_path(self, path: Path) -> dict:
        """Predict one image file, read within the pixel budget and shrunk to the
        working size first (readers.py). An animated file is judged by its first
        frame, and the result says so under "note". Raises InputError."""
        from .readers import read_picture

        picture = read_picture(Path(path), WORK_MAX_SIDE)
        result = self.predict_rgba(picture.rgba)
        return {**result, "note": picture.note} if picture.note else result
