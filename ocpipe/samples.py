"""`ocpipe samples DIR`: a raw tree of real animation files in every supported
format, for all four phases, made from the CC0 Kenney characters bundled in
ocpipe/assets/kenney (see LICENSE-CC0.txt there).

Animations repeat frames the way exported art does: held on twos and threes,
looped and ping-ponged. Each source gets its own scale, placement and
background, and every character appears on several kinds of background.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from . import backgrounds
from .errors import OcpipeError
from .quiet import native_stderr_silenced

# Sample character name -> asset folder and file prefix. Two are drawn far more
# often than the rest, like the user's own characters.
CHARACTERS = {
    "Robot": ("robot", "robot"),
    "Zombie": ("zombie", "zombie"),
    "Adventurer": ("female_adventurer", "femaleAdventurer"),
    "Ranger": ("male_adventurer", "maleAdventurer"),
    "Pilot": ("female_person", "femalePerson"),
}
# The sixth bundled character never appears in the samples: the open-set report
# and tests use it as "somebody else in the same art style".
HELD_OUT_CHARACTER = "Stranger"
_ASSETS = {**CHARACTERS, HELD_OUT_CHARACTER: ("male_person", "malePerson")}
SOURCES_PER_CHARACTER = {"Robot": 6, "Zombie": 5, "Adventurer": 4, "Ranger": 4, "Pilot": 4}
MULTI_SCENES = {"Robot+Zombie": 3, "Adventurer+Ranger": 3, "Pilot+Robot": 3}

# Every format ocpipe reads; sources of a character rotate through them.
FORMATS = (".mp4", ".gif", ".png", ".webp", "seq", ".mov", ".webm", ".apng", ".avi", ".mkv", "still.png", "still.jpg")
_VIDEO_CODECS = {".mp4": "mp4v", ".mov": "mp4v", ".webm": "VP80", ".avi": "MJPG", ".mkv": "XVID"}

# Crops of the 96x128 sprite, as (left, top, right, bottom): a wide eye band and a square head.
_EYES = (16, 40, 80, 72)
_HEAD = (12, 8, 84, 80)
# Canvas (width, height) per phase.
CANVAS = {"eyes": (192, 96), "headshot": (144, 144), "fullbody": (128, 224), "multi": (480, 270)}


@dataclass(frozen=True)
class Clip:
    """A named animation: a list of sprite pose names, one per output frame."""

    name: str
    poses: tuple[str, ...]


def _clips() -> list[Clip]:
    walk = tuple(f"walk{i}" for i in range(8))
    return [
        Clip("walk-on-twos", tuple(p for pose in walk for p in (pose, pose))),
        Clip("climb-on-threes", tuple(p for pose in ("climb0", "climb1") * 3 for p in (pose,) * 3)),
        Clip("poses-pingpong", ("idle", "jump", "fall", "jump", "idle", "idle")),
        Clip("walk-loop", walk + walk),
        Clip("jump-held", ("idle",) * 3 + ("jump",) * 4 + ("fall",) * 4 + ("idle",) * 2),
        Clip("walk-half", walk[:4] + walk[:4][::-1]),
    ]


def _sprite(character: str, pose: str) -> np.ndarray:
    from .readers import read_rgba

    folder, prefix = _ASSETS[character]
    entry = resources.files("ocpipe") / "assets" / "kenney" / folder / f"{prefix}_{pose}.png"
    with resources.as_file(entry) as path:
        return read_rgba(path)


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _tilt(sprite: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate an RGBA sprite about its centre, growing the canvas to fit."""
    import cv2

    if not degrees:
        return sprite
    height, width = sprite.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(height * sin + width * cos), int(height * cos + width * sin)
    matrix[0, 2] += new_w / 2 - width / 2
    matrix[1, 2] += new_h / 2 - height / 2
    return cv2.warpAffine(sprite, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))


