"""The trained part of a pretrained-backbone model: one linear layer on the
backbone's pooled features, fit by scikit-learn's logistic regression.

Features are standardised before fitting and the scaling is folded back into the
layer, so the saved Keras model is plain GlobalAveragePooling -> Dense. Single-label
heads also learn a "none of them" column from generated negatives (see
openset.py); the saved model keeps only the characters' columns (a softmax over a
subset of logits is the same as the full softmax renormalised), and the extra
column is stored beside it for the open-set answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Inverse L2 strength of the logistic regression (scikit-learn's C). Measured on
# held-out drawings (README, "Quality"): 0.1 to 1 are within noise of each other.
STRENGTH = 0.3
# Logit bias given to a class that a fold never saw, so it is never predicted.
_ABSENT = -30.0
# Fits on fewer rows than this run their BLAS and OpenMP on one thread: handing
# small products to a pool costs more than it saves (a learning-curve head on 184
# views: 174 -> 24 ms; one on 2600 views is 1.3x faster with both cores).
_ONE_THREAD_ROWS = 1500


def _solver_threads(rows: int):
    """The thread limit for a fit on `rows` rows (threadpoolctl, scikit-learn's own dependency)."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1) if rows < _ONE_THREAD_ROWS else nullcontext()


@dataclass
class LinearHead:
    """logits = features @ kernel + bias, on raw pooled features (N, d)."""

    kernel: np.ndarray  # (d, C)
    bias: np.ndarray  # (C,)
    none_kernel: np.ndarray | None = None  # (d,): the learned 'none of them' column
    none_bias: float = 0.0

    def logits(self, features: np.ndarray) -> np.ndarray:
        return features @ self.kernel + self.bias

    def none_logit(self, features: np.ndarray) -> np.ndarray:
        if self.none_kernel is None:
            raise ValueError("this head has no 'none of them' column")
        return features @ self.none_kernel + self.none_bias

    def open_set_scores(self, features: np.ndarray) -> np.ndarray:
        """openset.score of these features: the top character's probability with
        the 'none of them' class competing."""
        from .openset import score

        return score(self.logits(features), self.none_logit(features))

    def probabilities(self, features: np.ndarray, multi_label: bool = False) -> np.ndarray:
        logits = self.logits(features)
        if multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        return softmax(logits)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _fold(coef: np.ndarray, intercept: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) on raw features for coefficients learned on standardised ones."""
    kernel = (coef / scale).T
    return kernel, intercept - mean @ kernel


def fit_single_label(features: np.ndarray, labels: np.ndarray, num_classes: int,
                     negatives: np.ndarray | None = None, strength: float = STRENGTH, seed: int = 0) -> LinearHead:
    """Multinomial logistic regression over `num_classes` characters, plus a 'none
    of them' class when `negatives` (features of non-character images) are given.
    Classes are weighted by their counts ('balanced'), so a character with few
    frames counts as much as one with many."""
    from sklearn.linear_model import LogisticRegression

    x, y = features, labels.astype(int)
    none = num_classes
    if negatives is not None and len(negatives):
        x = np.concatenate([features, negatives])
        y = np.concatenate([y, np.full(len(negatives), none)])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    present = np.unique(y)
    dims = features.shape[1]
    kernel, bias = np.zeros((dims, num_classes + 1)), np.full(num_classes + 1, _ABSENT)
    if len(present) == 1:  # one class only: it always wins
        bias[present[0]] = 0.0
    else:
        model = LogisticRegression(C=strength, class_weight="balanced", max_iter=2000, random_state=seed)
        with _solver_threads(len(x)):
            model.fit((x - mean) / scale, y)
        coef, intercept = model.coef_, model.intercept_
        if len(present) == 2:  # scikit-learn gives one row for two classes: logit of the second
            coef, intercept = np.stack([-coef[0] / 2, coef[0] / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        folded_kernel, folded_bias = _fold(coef, intercept, mean, scale)
        kernel[:, present], bias[present] = folded_kernel, folded_bias
    head = LinearHead(kernel[:, :num_classes].astype(np.float32), bias[:num_classes].astype(np.float32))
    if negatives is not None and len(negatives):
        head.none_kernel, head.none_bias = kernel[:, none].astype(np.float32), float(bias[none])
    return head


def fit_multi_label(features: np.ndarray, targets: np.ndarray, strength: float = STRENGTH, seed: int = 0) -> LinearHead:
    """One binary logistic regression per character (sigmoid outputs)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    standard = (features - mean) / scale
    dims, classes = features.shape[1], targets.shape[1]
    coef, intercept = np.zeros((classes, dims)), np.full(classes, _ABSENT)
    for index in range(classes):
        truth = targets[:, index] > 0.5
        if truth.all():
            coef[index], intercept[index] = 0.0, -_ABSENT
            continue
        if not truth.any():
            continue
        model = LogisticRegression(C=strength, class_weight="balanced", max_iter=2000, random_state=seed)
        with _solver_threads(len(standard)):
            model.fit(standard, truth)
        coef[index], intercept[index] = model.coef_[0], model.intercept_[0]
    kernel, bias = _fold(coef, intercept, mean, scale)
    return LinearHead(kernel.astype(np.float32), bias.astype(np.float32))
