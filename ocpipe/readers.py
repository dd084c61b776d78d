"""Read images safely: one pixel budget for every reader.

Every image ocpipe reads (ingest's stills, sequence and animation frames, predict,
explain, the app's uploads, the bundled sample art) is opened here:

1. the format is sniffed from the first bytes (extensions lie);
2. the dimensions are read from the header, before any pixel is decoded;
3. an image over MAX_IMAGE_PIXELS is refused with one line naming its size and the
   limit, except a baseline JPEG: libjpeg decodes those at 1/2, 1/4 or 1/8 scale
   without ever holding the full-size picture, so it is shrunk while decoding until
   it fits (a progressive JPEG needs full-size buffers, so it is refused too);
4. `max_side` (predict, explain, the app) shrinks the picture to a working size
   before anything else runs on it, during decoding where the format allows;
5. any decoder failure (truncated data, corrupt chunks, odd variants) becomes an
   InputError with the reason; the EXIF orientation is honoured; 16-bit grey,
   palette, grey+alpha and CMYK pictures come out as plain 8-bit RGBA.

Pillow's own decompression-bomb check (a warning over 89 megapixels, an error over
179) never fires here: images are opened through Pillow's format plugins after our
stricter check, so a refusal is always our one line, never a traceback or warning.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import LARGE_IMAGE_PIXELS, MAX_IMAGE_PIXELS
from .errors import InputError

_PNG = b"\x89PNG\r\n\x1a\n"
# EXIF orientation tag and the transposition that undoes each value.
_ORIENTATION = 0x0112
# libjpeg's scaled decoding factors.
_JPEG_SCALES = (1, 2, 4, 8)
# Images over LARGE_IMAGE_PIXELS are decoded one at a time per process: a few
# concurrent large uploads then hold one full-size buffer, not several.
_large_decodes = threading.BoundedSemaphore(1)

Source = Path | str | bytes


def sniff_bytes(head: bytes) -> str:
    """The container kind from a file's first 16 bytes: 'gif', 'png', 'jpeg', 'webp',
    'video' or 'unknown'."""
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(_PNG):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip") or head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video"
    return "unknown"


def describe_unknown(head: bytes, videos_too: bool = False) -> str:
    """Why a file that isn't a known format can't be read, from its first bytes;
    `videos_too` when a video would have been fine (ingest)."""
    if not head:
        return "the file is empty"
    if not videos_too and sniff_bytes(head[:16]) == "video":
        return "it is a video, not an image"
    try:
        head.decode("utf-8")
        return "its content is text, not an image" + (" or video" if videos_too else "")
    except UnicodeDecodeError:
        return "its content is not a format ocpipe reads (PNG, JPEG, GIF, WebP" + (", MP4, WebM, MOV)" if videos_too else ")")


def megapixels(width: int, height: int) -> str:
    """'400 megapixels (20000x20000)'; under 10 megapixels with one decimal."""
    value = width * height / 1e6
    return f"{value:.0f} megapixels ({width}x{height})" if value >= 10 else f"{value:.1f} megapixels ({width}x{height})"


def check_pixels(width: int, height: int, what: str = "this image is") -> None:
    """Raise InputError when width x height is over the pixel budget (or empty).
    `what` starts the message ("each frame of this video is")."""
    if width < 1 or height < 1:
        raise InputError(f"the image has no pixels ({width}x{height})")
    if width * height > MAX_IMAGE_PIXELS:
        raise InputError(f"{what} {megapixels(width, height)}; ocpipe reads up to {MAX_IMAGE_PIXELS / 1e6:g} megapixels")


def decoder_failure(exc: Exception, prefix: str = "corrupt or truncated image") -> InputError:
    """The InputError for an exception a decoder raised on this file's bytes. Pillow's
    own bomb check still fires where a GIF frame grows the canvas past its header's
    size; it is reported in our words."""
    import re

    from PIL import Image

    if isinstance(exc, Image.DecompressionBombError) and (found := re.search(r"\((\d+) pixels\)", str(exc))):
        return InputError(f"this image is {int(found.group(1)) / 1e6:.0f} megapixels; "
                          f"ocpipe reads up to {MAX_IMAGE_PIXELS / 1e6:g} megapixels")
    if isinstance(exc, MemoryError):
        return InputError("not enough memory to decode this image")
    return InputError(f"{prefix} ({exc})")


def _webp_size(head: bytes) -> tuple[int, int] | None:
    """Canvas size from a WebP header (VP8X, lossy VP8 or lossless VP8L), None if unknown.
    Pillow's WebP reader sets up the whole animation decoder (canvas buffers
    included) while opening, so the size is checked from the bytes first."""
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(head) >= 30:
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    return None


def _factory(kind: str):
    """Pillow's plugin constructor for a format: what Image.open calls, minus its
    bomb check (ours, stricter, runs right after on the lazily read header)."""
    from PIL import GifImagePlugin, JpegImagePlugin, PngImagePlugin

    if kind == "webp":
        from PIL import WebPImagePlugin

        return WebPImagePlugin.WebPImageFile
    return {"png": PngImagePlugin.PngImageFile, "gif": GifImagePlugin.GifImageFile,
            "jpeg": JpegImagePlugin.jpeg_factory}[kind]


def _jpeg_scale(width: int, height: int, max_side: int | None, progressive: bool) -> int:
    """The libjpeg scale (1, 2, 4 or 8) to decode a JPEG at: the smallest that fits the
    pixel budget, raised while the result stays at least `max_side` on its longest side."""
    fits = [s for s in _JPEG_SCALES if math.ceil(width / s) * math.ceil(height / s) <= MAX_IMAGE_PIXELS and min(width, height) >= s]
    if not fits:
        check_pixels(width, height)  # refuses, naming the size
        raise InputError(f"the image is too thin to decode ({width}x{height})")
    if fits[0] > 1 and progressive:
        raise InputError(f"this image is {megapixels(width, height)}; ocpipe reads up to {MAX_IMAGE_PIXELS / 1e6:g} megapixels "
                         "(a baseline JPEG that size is shrunk while decoding; a progressive one can't be)")
    scale = fits[0]
    if max_side:
        for s in fits:
            if max(width, height) // s >= max_side:
                scale = s
    return scale


@contextmanager
def open_image(source: Source, max_side: int | None = None) -> Iterator:
    """A Pillow image of `source` (a path or the file's bytes), header read, nothing
    decoded yet, its size within the pixel budget. A baseline JPEG over the budget,
    or larger than `max_side` needs, is set to decode at a reduced scale (its .size
    already says so). Raises InputError naming the reason; closes the file on exit."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:64])
        handle = io.BytesIO(source)
    else:
        try:
            handle = open(source, "rb")
        except FileNotFoundError as exc:
            raise InputError("no such file") from exc
        except IsADirectoryError as exc:
            raise InputError("a folder, not an image") from exc
        except OSError as exc:
            raise InputError(f"can't read the file ({exc.strerror or exc})") from exc
        head = handle.read(64)
        handle.seek(0)
    try:
        kind = sniff_bytes(head[:16])
        if kind not in ("png", "gif", "jpeg", "webp"):
            raise InputError(f"not an image ocpipe can read: {describe_unknown(head)}")
        if kind == "webp" and (size := _webp_size(head)) is not None:
            check_pixels(*size)
        try:
            image = _factory(kind)(handle)
        except Exception as exc:  # hostile bytes reach Pillow's parsers; any failure is this file's
            raise decoder_failure(exc, f"not an image ocpipe can read: corrupt {kind.upper()} header") from exc
        width, height = image.size
        if kind == "jpeg":
            scale = _jpeg_scale(width, height, max_side, bool(image.info.get("progressive") or image.info.get("progression")))
            if scale > 1:
                image.draft(None, (width // scale, height // scale))
        check_pixels(*image.size)
        yield image
    finally:
        handle.close()


def check_frame(image) -> None:
    """The current frame's size within the budget. A GIF frame may grow the canvas
    past the size its header announced (Pillow enlarges it), so animation readers
    call this after every seek, before the frame is decoded."""
    check_pixels(*image.size)


def to_8bit(image):
    """16-bit and 32-bit grey ('I;16', 'I') as 8-bit 'L' (top 8 bits, not clipped to
    white); other modes unchanged. Runs on the decoded image."""
    from PIL import Image

    if not image.mode.startswith("I"):
        return image
    values = np.asarray(image)
    if values.dtype.byteorder == ">":
        values = values.astype(values.dtype.newbyteorder("="))
    return Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8), "L")


def orientation(image) -> int:
    """The EXIF orientation (1..8; 1 when absent or unreadable)."""
    try:
        value = int(image.getexif().get(_ORIENTATION, 1))
    except Exception:  # malformed EXIF: the picture is still readable, upright as stored
        return 1
    return value if 1 <= value <= 8 else 1


def apply_orientation(image, value: int):
    """Turn a decoded image upright for its EXIF orientation value (see orientation())."""
    from PIL import Image

    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(value)
    return image if method is None else image.transpose(method)


def shrink(image, max_side: int | None):
    """`image` with its longest side at most max_side (aspect kept, never enlarged).
    Pillow resizes RGBA premultiplied, so transparent pixels' hidden colours don't bleed."""
    from PIL import Image

    width, height = image.size
    if not max_side or max(width, height) <= max_side:
        return image
    scale = max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


@dataclass(frozen=True)
class Picture:
    """A decoded image: RGBA uint8 (H, W, 4), upright, at most max_side pixels on its
    longest side, and whether the file is animated (then `rgba` is its first frame)."""

    rgba: np.ndarray
    animated: bool = False

    @property
    def note(self) -> str:
        """A line for the user when the picture isn't judged as a whole, else ''."""
        return "an animated image: its first frame is used" if self.animated else ""


def read_picture(source: Source, max_side: int | None = None) -> Picture:
    """Decode the first frame of any image ocpipe reads as upright RGBA, within the
    pixel budget and shrunk to `max_side` (None: full size). Raises InputError."""
    with open_image(source, max_side) as image:
        large = image.size[0] * image.size[1] > LARGE_IMAGE_PIXELS
        if large:
            _large_decodes.acquire()
        try:
            turn = orientation(image)
            animated = bool(getattr(image, "is_animated", False))
            decoded = image.convert("RGBA") if image.mode in ("P", "PA", "1") else to_8bit(image)
            decoded = apply_orientation(shrink(decoded, max_side), turn)
            rgba = np.asarray(decoded.convert("RGBA"))
        except Exception as exc:  # truncated data, bad chunks: any decoder failure is this file's
            raise decoder_failure(exc) from exc
        finally:
            if large:
                _large_decodes.release()
    return Picture(rgba, animated)


def read_rgba(source: Source, max_side: int | None = None) -> np.ndarray:
    """read_picture(...).rgba: the first frame as upright RGBA uint8 (H, W, 4)."""
    return read_picture(source, max_side).rgba
