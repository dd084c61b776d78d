"""Turn one source (video, GIF, APNG, WebP, still image or PNG/JPG sequence) into a
stream of frames.

Frames come out as NumPy arrays in OpenCV's channel order: ``BGR`` (H, W, 3) or,
where the source can hold transparency, ``BGRA`` (H, W, 4), dtype uint8. Decoding
is a generator, so memory does not grow with the length of a video.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import IMAGE_EXTENSIONS, SEQUENCE_EXTENSIONS, VIDEO_EXTENSIONS
from .errors import InputError
from .readers import (
    apply_orientation,
    check_frame,
    check_pixels,
    decoder_failure,
    describe_unknown,
    open_image,
    orientation,
    sniff_bytes,
    to_8bit,
)

log = logging.getLogger(__name__)


def sniff(path: Path) -> str:
    """Return the container kind from the file's first bytes: 'gif', 'png', 'jpeg',
    'webp', 'video' or 'unknown'. Extensions lie (a text file named .png); bytes don't."""
    with open(path, "rb") as handle:
        return sniff_bytes(handle.read(16))


@dataclass(frozen=True)
class SourceInfo:
    """What a source is before decoding it: its kind, whether frames can carry
    alpha, and how many frames it announces (0 when unknown)."""

    kind: str  # 'video', 'image' (Pillow: GIF/APNG/WebP/PNG/JPEG) or 'sequence'
    has_alpha: bool
    frame_count: int
    # A video whose frames use alpha: the FFmpeg input options that decode it (_iter_ffmpeg).
    ffmpeg: tuple[str, ...] | None = None


def natural_key(name: str) -> list:
    """Sort key that orders 'frame2' before 'frame10'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def sequence_files(folder: Path) -> list[Path]:
    """The numbered PNG/JPG frames of a sequence folder, in frame order."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SEQUENCE_EXTENSIONS and not p.name.startswith(".")]
    return sorted(files, key=lambda p: natural_key(p.name))


def is_sequence(files: list[Path]) -> bool:
    """Whether a folder's files are one animation's frames: two or more PNG/JPG
    files whose names differ only in their digits (frame_0001.png, frame_0002.png)
    and whose headers give one pixel size (an export has one canvas). Anything else
    (front.png, smile.png; or numbered drawings of different sizes) is separate
    drawings, a source each. A header that can't be read doesn't count: that frame
    fails on its own later, and its animation stays one source."""
    if len(files) < 2 or any(path.suffix.lower() not in SEQUENCE_EXTENSIONS for path in files):
        return False
    if len({re.sub(r"\d+", "#", path.name.lower()) for path in files}) != 1:
        return False
    sizes = set()
    for path in files:
        try:
            with open_image(path) as image:
                sizes.add(image.size)
        except Exception:  # hostile bytes reach Pillow's parsers; the frame is judged when decoded
            continue
        if len(sizes) > 1:
            return False
    return True


def is_supported(path: Path) -> bool:
    """Whether a path looks like a source by its name (a folder counts as a sequence)."""
    if path.is_dir():
        return True
    return path.suffix.lower() in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS


def probe(path: Path) -> SourceInfo:
    """Check a source can be read and describe it. Raises InputError with the reason."""
    if not path.exists():
        raise InputError("no such file or folder")
    if path.is_dir():
        files = sequence_files(path)
        if not files:
            raise InputError("the folder holds no PNG/JPG frames")
        first = _probe_image(files[0])
        return SourceInfo("sequence", first.has_alpha, len(files))
    suffix = path.suffix.lower()
    if suffix not in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS:
        raise InputError(f"unsupported file type '{suffix or path.name}'")
    if path.stat().st_size == 0:
        raise InputError("the file is empty")
    kind = sniff(path)
    if kind == "unknown":
        with open(path, "rb") as handle:
            raise InputError(describe_unknown(handle.read(512), videos_too=True))
    if kind == "video":
        return _probe_video(path)
    if suffix in VIDEO_EXTENSIONS:
        log.info("%s holds a %s image, not a video; reading it as an image", path, kind)
    return _probe_image(path)


def _probe_image(path: Path) -> SourceInfo:
    """Header facts of a still or animation, within the pixel budget (readers.py)."""
    with open_image(path) as image:
        try:
            has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in image.info
            frames = getattr(image, "n_frames", 1)
        except Exception as exc:  # hostile bytes reach Pillow's parsers; any failure is this file's
            raise decoder_failure(exc, "corrupt image") from exc
    return SourceInfo("image", has_alpha, int(frames))