def _frames(phase: str, characters: list[str], clip: Clip, rng: np.random.Generator, tilt: float = 0.0) -> list[np.ndarray]:
    """RGBA frames (transparent background) of one clip; `tilt` leans every
    character by that many degrees, so each source is drawn a little differently."""
    import cv2

    width, height = CANVAS[phase]
    crop = {"eyes": _EYES, "headshot": _HEAD}.get(phase)
    frames = []
    layout = []
    for slot, _ in enumerate(characters):
        if phase == "multi":
            scale = rng.uniform(1.1, 1.6)
            x = int(width * (slot + 0.5) / len(characters) - 48 * scale + rng.integers(-20, 20))
            y = int(height - 128 * scale - rng.integers(0, 30))
        else:
            region = crop or (0, 0, 96, 128)
            fit = min(width / (region[2] - region[0]), height / (region[3] - region[1]))
            scale = fit * rng.uniform(0.7, 0.95)
            x = int((width - (region[2] - region[0]) * scale) * rng.uniform(0.2, 0.8))
            y = int((height - (region[3] - region[1]) * scale) * rng.uniform(0.2, 0.8))
        layout.append((scale, x, y))
    for pose in clip.poses:
        canvas = np.zeros((height, width, 4), dtype=np.uint8)
        for character, (scale, x, y) in zip(characters, layout):
            sprite = _sprite(character, pose)
            if crop:
                sprite = sprite[crop[1] : crop[3], crop[0] : crop[2]]
            size = (max(1, round(sprite.shape[1] * scale)), max(1, round(sprite.shape[0] * scale)))
            sprite = _tilt(cv2.resize(sprite, size, interpolation=cv2.INTER_LINEAR), tilt)
            backgrounds.paste(canvas, sprite, x, y)
        frames.append(canvas)
    return frames


def held_out_character_frames(phase: str) -> list[np.ndarray]:
    """RGBA frames (transparent) of HELD_OUT_CHARACTER cropped and placed like the
    phase's samples: eight poses in two placements. The same frames every run."""
    poses = ("idle", "walk1", "walk3", "walk5", "jump", "fall", "climb0", "climb1")
    return [frame for half in (poses[:4], poses[4:])
            for frame in _frames(phase, [HELD_OUT_CHARACTER], Clip("held-out", half), _rng("held-out", phase, half[0]))]


# Matroska (.mkv, .webm) elements FFmpeg fills with random bytes on every write,
# and the master elements they sit in (descended to find them and their CRC-32s).
_MKV_RANDOM = {0x73A4: "SegmentUID", 0x73C5: "TrackUID", 0x63C5: "TagTrackUID"}
_MKV_MASTERS = {0x18538067, 0x114D9B74, 0x1549A966, 0x1654AE6B, 0xAE, 0x1254C367, 0x7373, 0x63C0, 0x1C53BB6B, 0x1F43B675}
_MKV_CRC = 0xBF


