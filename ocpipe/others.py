"""Her own 'none of them' examples: `data/others/<phase>/` in the workspace.

Pictures and animations of characters that are not hers (friends' characters,
fan art, her own characters she isn't training yet) and anything else a phase's
model should answer "none of the trained characters" for. Any folder depth and
any format ingest reads; a folder of numbered frames is one animation. They are
not ingested (no manifest rows, no splits): `ocpipe train` reads a few frames of
each file, cropped and letterboxed the way prediction sees an image, and learns
them as the 'none of them' class (single-label phases) or as scenes with none of
her characters (multi).

Why: the generated negatives (openset.py) teach 'none' for empty canvases,
scenes and doodles, but another character drawn in the same style looks much
more like hers. Real other characters are what teaches that difference, and
only she knows which ones are not hers (README, "None of my characters").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import WORK_MAX_SIDE
from .decode import is_sequence
from .errors import InputError
from .workspace import Failure, Workspace, hidden

# Most files read per phase (spread evenly over the sorted list when there are more).
MAX_FILES = 400
# Frames taken from each animation, spread over its length; fewer when that would
# make more than MAX_FRAMES in all (a phase's frames are held in memory while training).
FRAMES_PER_FILE = 4
MAX_FRAMES = 600


@dataclass
class Others:
    """The frames read from a phase's others folder: letterboxed RGBA (N, H, W, 4)
    uint8, the file each came from (index into `files`), the files read
    (workspace-relative) and the ones that failed."""

    images: np.ndarray
    file_of_frame: np.ndarray
    files: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    skipped_files: int = 0  # over MAX_FILES

    def __len__(self) -> int:
        return len(self.file_of_frame)


def frame_indices(count: int, per_file: int) -> set[int]:
    """Which frames to take of an animation announcing `count` frames (0: unknown, then the first ones)."""
    if count <= 1:
        return set(range(per_file)) if count == 0 else {0}
    return {int(round(i)) for i in np.linspace(0, count - 1, min(per_file, count))}


def _frames(path: Path, per_file: int) -> list[np.ndarray]:
    """Up to `per_file` frames of one file as RGBA uint8, spread over its length,
    shrunk to the working size the way predict's reader shrinks (readers.shrink)."""
    import cv2
    from PIL import Image

    from .decode import iter_frames, probe
    from .readers import shrink

    info = probe(path)
    wanted = frame_indices(info.frame_count, per_file)
    out = []
    for index, frame in enumerate(iter_frames(path, info)):
        if index in wanted:
            rgba = cv2.cvtColor(frame, cv2.COLOR_BGRA2RGBA if frame.shape[2] == 4 else cv2.COLOR_BGR2RGBA)
            out.append(np.asarray(shrink(Image.fromarray(rgba), WORK_MAX_SIDE)))
        if len(out) == len(wanted) or index >= max(wanted):
            break
    return out


def find_sources(workspace: Workspace, phase: str) -> list[Path]:
    """The sources under the phase's others folder, sorted: every file, except that
    a folder of numbered frames is one animation. Hidden files and folders are left out."""

    seen: set[Path] = set()

    def walk(folder: Path) -> list[Path]:
        resolved = folder.resolve()
        if resolved in seen:  # a linked folder (or a link loop) is read once
            return []
        seen.add(resolved)
        children = sorted((child for child in folder.iterdir() if not hidden(child)), key=lambda p: p.name.lower())
        files = [child for child in children if child.is_file()]
        if is_sequence(files):
            return [folder]
        return files + [source for child in children if child.is_dir() for source in walk(child)]

    root = workspace.others(phase)
    return walk(root) if root.is_dir() else []


def read_others(workspace: Workspace, phase: str, size: tuple[int, int], whole_frame: bool = False) -> Others:
    """Every usable frame of the phase's others folder, prepared like a prediction
    input (matted, cropped to its drawing unless `whole_frame`, letterboxed to
    `size`). A file that can't be read is a Failure (the others are still read);
    blank frames are left out."""
    from .data import letterboxed_for_prediction

    files = find_sources(workspace, phase)
    skipped = max(0, len(files) - MAX_FILES)
    if skipped:
        files = [files[int(i)] for i in np.linspace(0, len(files) - 1, MAX_FILES).round()]
    per_file = max(1, min(FRAMES_PER_FILE, MAX_FRAMES // max(len(files), 1)))
    images, file_of_frame, used, failures = [], [], [], []
    for path in files:
        relative = path.relative_to(workspace.root).as_posix()  # not resolved: a linked-in file stays under the folder
        try:
            frames = [letterboxed_for_prediction(rgba, size, whole_frame) for rgba in _frames(path, per_file)]
        except InputError as exc:
            failures.append(Failure(Path(relative), str(exc)))
            continue
        kept = [np.asarray(letterboxed).astype(np.uint8) for letterboxed, _, blank in frames if not blank]
        if not kept:  # a blank canvas: the generated negatives already teach that
            continue
        images += kept
        file_of_frame += [len(used)] * len(kept)
        used.append(relative)
    height, width = size
    stacked = np.stack(images) if images else np.zeros((0, height, width, 4), np.uint8)
    return Others(stacked, np.array(file_of_frame, int), used, failures, skipped)
