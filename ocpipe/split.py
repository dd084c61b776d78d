"""Assign sources (whole animations) to train/val/test.

A source never changes split once assigned, so adding animations later never
moves an old one. New sources of a group (phase + labels) are taken in an order
fixed by the seed and each goes where the group is furthest below its target
share; the first three go to train, test and val so every group with three or
more sources has one in each split.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping

from .config import SPLIT_FILL_ORDER, SPLIT_RATIOS, SPLITS


def sources_by_class(rows: Iterable[Mapping[str, str]]) -> dict[str, set[str]]:
    """The source ids of each label set (a manifest row's `labels`), from frame rows."""
    sources: dict[str, set[str]] = {}
    for row in rows:
        sources.setdefault(row["labels"], set()).add(row["source_id"])
    return sources


def seeded_order(source_ids: Iterable[str], seed: int) -> list[str]:
    """Source ids in a pseudo-random order that depends only on the ids and seed."""
    return sorted(source_ids, key=lambda sid: hashlib.sha256(f"{seed}:{sid}".encode()).hexdigest())


def assign_splits(
    existing: Mapping[str, str],
    new_ids: Iterable[str],
    seed: int,
    ratios: Mapping[str, float] = SPLIT_RATIOS,
) -> dict[str, str]:
    """Splits for `new_ids` of one group, given the group's `existing` {source_id: split}.

    Pure and deterministic: the same inputs give the same answer."""
    counts = Counter({split: 0 for split in SPLITS})
    counts.update(existing.values())
    assigned: dict[str, str] = {}
    for source_id in seeded_order(set(new_ids) - set(existing), seed):
        empty = [split for split in SPLIT_FILL_ORDER if counts[split] == 0]
        if empty:
            split = empty[0]
        else:
            total = sum(counts.values()) + 1
            split = max(SPLITS, key=lambda s: (ratios[s] * total - counts[s], -SPLITS.index(s)))
        assigned[source_id] = split
        counts[split] += 1
    return assigned


def source_folds(by_class: Mapping[str, Iterable[str]], folds: int, seed: int) -> dict[str, int]:
    """Cross-validation folds for whole sources: {source_id: fold in 0..folds-1}.

    Every source is in exactly one fold, so its frames are never on both sides
    of a fold. Each class's sources are dealt round-robin in seeded order, and
    each class starts where the previous one stopped, so folds get a share of
    every character and similar sizes. Pure and deterministic."""
    if folds < 1:
        raise ValueError("folds must be at least 1")
    assigned: dict[str, int] = {}
    start = 0
    for name in sorted(by_class):
        for position, source_id in enumerate(seeded_order(set(by_class[name]) - set(assigned), seed)):
            assigned[source_id] = (start + position) % folds
        start = len(assigned) % folds
    return assigned
