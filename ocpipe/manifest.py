"""The on-disk tables that connect the stages (see CONTRACT.md).

data/processed/manifest.csv    one row per kept frame
data/processed/duplicates.csv  one row per dropped frame
data/processed/sources.csv     one row per ingested source (its split, its counts)

Each table is rewritten whole through a temporary file and an atomic rename, so
a run killed halfway leaves the previous version intact.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

MANIFEST_COLUMNS = [
    "path", "phase", "labels", "source_id", "source_path", "frame_index",
    "width", "height", "phash", "split",
    "has_alpha", "background", "box_left", "box_top", "box_right", "box_bottom", "hash_version",
]
DUPLICATE_COLUMNS = ["source_id", "frame_index", "duplicate_of", "distance", "phase", "labels", "source_path", "reason"]
SOURCE_COLUMNS = [
    "source_id", "source_path", "phase", "labels", "split", "kind",
    "frames_decoded", "frames_kept", "frames_dropped", "has_alpha",
]

Row = dict[str, str]


def replace_folder(staging: Path, final: Path) -> None:
    """Swap a completely written folder in for `final` (which may not exist yet): the
    old one is moved aside, the new one renamed in, the old one deleted. A crash
    before the swap leaves the previous folder as it was."""
    import shutil

    previous = final.with_name(f".{final.name}-previous")
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        os.replace(final, previous)
    os.replace(staging, final)
    shutil.rmtree(previous, ignore_errors=True)


@contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """A new empty folder beside `final` to write into; once the block ends without
    an error it replaces `final` (replace_folder), otherwise it is deleted and
    `final` stays as it was. The folder gets the permissions of a plain mkdir
    (umask), not mkdtemp's 0700, so a web server or another user can still read
    models/<phase>/ or an exported site."""
    import shutil

    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    try:
        yield staging
        replace_folder(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_table(path: Path) -> list[Row]:
    """Rows of a CSV table as dicts of strings; [] if the file doesn't exist."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_table(path: Path, rows: Iterable[Row], columns: list[str]) -> None:
    """Atomically (re)write a CSV table; unknown keys in rows are kept as extra columns."""
    rows = list(rows)
    extra = sorted({key for row in rows for key in row} - set(columns))
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns + extra, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row.get(key, "") for key in columns + extra})
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def split_labels(labels: str) -> list[str]:
    """'Hydra;Maxus' -> ['Hydra', 'Maxus']."""
    return [name for name in labels.split(";") if name]