def _video_size(capture) -> tuple[int, int]:
    import cv2

    return int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)


# Video codecs (OpenCV's FOURCC) that can carry alpha, and the FFmpeg decoder that
# keeps it (None: FFmpeg's own). FFmpeg's native VP8/VP9 decoders drop the alpha
# a WebM stores beside the colour; libvpx's read it. ProRes 4444, QuickTime
# Animation and PNG-in-MOV decode with alpha natively. OpenCV drops alpha always.
_ALPHA_CODECS = {
    "VP80": "libvpx", "VP90": "libvpx-vp9",
    "ap4h": None, "ap4x": None, "apch": None, "apcn": None, "apcs": None, "apco": None,
    "rle ": None, "png ": None, "MPNG": None,
}


def _fourcc(capture) -> str:
    import cv2

    return int(capture.get(cv2.CAP_PROP_FOURCC) or 0).to_bytes(4, "little").decode("latin-1")


def _alpha_decoder(path: Path, codec: str) -> tuple[str, ...] | None:
    """FFmpeg input options that decode the alpha of a video in `codec` (OpenCV's
    FOURCC), or None when OpenCV's colour-only decoding loses nothing (or FFmpeg
    isn't installed)."""
    if codec not in _ALPHA_CODECS:
        return None
    try:
        import imageio_ffmpeg  # noqa: F401  (ships the FFmpeg binary)
    except ImportError:
        log.warning("%s: its codec can store transparency, but imageio-ffmpeg isn't installed: read without it", path.name)
        return None
    decoder = _ALPHA_CODECS[codec]
    return ("-c:v", decoder) if decoder else ()


def _probe_video(path: Path) -> SourceInfo:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError("the video can't be opened (corrupt or truncated?)")
        width, height = _video_size(capture)
        if width and height:
            check_pixels(width, height, "each frame of this video is")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        codec = _fourcc(capture)
    finally:
        capture.release()
    # A codec that can store transparency: does the first frame use it?
    options = _alpha_decoder(path, codec)
    if options is not None:
        frames = _iter_ffmpeg(path, options)
        try:
            first = next(frames, None)
        except InputError:
            first = None  # OpenCV's decoding will say what is wrong
        finally:
            frames.close()
        if first is not None and first[:, :, 3].min() < 255:
            return SourceInfo("video", True, max(count, 0), options)
    return SourceInfo("video", False, max(count, 0))


def iter_frames(path: Path, info: SourceInfo | None = None, read_ahead: int = 0) -> Iterator[np.ndarray]:
    """Yield every frame of a source in order (BGR or BGRA uint8).

    read_ahead > 0 decodes up to that many frames ahead in a background thread,
    so decoding (C code that releases the GIL) overlaps the caller's work on the
    previous frame. Raises InputError when the source is unreadable or breaks off partway."""
    info = info or probe(path)
    if read_ahead > 0:
        yield from _read_ahead(iter_frames(path, info), read_ahead)
        return
    if info.kind == "video":
        yield from _iter_video(path, info)
    elif info.kind == "sequence":
        for file in sequence_files(path):
            try:
                yield from _iter_image(file, info.has_alpha, still=True)
            except InputError as exc:
                raise InputError(f"frame {file.name}: {exc}") from exc
    else:
        yield from _iter_image(path, info.has_alpha)


