"""Scores from predicted probabilities (NumPy only)."""

from __future__ import annotations

import numpy as np


def _prf(true_positive: float, false_positive: float, false_negative: float) -> tuple[float, float, float]:
    precision = true_positive / (true_positive + false_positive) if true_positive + false_positive else 0.0
    recall = true_positive / (true_positive + false_negative) if true_positive + false_negative else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class; columns: predicted class."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def single_label_metrics(evaluation: dict, items: dict, classes: list[str]) -> dict:
    """test/val accuracy, per-class precision/recall/f1/support and the confusion matrix (test)."""
    out: dict = {}
    for split in ("val", "test"):
        probabilities = evaluation[split]
        out[f"{split}_accuracy"] = float(np.mean(probabilities.argmax(axis=1) == items[split].targets)) if len(probabilities) else None
    true, predicted = items["test"].targets, evaluation["test"].argmax(axis=1) if len(evaluation["test"]) else np.zeros(0, int)
    matrix = confusion_matrix(true, predicted, len(classes))
    out["confusion"] = matrix.tolist()
    out["per_class"] = {}
    for index, name in enumerate(classes):
        tp = matrix[index, index]
        precision, recall, f1 = _prf(tp, matrix[:, index].sum() - tp, matrix[index, :].sum() - tp)
        out["per_class"][name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(matrix[index].sum())}
    return out


def tune_thresholds(probabilities: np.ndarray, targets: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Per class, the threshold in 0.05..0.95 with the best F1 on these (validation) frames; 0.5 without positives."""
    thresholds = {}
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    for index, name in enumerate(classes):
        column, truth = probabilities[:, index] if len(probabilities) else np.zeros(0), targets[:, index] if len(targets) else np.zeros(0)
        if truth.sum() == 0:
            thresholds[name] = 0.5
            continue
        scores = [_prf(*_counts(column >= t, truth > 0.5))[2] for t in grid]
        thresholds[name] = float(grid[int(np.argmax(scores))])
    return thresholds


def _counts(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    return float(np.sum(predicted & truth)), float(np.sum(predicted & ~truth)), float(np.sum(~predicted & truth))


def multi_label_metrics(evaluation: dict, items: dict, classes: list[str]) -> tuple[dict, dict[str, float]]:
    """Thresholds tuned on val; micro/macro F1, exact match and per-class scores on test."""
    thresholds = tune_thresholds(evaluation["val"], items["val"].targets, classes)
    out: dict = {"thresholds": thresholds}
    for split in ("val", "test"):
        probabilities, targets = evaluation[split], items[split].targets
        if not len(probabilities):
            out.update({f"{split}_micro_f1": None, f"{split}_macro_f1": None, f"{split}_exact_match": None})
            continue
        predicted = probabilities >= np.array([thresholds[name] for name in classes])
        truth = targets > 0.5
        per_class = {}
        for index, name in enumerate(classes):
            precision, recall, f1 = _prf(*_counts(predicted[:, index], truth[:, index]))
            per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(truth[:, index].sum())}
        supported = [name for name in classes if per_class[name]["support"]]
        out[f"{split}_micro_f1"] = _prf(*_counts(predicted.ravel(), truth.ravel()))[2]
        out[f"{split}_macro_f1"] = float(np.mean([per_class[name]["f1"] for name in supported])) if supported else None
        out[f"{split}_exact_match"] = float(np.mean(np.all(predicted == truth, axis=1)))
        if split == "test":
            out["per_class"] = per_class
    out.setdefault("per_class", {})
    return out, thresholds
