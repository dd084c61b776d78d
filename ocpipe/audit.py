"""Leakage audit: near-duplicate frames of the same characters in different splits."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .config import DEFAULT_THRESHOLD
from .dedupe import Looks, close_pairs
from .hashing import hex_to_bits
from .manifest import Row


def find_leaks(manifest: list[Row], threshold: int = DEFAULT_THRESHOLD, looks: Looks | None = None) -> list[dict]:
    """Pairs of kept frames of one phase and label set, in different splits, whose
    hashes are within `threshold` bits, unless their looks differ (the rule ingest
    dedupes by across sources; `looks` reads them from the stored PNGs). Frames
    cut from a static backdrop have no look: their hash is of the drawing alone,
    so the hash decides. (The same drawing at another spot is found within one
    source, whose frames all share a split.) After an ingest there should be none."""
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in manifest:
        groups[(row["phase"], row["labels"])].append(row)
    leaks = []
    for rows in groups.values():
        by_split: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            by_split[row["split"]].append(row)
        names = sorted(by_split)
        bits = {name: np.stack([hex_to_bits(row["phash"]) for row in by_split[name]]) for name in names}
        for position, first in enumerate(names):
            for second in names[position + 1 :]:
                for i, j, distance in close_pairs(bits[first], bits[second], threshold):
                    if looks is not None and looks.differ(looks.get(by_split[first][i]["path"]), by_split[second][j]["path"]):
                        continue
                    leaks.append({
                        "a": by_split[first][i]["path"], "a_split": first,
                        "b": by_split[second][j]["path"], "b_split": second,
                        "distance": distance,
                    })
    return leaks


def audit_workspace(workspace, threshold: int = DEFAULT_THRESHOLD) -> list[dict]:
    """find_leaks over a workspace's manifest."""
    from .errors import WorkspaceError
    from .manifest import read_table

    if not workspace.manifest.exists():
        raise WorkspaceError(f"no manifest at {workspace.manifest}; run `ocpipe ingest` first")
    manifest = read_table(workspace.manifest)
    return find_leaks(manifest, threshold, Looks(workspace.root, manifest))