def _read_ahead(frames: Iterator[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """Run `frames` in a daemon thread, at most `depth` items ahead of the consumer.
    The producer's exceptions re-raise in the consumer; a consumer that stops early
    stops the producer (and its generator's cleanup runs in that thread)."""
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    break
        except BaseException as exc:  # handed to the consumer
            put(exc)
            return
        finally:
            frames.close()
        put(done)

    thread = threading.Thread(target=produce, name="ocpipe-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _iter_ffmpeg(path: Path, options: tuple[str, ...]) -> Iterator[np.ndarray]:
    """BGRA frames of a video decoded by FFmpeg (imageio-ffmpeg's binary, its
    decoder chosen by `options`), for videos whose alpha OpenCV would drop."""
    import imageio_ffmpeg

    # Every decoded frame once, as stored: a raw pipe otherwise repeats frames to a constant rate.
    frames = imageio_ffmpeg.read_frames(str(path), pix_fmt="bgra", bits_per_pixel=32, input_params=list(options),
                                        output_params=["-fps_mode", "passthrough"])
    try:
        try:
            width, height = next(frames)["size"]
        except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as exc:
            raise InputError("FFmpeg can't read the video (corrupt or truncated?)") from exc
        check_pixels(width, height, "each frame of this video is")
        while True:
            try:
                data = next(frames)
            except StopIteration:
                return
            except RuntimeError as exc:  # a frame broke off partway
                raise InputError("looks truncated: FFmpeg stopped in the middle of a frame") from exc
            yield np.frombuffer(bytearray(data), np.uint8).reshape(height, width, 4)
    finally:
        frames.close()


def _iter_video(path: Path, info: SourceInfo) -> Iterator[np.ndarray]:
    import cv2

    if info.ffmpeg is not None:
        yield from _iter_video_alpha(path, info)
        return
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError("the video can't be opened (corrupt or truncated?)")
    decoded = 0
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    last_ms = 0.0  # the last decoded frame's timestamp
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            # probe checked the container's announced size; it can be missing or wrong.
            if decoded == 0:
                check_pixels(frame.shape[1], frame.shape[0], "each frame of this video is")
            decoded += 1
            last_ms = capture.get(cv2.CAP_PROP_POS_MSEC) or last_ms
            yield frame
    finally:
        capture.release()
    _check_whole(decoded, info.frame_count, lambda: (fps, last_ms))


def _iter_video_alpha(path: Path, info: SourceInfo) -> Iterator[np.ndarray]:
    """_iter_video for a video whose frames use alpha: FFmpeg decodes it (_iter_ffmpeg)."""
    decoded = 0
    for frame in _iter_ffmpeg(path, info.ffmpeg):
        decoded += 1
        yield frame
    _check_whole(decoded, info.frame_count, lambda: _timing(path))


def _timing(path: Path) -> tuple[float, float]:
    """(frame rate, last frame's timestamp in ms) as OpenCV reads the video: only
    asked when far fewer frames came than announced (a second pass, grabbing only)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        fps, last_ms = capture.get(cv2.CAP_PROP_FPS) or 0.0, 0.0
        while capture.grab():
            last_ms = capture.get(cv2.CAP_PROP_POS_MSEC) or last_ms
    finally:
        capture.release()
    return fps, last_ms


def _check_whole(decoded: int, announced: int, timing) -> None:
    """Raise InputError when a video decoded no frame, or broke off: far fewer
    frames than its header announces, and its last frame far short of the
    announced duration. OpenCV's frame count is the container's duration times a
    frame rate, which a variable-rate export (WebM from an APNG or GIF: 6 frames a
    second, 'tbr' 18) overstates 3x, while its frames' timestamps still reach the
    end; a cut file's stop early. `timing()` gives (frame rate, last frame's
    timestamp in ms), asked only when the count falls short."""
    if decoded == 0:
        raise InputError("no frame could be decoded (corrupt or truncated video)")
    if announced <= 10 or decoded >= 0.8 * announced:
        return
    fps, last_ms = timing()
    # Without timestamps to tell by, the count alone.
    if fps <= 0 or last_ms <= 0 or last_ms < 0.8 * 1000.0 * announced / fps:
        raise InputError(f"looks truncated: decoded {decoded} of the {announced} frames its header announces")


def _iter_image(path: Path, has_alpha: bool, still: bool = False) -> Iterator[np.ndarray]:
    """Frames of a still or animation within the pixel budget (readers.py). A still
    is turned upright by its EXIF orientation; 16-bit grey comes out as 8-bit."""
    import cv2
    from PIL import ImageSequence

    mode = "RGBA" if has_alpha else "RGB"
    with open_image(path) as image:
        try:
            turn = orientation(image) if still or getattr(image, "n_frames", 1) == 1 else 1
            frames = [image] if still else ImageSequence.Iterator(image)
            for frame in frames:
                # A GIF frame can grow the canvas past its header's size: check before decoding.
                check_frame(frame)
                # Pillow composes GIF/APNG/WebP frames that store only the changed
                # region onto the full canvas, honouring disposal and blending.
                array = np.asarray(apply_orientation(to_8bit(frame), turn).convert(mode))
                # OpenCV's swap gives a contiguous BGR(A) frame; numpy's fancy index
                # gave a planar one, on which every later OpenCV call ran ~30x slower.
                yield cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if has_alpha else cv2.COLOR_RGB2BGR)
        except InputError:
            raise
        except Exception as exc:  # truncated data, bad chunks: any decoder failure is this file's
            raise decoder_failure(exc) from exc