def _vint(data: bytes | bytearray, at: int, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `at`: (value, length in bytes)."""
    length = 9 - data[at].bit_length()
    value = data[at] if keep_marker else data[at] & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    return value, length


def _stable_matroska(path: Path, key: str) -> None:
    """Replace the random UIDs FFmpeg writes into a Matroska file with bytes derived
    from `key` and recompute the CRC-32 elements over them, so the same sample
    is the same file (and so the same source id and split) on every run."""
    data = bytearray(path.read_bytes())
    mapping: dict[bytes, bytes] = {}

    def walk(start: int, end: int) -> None:
        at, crc_at = start, None
        while at < end:
            element, id_length = _vint(data, at, keep_marker=True)
            size, size_length = _vint(data, at + id_length, keep_marker=False)
            body = at + id_length + size_length
            if element in _MKV_MASTERS:
                walk(body, body + size)
            elif element in _MKV_RANDOM:
                old = bytes(data[body : body + size])
                new = mapping.setdefault(old, hashlib.sha256(f"{key}/{len(mapping)}".encode()).digest()[:size])
                data[body : body + size] = new
            elif element == _MKV_CRC and at == start:
                crc_at = body
            at = body + size
        if crc_at is not None:  # a CRC-32 element first in a master covers the rest of it
            data[crc_at : crc_at + 4] = zlib.crc32(data[crc_at + 4 : end]).to_bytes(4, "little")

    header_id, id_length = _vint(data, 0, keep_marker=True)
    header_size, size_length = _vint(data, id_length, keep_marker=False)
    walk(id_length + size_length + header_size, len(data))
    path.write_bytes(bytes(data))


def _write(path: Path, fmt: str, frames: list[np.ndarray], background: np.ndarray | None) -> Path:
    """Write RGBA frames in one format; videos and JPEG are composed over `background`."""
    import cv2
    from PIL import Image

    flat = [backgrounds.compose(frame, background) for frame in frames] if background is not None else None
    if fmt in _VIDEO_CODECS:
        target = path.with_suffix(fmt)
        height, width = frames[0].shape[:2]
        with native_stderr_silenced():  # FFmpeg warns that WebM has no VP80 tag, then writes VP8 fine
            writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*_VIDEO_CODECS[fmt]), 12, (width, height))
        if not writer.isOpened():
            raise OcpipeError(f"OpenCV can't write {fmt} video here")
        for frame in flat:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        writer.release()
        if fmt in (".mkv", ".webm"):
            _stable_matroska(target, target.name)
        return target
    if fmt == "seq":
        path.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(frames):
            Image.fromarray(frame).save(path / f"frame_{index + 1:04d}.png")
        return path
    if fmt == "still.png":
        target = path.with_suffix(".png")
        Image.fromarray(frames[len(frames) // 2]).save(target)
        return target
    if fmt == "still.jpg":
        target = path.with_suffix(".jpg")
        Image.fromarray(flat[len(flat) // 2]).save(target, quality=90)
        return target
    images = [Image.fromarray(frame) for frame in frames]
    target = path.with_suffix(fmt)
    if fmt == ".gif":
        images[0].save(target, save_all=True, append_images=images[1:], duration=83, loop=0, disposal=2)
    elif fmt == ".webp":
        images[0].save(target, save_all=True, append_images=images[1:], duration=83, loop=0, lossless=False, quality=90)
    else:  # APNG, as .png or .apng
        images[0].save(target, format="PNG", save_all=True, append_images=images[1:], duration=83, loop=0, disposal=1)
    return target


def write_samples(directory: Path | str, phases: tuple[str, ...] | None = None, variant: int = 0) -> list[Path]:
    """Write the sample raw tree under `directory`; returns the sources written.

    `phases` limits it to some phases. `variant` > 0 writes other animations of
    the same characters (other clips, formats, placements, backgrounds and
    tilts): benchmarks/bench_quality.py uses them as animations a model never saw."""
    directory = Path(directory)
    clips = _clips()
    written: list[Path] = []
    jobs: list[tuple[str, list[str], int]] = []
    for phase in ("eyes", "headshot", "fullbody"):
        for character, count in SOURCES_PER_CHARACTER.items():
            jobs.extend((phase, [character], number) for number in range(count))
    for group, count in MULTI_SCENES.items():
        jobs.extend(("multi", group.split("+"), number) for number in range(count))
    for job, (phase, characters, number) in enumerate(jobs):
        if phases is not None and phase not in phases:
            continue
        rng = _rng(phase, *characters, number, *((variant,) if variant else ()))
        offset = sum(map(ord, "".join(characters))) + 7 * variant
        fmt = FORMATS[(job * 5 + variant) % len(FORMATS)]
        clip = clips[(number + offset) % len(clips)]
        folder = directory / phase / "+".join(characters)
        folder.mkdir(parents=True, exist_ok=True)
        # -12..12 degrees, different for each of 5 sources; anywhere in -14..14 for variants.
        tilt = float(rng.uniform(-14, 14)) if variant else ((number * 3) % 5 - 2) * 6.0
        frames = _frames(phase, characters, clip, rng, tilt)
        height, width = frames[0].shape[:2]
        transparent = fmt in (".gif", ".png", ".webp", "seq", ".apng", "still.png") and phase != "multi"
        background = None if transparent else backgrounds.random_background(height, width, rng, backgrounds.KINDS[(number + variant) % 4])
        if background is not None and fmt in (".gif", ".png", ".webp", "seq", ".apng", "still.png"):
            # Image formats (multi scenes) get the background baked in; _write composes videos and JPEG.
            frames = [np.dstack([backgrounds.compose(frame, background), np.full(frame.shape[:2], 255, np.uint8)]) for frame in frames]
        name = f"{number + 1:02d}-{clip.name}" + (f"-v{variant}" if variant else "") + ("-seq" if fmt == "seq" else "")
        written.append(_write(folder / name, fmt, frames, background))
    return written
