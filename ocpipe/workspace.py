"""Workspace layout (CONTRACT.md) and finding labelled sources on disk."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .config import PHASES
from .decode import is_sequence, is_supported, sequence_files
from .errors import InputError, LabelError


@dataclass(frozen=True)
class Workspace:
    """Paths inside a workspace folder."""

    root: Path

    @classmethod
    def at(cls, root: Path | str | None) -> "Workspace":
        return cls(Path(root or ".").expanduser().resolve())

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def manifest(self) -> Path:
        return self.processed / "manifest.csv"

    @property
    def duplicates(self) -> Path:
        return self.processed / "duplicates.csv"

    @property
    def sources(self) -> Path:
        return self.processed / "sources.csv"

    @property
    def reports(self) -> Path:
        return self.processed / "reports"

    @property
    def others_root(self) -> Path:
        """Her 'none of them' examples, one folder per phase (others.py; not part of the manifest)."""
        return self.root / "data" / "others"

    def others(self, phase: str) -> Path:
        return self.others_root / phase

    def model_dir(self, phase: str) -> Path:
        return self.root / "models" / phase

    def metrics(self, phase: str) -> dict:
        """A trained phase's metrics.json; {} when it is missing or unreadable (the
        caller then shows less, it doesn't fail)."""
        import json

        try:
            return json.loads((self.model_dir(phase) / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def relative(self, path: Path) -> str:
        """`path` relative to the workspace, with forward slashes (as stored in tables)."""
        return Path(path).resolve().relative_to(self.root).as_posix()

    def absolute(self, relative: str) -> Path:
        return self.root / relative


@dataclass(frozen=True)
class Labels:
    """A phase and the characters present, plus the folder name that holds them."""

    phase: str
    characters: tuple[str, ...]

    @property
    def folder(self) -> str:
        return "+".join(self.characters)

    @property
    def joined(self) -> str:
        """As written in the manifest's `labels` column."""
        return ";".join(self.characters)


_BAD_NAME = re.compile(r"[;/\\\x00-\x1f]")


def parse_labels(phase: str, character: str) -> Labels:
    """Validate a phase and a character folder name ('Maxus', or 'Maxus+Hydra' for multi)."""
    if phase not in PHASES:
        raise LabelError(f"unknown phase '{phase}' (choose one of {', '.join(PHASES)})")
    names = [name.strip() for name in character.split("+")]
    if not character.strip() or any(not name for name in names):
        raise LabelError(f"empty character name in '{character}'")
    for name in names:
        if _BAD_NAME.search(name) or name.startswith("."):
            raise LabelError(f"character name '{name}' may not start with '.' or contain ';', '/' or '\\'")
    if len(names) > 1 and phase != "multi":
        raise LabelError(f"'{character}' names several characters; only the multi phase takes A+B folders")
    unique = tuple(sorted(set(names), key=str.lower))
    return Labels(phase, unique)


def labels_from_path(path: Path) -> Labels | None:
    """Labels of a source at .../<phase>/<Character>/<source>, else None."""
    parts = path.resolve().parts
    if len(parts) >= 3 and parts[-3] in PHASES:
        return parse_labels(parts[-3], parts[-2])
    return None


@dataclass(frozen=True)
class Candidate:
    """A source found on disk with the labels it will get."""

    path: Path
    labels: Labels


@dataclass(frozen=True)
class Failure:
    """An input that could not be read, and why (one line)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name in ("Thumbs.db", "desktop.ini")


def discover(path: Path, phase: str | None, character: str | None,
             skip: tuple[Path, ...] = (), tree: Path | None = None) -> tuple[list[Candidate], list[Failure]]:
    """Find the sources under one PATH argument and label them (CONTRACT.md: ingest).
    Folders in `skip` are not walked into. Inside `tree` (the workspace's data/raw)
    a folder's location is its label even when --phase/--character are given;
    elsewhere given labels make a folder hers to label, whatever its path looks like."""
    path = Path(path)
    skipped = {folder.resolve() for folder in skip}
    if not path.exists():
        return [], [Failure(path, "no such file or folder")]
    given = None
    try:
        if phase or character:
            if not (phase and character):
                raise LabelError("--phase and --character go together")
            given = parse_labels(phase, character)
    except LabelError as exc:
        return [], [Failure(path, str(exc))]
    found: list[Candidate] = []
    failures: list[Failure] = []

    def add(source: Path) -> None:
        try:
            labels = labels_from_path(source)
            if labels and given and labels != given:
                raise LabelError(
                    f"the folders say {labels.phase}/{labels.folder} but the options say {given.phase}/{given.folder}"
                )
            labels = labels or given
            if labels is None:
                raise LabelError("not inside a <phase>/<Character>/ folder; pass --phase and --character")
            if source.is_file() and not is_supported(source):
                raise InputError(f"unsupported file type '{source.suffix or source.name}'")
            found.append(Candidate(source, labels))
        except (LabelError, InputError) as exc:
            failures.append(Failure(source, str(exc)))

    seen: set[Path] = set()

    def walk(folder: Path, depth: int) -> None:
        resolved = folder.resolve()
        if resolved in skipped or resolved in seen:  # a linked folder (or a link loop) is read once
            return
        seen.add(resolved)
        if resolved.parent.parent.name in PHASES and resolved.parent.name and depth > 0:
            add(folder)  # a sequence folder at the source level
            return
        if resolved.name in PHASES or resolved.parent.name in PHASES:
            for child in sorted(folder.iterdir()):
                if hidden(child):
                    continue
                if child.is_dir():
                    walk(child, depth + 1)
                else:
                    if resolved.name in PHASES:
                        failures.append(Failure(child, "a file directly in a phase folder; put it in a <Character>/ folder"))
                    else:
                        add(child)
            return
        in_tree = tree is not None and is_inside(folder, tree)
        if (given is None or in_tree) and labels_from_path(folder) is not None:
            add(folder)
            return
        children = [child for child in sorted(folder.iterdir()) if not hidden(child)]
        phase_dirs = [child for child in children if child.is_dir() and child.name in PHASES]
        nested = [child for child in children if child.is_dir() and child.name not in PHASES]
        if phase_dirs or (given is None and nested):
            for child in phase_dirs + nested:
                walk(child, depth + 1)
            return
        if given is None:
            failures.append(Failure(folder, "no <phase>/<Character>/ folders inside; pass --phase and --character"))
            return
        if not children:
            failures.append(Failure(folder, "the folder is empty"))
            return
        frames = sequence_files(folder)
        if is_sequence(frames):
            add(folder)  # an export's numbered frames are one animation; other files are drawings each
            children = [child for child in children if child not in frames]
        for child in children:
            # A sub-folder is read by the same rule; a stray file beside an export's
            # frames (a log) fails on its own, not splitting them.
            walk(child, depth + 1) if child.is_dir() else add(child)

    if path.is_dir():
        walk(path, 0)
    else:
        add(path)
    return found, failures


def content_id(path: Path) -> str:
    """A 16-hex-digit id from a source's bytes (a sequence folder: its frames' names and bytes)."""
    digest = hashlib.sha1()
    files = sequence_files(path) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def copy_into_raw(workspace: Workspace, source: Path, labels: Labels, source_id: str) -> Path:
    """Copy an original from outside the workspace into data/raw/<phase>/<Character>/.

    Reuses a copy with the same content; never overwrites a different file."""
    folder = workspace.raw / labels.phase / labels.folder
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = (source.name, "") if source.is_dir() else (source.stem, source.suffix)
    for attempt in range(1, 1000):
        name = f"{stem}{suffix}" if attempt == 1 else f"{stem}-{attempt}{suffix}"
        target = folder / name
        if not target.exists():
            temp = folder / f".{name}.partial"
            if temp.exists():
                shutil.rmtree(temp) if temp.is_dir() else temp.unlink()
            if source.is_dir():
                shutil.copytree(source, temp)
            else:
                shutil.copy2(source, temp)
            temp.rename(target)
            return target
        if content_id(target) == source_id:
            return target
    raise InputError(f"too many files named {stem}* in {folder}")
