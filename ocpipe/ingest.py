"""`ocpipe ingest`: sources -> deduplicated PNG frames, manifest rows and splits.

Pipeline for each source: estimate a static backdrop (opaque animations over a
detailed scene; see backdrop.py) -> decode (stream) -> hash the drawn content ->
drop near-duplicates of frames already kept for the same phase and characters,
and repeats of a drawing at another spot over the backdrop -> write kept frames
(PNG, in a small thread pool) -> cap the source's frames (spread evenly) ->
assign the source a split -> commit tables. Tables are committed after every
source, so a killed run loses at most the source in flight and a re-run completes it.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backdrop import STATUS_STATIC, STATUS_TEXT, estimate_backdrop, same_frame
from .config import (
    DEFAULT_MAX_FRAMES_PER_SOURCE,
    DEFAULT_MAX_SIDE,
    DEFAULT_SEED,
    DEFAULT_THRESHOLD,
    HASH_BITS,
    HASH_VERSION,
    PNG_COMPRESSION,
    SPLITS,
)
from .decode import iter_frames, probe
from .dedupe import Drawings, HashIndex, Looks, reach, spread_evenly
from .errors import InputError, OcpipeError
from .hashing import FrameHash, export_kind, hamming, hash_frame, hex_to_bits, phash_bits
from .manifest import (
    DUPLICATE_COLUMNS,
    MANIFEST_COLUMNS,
    SOURCE_COLUMNS,
    Row,
    read_table,
    write_table,
)
from .progress import Progress
from .split import assign_splits
from .workspace import Candidate, Failure, Workspace, content_id, copy_into_raw, discover, is_inside

log = logging.getLogger(__name__)

# Kept frames waiting to be PNG-encoded at once; bounds memory on long videos.
_MAX_PENDING_WRITES = 8
# Nearest hash matches whose looks are compared, at most (see _duplicate_of).
_LOOK_CANDIDATES = 16
# A frame is held (the previous drawing again, drawn on twos) when at most
# _HELD_PIXELS channel values differ from the previous frame's by more than
# _HELD_LEVELS (over a static backdrop: backdrop.same_frame on the work copies).
# A held frame skips hashing (~7 ms at 1080p for ~1.5), and a mouth that changes
# by a few dozen pixels is never taken for one; a held frame's codec noise stays
# under 40 levels but for a handful of values.
_HELD_LEVELS = 40
_HELD_PIXELS = 12
# Rows compared: one in (frame height // _HELD_ROWS), at least every other one,
# so a 1080p frame compares every 4th row, a 720p one every other.
# Reading two cold full-size frames costs more than hashing one drawing;
# a changed eye or mouth still spans a dozen rows of a 1080p frame.
_HELD_ROWS = 270
# Frames decoded ahead in a background thread while the current one is hashed.
_READ_AHEAD = 4


@dataclass
class Dataset:
    """The three tables of a workspace, loaded in memory."""

    workspace: Workspace
    manifest: list[Row]
    duplicates: list[Row]
    sources: list[Row]

    @classmethod
    def load(cls, workspace: Workspace) -> "Dataset":
        sources = read_table(workspace.sources)
        complete = {row["source_id"] for row in sources}
        # Rows of a source missing from sources.csv come from a run killed mid-commit.
        manifest = [row for row in read_table(workspace.manifest) if row["source_id"] in complete]
        duplicates = [row for row in read_table(workspace.duplicates) if row["source_id"] in complete]
        return cls(workspace, manifest, duplicates, sources)

    def save(self) -> None:
        # Order matters: sources.csv last marks the source complete.
        write_table(self.workspace.manifest, self.manifest, MANIFEST_COLUMNS)
        write_table(self.workspace.duplicates, self.duplicates, DUPLICATE_COLUMNS)
        write_table(self.workspace.sources, self.sources, SOURCE_COLUMNS)


@dataclass
class IngestResult:
    """What one ingest run did."""

    added: list[Row] = field(default_factory=list)  # sources.csv rows of newly ingested sources
    already: list[str] = field(default_factory=list)  # source paths that were ingested before
    failures: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # per new source: backdrop found or not, frames capped
    summary: list[dict] = field(default_factory=list)  # per phase/labels/split counts
    leaks: list[dict] = field(default_factory=list)  # audit: cross-split near-duplicates

    @property
    def ok(self) -> bool:
        return not self.failures


# A folder of this many numbered frames or fewer may be separate drawings numbered
# by hand rather than an export: ingest says how it read it.
FEW_FRAMES = 12


def _group_key(phase: str, labels: str) -> tuple[str, str]:
    return phase, labels


def rehash_old_rows(manifest: list[Row], root: Path, progress: Progress | None = None) -> int:
    """Bring kept frames hashed by an older ocpipe up to HASH_VERSION in place, so
    new frames are compared with them the same way. Version 2 cuts plain
    backgrounds away, trims the box, and finds plain backgrounds that a drawing
    touching the frame's edges hides (once called detailed): so transparent,
    plain and detailed rows are re-hashed from their stored PNGs (a detailed one
    changes only if it is plain now); frames cut from a static backdrop only get
    the version. Returns how many rows it brought up to date (0: nothing to save);
    an unreadable PNG keeps its hash as it was."""
    from .data import read_bgra

    old = [row for row in manifest if row.get("hash_version") != str(HASH_VERSION)]
    stale = {id(row) for row in old if row.get("backdrop") != "static"}
    if stale and progress is not None:
        progress.start(f"re-hashing {len(stale)} frames kept by an older ocpipe", len(stale))
    try:
        for row in old:
            if id(row) in stale:
                if progress is not None:
                    progress.advance()
                try:
                    frame = read_bgra(root / row["path"])
                except OcpipeError:
                    continue
                forced = row["background"] if row["background"] == "plain" else None
                digest = hash_frame(frame, background=forced, with_look=False)
                if row["background"] != "detailed" or digest.background == "plain":
                    row["phash"], row["background"] = digest.hex, digest.background
            row["hash_version"] = str(HASH_VERSION)
    finally:
        if stale and progress is not None:
            progress.finish()
    return len(old)


def _build_indexes(dataset: Dataset) -> dict[tuple[str, str], HashIndex]:
    indexes: dict[tuple[str, str], HashIndex] = defaultdict(lambda: HashIndex(HASH_BITS // 8))
    for row in dataset.manifest:
        indexes[_group_key(row["phase"], row["labels"])].add(hex_to_bits(row["phash"]), row["path"])
    return indexes


def _safe_stem(path: Path) -> str:
    stem = path.name if path.is_dir() else path.stem
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)
    return cleaned.strip("_")[:40] or "source"


def _stored_size(frame: np.ndarray, max_side: int) -> tuple[int, int]:
    """(width, height) a frame is stored at: longest side at most max_side (0: as is)."""
    height, width = frame.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return width, height
    scale = max_side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _write_png(path: Path, frame: np.ndarray, size: tuple[int, int]) -> None:
    """Shrink and PNG-encode one kept frame; runs in the writer pool,
    where both costs overlap decoding and hashing."""
    import cv2

    if size != (frame.shape[1], frame.shape[0]):
        # Under 2x, bilinear already reads every source pixel, at an eighth of the area filter's cost.
        gentle = size[0] * 2 >= frame.shape[1]
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR if gentle else cv2.INTER_AREA)
    # No PNG row filter: ~2x faster than libpng's adaptive choice, files ~25% larger.
    ok, buffer = cv2.imencode(".png", frame, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION,
                                              cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE])
    if not ok:
        raise InputError(f"could not encode frame {path.name}")
    path.write_bytes(buffer.tobytes())


def _duplicate_of(digest: FrameHash, export: str, index: HashIndex, threshold: int, looks: Looks) -> tuple[str | None, int]:
    """The kept frame this one repeats and their distance, or (None, -1): the
    nearest kept frame within `threshold` bits whose look doesn't differ (over a
    detailed background the hash sees the whole canvas, where a small character's
    new pose moves few bits; see dedupe.Looks), or a little further when the two
    were exported differently (`export`: hashing.export_kind) and their looks
    show the same drawing (dedupe.DRAWING_REACH)."""
    candidates = index.within(digest.bits, reach(threshold, digest.look))
    if digest.look is not None:
        # Over a busy scene many frames are within the threshold; a held copy or
        # re-encode is among the nearest, so comparing looks stays bounded.
        candidates = candidates[:_LOOK_CANDIDATES]
    for key, distance in candidates:
        if looks.repeats(digest.look, export, key, distance, threshold):
            return key, distance
    return None, -1


def _ingest_source(
    dataset: Dataset,
    candidate: Candidate,
    source_path: Path,
    source_id: str,
    split: str,
    index: HashIndex,
    threshold: int,
    max_side: int,
    max_frames: int,
    pool: ThreadPoolExecutor,
    progress: Progress,
    looks: Looks,
) -> tuple[list[Row], list[Row], Row]:
    """Decode, hash, dedupe and write one source. On any error the frames it wrote
    and its additions to the index are rolled back before the error propagates."""
    workspace = dataset.workspace
    labels = candidate.labels
    info = probe(source_path)
    status, backdrop = estimate_backdrop(source_path, info)
    out_dir = workspace.processed / labels.phase / labels.folder / f"{_safe_stem(source_path)}-{source_id[:8]}"
    relative_source = workspace.relative(source_path)
    kept: list[Row] = []
    dropped: list[Row] = []
    dropped_bits: dict[int, np.ndarray] = {}  # hashes of dropped frames, should the cap re-point them
    pending: list[Future] = []
    index_size = len(index)
    drawings = Drawings()  # this source's kept drawings over its backdrop
    decoded = 0
    progress.start(f"{labels.phase}/{labels.folder}/{source_path.name}", info.frame_count or None)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Over a static backdrop the source is detailed throughout; else its first drawn frame decides.
        source_background = "detailed" if backdrop is not None else None
        held = None  # (work copy, row, hash, frame) of the previous frame
        for frame_index, frame in enumerate(iter_frames(source_path, info, read_ahead=_READ_AHEAD)):
            decoded += 1
            progress.advance()
            base = {"source_id": source_id, "frame_index": str(frame_index), "phase": labels.phase,
                    "labels": labels.joined, "source_path": relative_source}
            cutout = None
            on_backdrop = backdrop is not None and frame.shape[:2] == backdrop.image.shape[:2]
            work = backdrop.work_of(frame) if on_backdrop else None
            if held is not None and _shows_again(frame, work, held[3], held[0]):
                dropped.append(_held_copy(base, held[1]))  # drawn on twos (or threes...): nothing to hash
                dropped_bits[frame_index] = held[2]
                continue
            if on_backdrop:
                cutout = backdrop.separate(frame, work)  # None: this frame doesn't fit the backdrop
            if cutout is not None:
                digest = FrameHash(bits=np.zeros(HASH_BITS // 8, np.uint8) if cutout.blank else phash_bits(cutout.hash_input),
                                   box=cutout.box, blank=cutout.blank, background="detailed")
            else:
                digest = hash_frame(frame, background=source_background)
            if source_background is None and not digest.blank and digest.background != "transparent":
                source_background = digest.background  # one kind of opaque background per source
            if digest.blank:
                dropped.append({**base, "duplicate_of": "", "distance": "", "reason": "blank"})
                held = (work, dropped[-1], digest.bits, frame)
                continue
            export = export_kind(frame, digest.background)
            match, distance = _duplicate_of(digest, export, index, threshold, looks)
            reason = "near-duplicate"
            if match is None and cutout is not None:
                # The same drawing at another spot: its hash sees another crop's
                # codec noise and edges, so the drawings themselves are compared.
                match = drawings.find(cutout.sprite)
                if match is not None:
                    distance, reason = int(hamming(index.bits(match), digest.bits)), "moved"
            if match is not None:
                dropped.append({**base, "duplicate_of": match, "distance": str(distance), "reason": reason})
                dropped_bits[frame_index] = digest.bits
                held = (work, dropped[-1], digest.bits, frame)
                continue
            width, height = _stored_size(frame, max_side)
            scale = width / frame.shape[1]
            target = out_dir / f"{frame_index:06d}.png"
            relative = workspace.relative(target)
            index.add(digest.bits, relative)
            if digest.look is not None:
                looks.add(relative, digest.look, digest.background, export)
            if cutout is not None:
                drawings.add(relative, cutout.sprite)
            left, top, right, bottom = (round(v * scale) for v in digest.box)
            kept.append({
                **base, "path": relative, "width": str(width), "height": str(height),
                "phash": digest.hex, "split": split, "has_alpha": str(int(frame.shape[2] == 4)),
                "background": digest.background, "box_left": str(left), "box_top": str(top),
                "box_right": str(right), "box_bottom": str(bottom),
                "backdrop": STATUS_STATIC if cutout is not None else "", "hash_version": str(HASH_VERSION),
            })
            held = (work, kept[-1], digest.bits, frame)
            pending.append(pool.submit(_write_png, target, frame, (width, height)))
            if len(pending) >= _MAX_PENDING_WRITES:
                pending.pop(0).result()
        for future in pending:
            future.result()
        capped: list[str] = []
        if max_frames and len(kept) > max_frames:
            kept, dropped, capped = _cap(kept, dropped, dropped_bits, max_frames, decoded, workspace)
            index.truncate(index_size)
            for row in kept:
                index.add(hex_to_bits(row["phash"]), row["path"])
            looks.discard(capped)
    except BaseException:
        for future in pending:
            future.cancel()
        wait(pending)  # a write still running would recreate files after the cleanup
        index.truncate(index_size)
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        progress.finish()
    if decoded == 0:
        shutil.rmtree(out_dir, ignore_errors=True)
        raise InputError("no frames in this source")
    if not kept:
        shutil.rmtree(out_dir, ignore_errors=True)
    record = {
        "source_id": source_id, "source_path": relative_source, "phase": labels.phase, "labels": labels.joined,
        "split": split, "kind": info.kind, "frames_decoded": str(decoded), "frames_kept": str(len(kept)),
        "frames_dropped": str(len(dropped)), "has_alpha": str(int(info.has_alpha)),
        "backdrop": status, "frames_capped": str(len(capped)),
    }
    return kept, dropped, record


def _shows_again(frame: np.ndarray, work: np.ndarray | None, previous: np.ndarray, previous_work: np.ndarray | None) -> bool:
    """Whether a frame shows the previous frame's picture again (drawn on twos):
    over a static backdrop their work copies agree (backdrop.same_frame; `work`
    given), else their pixels do (_same_pixels)."""
    if work is not None:
        return previous_work is not None and same_frame(work, previous_work)
    return _same_pixels(frame, previous)


def _same_pixels(frame: np.ndarray, previous: np.ndarray) -> bool:
    """Whether two full-size frames differ by more than _HELD_LEVELS in at most
    _HELD_PIXELS channel values (alpha too) on sampled rows (_HELD_ROWS): a held
    frame. (One threshold over the channels side by side: ~6x faster than inRange.)"""
    import cv2

    if frame.shape != previous.shape:
        return False
    # Sampled rows are views: the memory traffic shrinks with the step.
    step = max(2, frame.shape[0] // _HELD_ROWS)
    rows = len(range(0, frame.shape[0], step))
    difference = cv2.absdiff(frame[::step], previous[::step]).reshape(rows, -1)
    return cv2.countNonZero(cv2.threshold(difference, _HELD_LEVELS, 255, cv2.THRESH_BINARY)[1]) <= _HELD_PIXELS


def _held_copy(base: Row, previous: Row) -> Row:
    """The duplicates.csv row of a frame that shows the same picture as the
    previous one: it repeats what that one was (kept, a duplicate, or blank)."""
    if previous.get("reason") == "blank":
        return {**base, "duplicate_of": "", "distance": "", "reason": "blank"}
    if "path" in previous:  # kept
        return {**base, "duplicate_of": previous["path"], "distance": "0", "reason": "near-duplicate"}
    return {**base, "duplicate_of": previous["duplicate_of"], "distance": previous["distance"], "reason": previous["reason"]}


def _cap(kept: list[Row], dropped: list[Row], dropped_bits: dict[int, np.ndarray], max_frames: int,
         decoded: int, workspace: Workspace) -> tuple[list[Row], list[Row], list[str]]:
    """Keep `max_frames` of a source's kept frames, spread evenly over its length;
    the others become reason=cap rows naming the nearest (by hash) frame that
    stays, their PNGs are deleted, and frames that repeated them are re-pointed
    (reason=cap too: what they repeat is gone). Returns (kept, dropped, paths capped)."""
    kept = sorted(kept, key=lambda row: int(row["frame_index"]))
    chosen = set(spread_evenly([int(row["frame_index"]) for row in kept], max_frames, decoded))
    stay = [row for position, row in enumerate(kept) if position in chosen]
    gone = [row for position, row in enumerate(kept) if position not in chosen]
    stay_bits = np.stack([hex_to_bits(row["phash"]) for row in stay])

    def nearest(bits: np.ndarray) -> tuple[str, int]:
        distances = hamming(stay_bits, bits)
        best = int(np.argmin(distances))
        return stay[best]["path"], int(distances[best])

    replaced: dict[str, str] = {}
    rows = []
    for row in gone:
        path, distance = nearest(hex_to_bits(row["phash"]))
        replaced[row["path"]] = path
        rows.append({key: row[key] for key in ("source_id", "frame_index", "phase", "labels", "source_path")}
                    | {"duplicate_of": path, "distance": str(distance), "reason": "cap"})
        workspace.absolute(row["path"]).unlink(missing_ok=True)
    for row in dropped:
        if row["duplicate_of"] in replaced:
            path, distance = nearest(dropped_bits[int(row["frame_index"])])
            rows.append(row | {"duplicate_of": path, "distance": str(distance), "reason": "cap"})
        else:
            rows.append(row)
    rows.sort(key=lambda row: int(row["frame_index"]))
    return stay, rows, [row["path"] for row in gone]


def ingest(
    paths: list[Path],
    workspace: Workspace,
    phase: str | None = None,
    character: str | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    seed: int = DEFAULT_SEED,
    max_side: int = DEFAULT_MAX_SIDE,
    progress: Progress | None = None,
    max_frames_per_source: int = DEFAULT_MAX_FRAMES_PER_SOURCE,
) -> IngestResult:
    """Ingest sources (files or folders) into `workspace`. Never raises for a bad
    input: each failure is recorded in the result and the others go on.
    `max_frames_per_source`: most frames kept per source (0: no limit)."""
    if not 0 <= threshold <= HASH_BITS:
        raise OcpipeError(f"--threshold must be between 0 and {HASH_BITS} bits")
    if max_frames_per_source < 0:
        raise OcpipeError("--max-frames-per-source must be 0 (no limit) or more")
    progress = progress or Progress()
    result = IngestResult()
    candidates: list[Candidate] = []
    # The workspace's own folders that look like <phase>/<Character>/ trees but are not her originals:
    # refused when named, not walked into when a folder above them is ingested (`ocpipe ingest data`).
    not_sources = {
        workspace.processed: "data/processed/ is ocpipe's own output; ingest the originals in data/raw/",
        workspace.others_root: "data/others/ holds pictures of characters that are not yours; "
                               "`ocpipe train` reads it as it is, so don't ingest it",
        workspace.root / "models": "models/ holds trained models, not animations",
    }
    for path in paths:
        refused = [reason for folder, reason in not_sources.items() if is_inside(Path(path), folder)]
        if refused:
            result.failures.append(Failure(Path(path), refused[0]))
            continue
        found, failures = discover(Path(path), phase, character, skip=tuple(not_sources), tree=workspace.raw)
        candidates.extend(found)
        result.failures.extend(failures)

    dataset = Dataset.load(workspace)
    known = {row["source_id"]: row for row in dataset.sources}
    # Identify every candidate first, so splits of a batch depend on content, not order.
    identified: list[tuple[Candidate, str]] = []
    seen: dict[str, Candidate] = {}
    for candidate in sorted(candidates, key=lambda c: str(c.path)):
        try:
            source_id = content_id(candidate.path)
        except OSError as exc:
            result.failures.append(Failure(candidate.path, f"can't read ({exc.strerror or exc})"))
            continue
        previous = known.get(source_id)
        if previous is not None:
            if (previous["phase"], previous["labels"]) != (candidate.labels.phase, candidate.labels.joined):
                result.failures.append(Failure(candidate.path, (
                    f"the same content was already ingested as {previous['phase']}/"
                    f"{previous['labels'].replace(';', '+')} ({previous['source_path']})")))
            else:
                result.already.append(str(candidate.path))
            continue
        if source_id in seen:
            result.already.append(str(candidate.path))
            continue
        seen[source_id] = candidate
        identified.append((candidate, source_id))

    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for candidate, source_id in identified:
        groups[_group_key(candidate.labels.phase, candidate.labels.joined)].append(source_id)
    splits: dict[str, str] = {}
    for key, new_ids in groups.items():
        existing = {row["source_id"]: row["split"] for row in dataset.sources if _group_key(row["phase"], row["labels"]) == key}
        splits.update(assign_splits(existing, new_ids, seed))

    if rehash_old_rows(dataset.manifest, workspace.root, progress):
        dataset.save()
    indexes = _build_indexes(dataset)
    looks = Looks(workspace.root, dataset.manifest)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for candidate, source_id in identified:
            try:
                source_path = candidate.path
                copied = not is_inside(source_path, workspace.raw)
                if copied:
                    source_path = copy_into_raw(workspace, candidate.path, candidate.labels, source_id)
                kept, dropped, record = _ingest_source(
                    dataset, candidate, source_path, source_id, splits[source_id],
                    indexes[_group_key(candidate.labels.phase, candidate.labels.joined)],
                    threshold, max_side, max_frames_per_source, pool, progress, looks,
                )
            except OcpipeError as exc:
                result.failures.append(Failure(candidate.path, str(exc)))
                continue
            except OSError as exc:
                result.failures.append(Failure(candidate.path, f"can't read or write ({exc.strerror or exc})"))
                continue
            dataset.manifest.extend(kept)
            dataset.duplicates.extend(dropped)
            dataset.sources.append(record)
            dataset.save()
            result.added.append(record)
            result.notes.extend(source_notes(record, copied))

    if not dataset.workspace.manifest.exists() and dataset.sources:
        dataset.save()
    result.summary = summarize(dataset)
    result.warnings = split_warnings(dataset)
    from .audit import find_leaks

    result.leaks = find_leaks(dataset.manifest, threshold, looks)
    return result


def summarize(dataset: Dataset) -> list[dict]:
    """Per phase, labels and split: sources, kept frames and dropped frames."""
    table: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for row in dataset.sources:
        counts = table[(row["phase"], row["labels"], row["split"])]
        counts["sources"] += 1
        counts["kept"] += int(row["frames_kept"])
        counts["dropped"] += int(row["frames_dropped"])
    return [
        {"phase": phase, "labels": labels, "split": split, **counts}
        for (phase, labels, split), counts in sorted(table.items(), key=lambda item: (item[0][0], item[0][1], SPLITS.index(item[0][2])))
    ]


def source_notes(record: Row, copied: bool = False) -> list[str]:
    """Plain words on how one new source was read and deduplicated: a handful of
    numbered pictures from a folder of hers (`copied` in) read as one animation,
    whether its drawing was cut from a static backdrop (or why not), and how many
    frames the cap dropped."""
    name = record["source_path"].rsplit("/", 1)[-1]
    notes = []
    if copied and record["kind"] == "sequence" and int(record["frames_decoded"]) <= FEW_FRAMES:
        notes.append(f"{name}: {record['frames_decoded']} numbered pictures of one size, read as one animation; if they "
                     "are separate drawings, rename them (front.png, smile.png) or ingest them one by one, so each is a source")
    status = record.get("backdrop", "")
    if status:
        notes.append(f"{name}: {STATUS_TEXT.get(status, status)}")
    capped = int(record.get("frames_capped") or 0)
    if capped:
        kept = int(record["frames_kept"])
        notes.append(f"{name}: {kept + capped} distinct frames, {kept} kept spread over the animation "
                     f"(--max-frames-per-source); {capped} recorded as reason=cap in duplicates.csv")
    return notes


def split_warnings(dataset: Dataset) -> list[str]:
    """Plain words for groups that don't have a source in every split."""
    per_group: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for row in dataset.sources:
        per_group[(row["phase"], row["labels"])][row["split"]] += 1
    warnings = []
    for (phase, labels), counts in sorted(per_group.items()):
        missing = [split for split in SPLITS if counts[split] == 0]
        if missing:
            total = sum(counts.values())
            have = ", ".join(f"{split} {counts[split]}" for split in SPLITS if counts[split])
            warnings.append(
                f"{phase}/{labels.replace(';', '+')}: {total} source(s) ({have}), none in {' or '.join(missing)}; "
                f"add {3 - total if total < 3 else 1} more animation(s) so every split has one"
            )
    return warnings
