"""Leakage audit: near-duplicate frames of the same characters in different splits."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .config import DEFAULT_THRESHOLD
from .dedupe import DRAWING_REACH, Looks, close_pairs
from .hashing import hex_to_bits
from .manifest import Row


def _drawn(row: Row) -> bool:
    """Whether a kept frame is a drawing alone (transparent or over a plain colour),
    the kind whose other exports may lie beyond the threshold (dedupe.DRAWING_REACH)."""
    return row.get("background") in ("transparent", "plain") and row.get("backdrop") != "static"


def find_leaks(manifest: list[Row], threshold: int = DEFAULT_THRESHOLD, looks: Looks | None = None) -> list[dict]:
    """Pairs of kept frames of one phase and label set, in different splits, whose
    hashes are within `threshold` bits, unless their looks differ, or a little
    further for one drawing exported two ways (the rule ingest dedupes by across
    sources, dedupe.Looks.repeats; `looks` reads them from the stored PNGs). Frames
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
                for i, j, distance in close_pairs(bits[first], bits[second], int(threshold * DRAWING_REACH)):
                    a, b = by_split[first][i]["path"], by_split[second][j]["path"]
                    if distance > threshold and (looks is None or not (_drawn(by_split[first][i]) and _drawn(by_split[second][j]))):
                        continue
                    if looks is not None and not looks.repeats(looks.get(a), looks.export(a), b, distance, threshold):
                        continue
                    leaks.append({
                        "a": a, "a_split": first,
                        "b": b, "b_split": second,
                        "distance": distance,
                    })
    return leaks


def audit_workspace(workspace, threshold: int = DEFAULT_THRESHOLD) -> list[dict]:
    """find_leaks over a workspace's manifest."""
    from .errors import WorkspaceError
    from .manifest import read_table

    if not workspace.manifest.exists():
        raise WorkspaceError(f"no manifest at {workspace.manifest}; run `ocpipe ingest` first")
    from .ingest import rehash_old_rows

    manifest = read_table(workspace.manifest)
    rehash_old_rows(manifest, workspace.root)  # in memory: the audit writes nothing
    return find_leaks(manifest, threshold, Looks(workspace.root, manifest))
