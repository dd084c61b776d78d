"""Ingest time vs. plain OpenCV decoding of the same video, in one run, for three
1920x1080 H.264 animations, held on twos:

* drawings: 720 drawings a minute (8 poses x 37 tilts, the same ones again after
  296) placed at a new spot each time over a detailed scene, so most kept frames
  are new drawings (the benchmark's original video);
* crossing: one character's 8-drawing walk cycle stepping forward across the
  scene (issue 14): 8 distinct drawings, each at hundreds of spots;
* plain: the drawings video over a pale gradient, as an export over white is:
  no backdrop, each drawing cut out of its background for the hash;
* apng, webp, gif: transparent 1920x1080 loops of the drawings (4 s, held on twos;
  Pillow stores each held pair as one frame), written with Pillow; webm: the APNG
  turned into VP9 with alpha by FFmpeg. Decode-only is ocpipe's reader alone
  (Pillow; FFmpeg with libvpx for the WebM).

Videos are written with the ffmpeg binary from imageio-ffmpeg. For each it prints
decode-only seconds (the mean of a run before and one after ingest), ocpipe
ingest seconds, their ratio (goal <= 2.0), CPU seconds of both, the peak memory
of the ingest process (goal <= 600 MB, flat in video length) and the kept frames
(crossing: goal 8-24, every drawing kept).

    python benchmarks/bench_ingest.py [--seconds 60] [--fps 24] [--video drawings crossing plain apng webp gif webm]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from collections import Counter
from multiprocessing import get_context
from pathlib import Path

import numpy as np

WIDTH, HEIGHT = 1920, 1080
POSES = [f"walk{i}" for i in range(8)]


def _encode(path: Path, fps: int, frames) -> None:
    """Pipe RGB frames into libx264 (the settings of a typical export)."""
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{WIDTH}x{HEIGHT}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
               "-crf", "20", "-pix_fmt", "yuv420p", str(path)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    for frame in frames:
        process.stdin.write(frame.tobytes())
    process.stdin.close()
    process.wait()


def _held_on_twos(count: int, draw):
    """`count` frames, a new drawing `draw(number)` every second frame."""
    drawn = None
    for index in range(count):
        if index % 2 == 0:
            drawn = draw(index // 2)
        yield drawn


def _write_video(path: Path, seconds: int, fps: int, place, plain: bool = False) -> None:
    """A Robot walk cycle's drawings over one detailed 1080p scene (or, `plain`, a
    pale gradient), held on twos; `place(sprites, drawing)` gives (sprite, left,
    top) of each drawing number."""
    import cv2

    from ocpipe import backgrounds, samples

    if plain:
        scene = np.linspace((250, 246, 236), (222, 232, 250), HEIGHT)[:, None, :].repeat(WIDTH, axis=1).astype(np.uint8)
    else:
        scene = backgrounds.scene(HEIGHT, WIDTH, np.random.default_rng(0))
    sprites = [cv2.resize(samples._sprite("Robot", pose), (288, 384), interpolation=cv2.INTER_LINEAR) for pose in POSES]

    def draw(drawing: int) -> np.ndarray:
        canvas = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
        backgrounds.paste(canvas, *place(sprites, drawing))
        return backgrounds.compose(canvas, scene)

    _encode(path, fps, _held_on_twos(seconds * fps, draw))


def write_drawings_video(path: Path, seconds: int, fps: int, plain: bool = False) -> None:
    """720 drawings a minute: 8 poses x 37 tilts, each at a new spot."""
    from ocpipe import samples

    _write_video(path, seconds, fps, lambda sprites, drawing: (
        samples._tilt(sprites[drawing % 8], (drawing % 37) - 18), 200 + (drawing * 7) % 1300, 500), plain)


def write_plain_video(path: Path, seconds: int, fps: int) -> None:
    """The drawings video over a pale gradient: the plain-background path (the
    drawing cut out of its background for the hash), as an export over white is."""
    write_drawings_video(path, seconds, fps, plain=True)


def crossing_position(drawing: int) -> int:
    """Left edge of the walker for a drawing number: 14 px a step, across 1500 px, again and again."""
    return 100 + (drawing * 14) % 1500


def write_crossing_video(path: Path, seconds: int, fps: int) -> None:
    """One character's 8-drawing walk cycle stepping forward across a detailed scene."""
    _write_video(path, seconds, fps, lambda sprites, drawing: (sprites[drawing % 8], crossing_position(drawing), 560))


def write_transparent_loop(path: Path, seconds: int, fps: int) -> None:
    """The drawings over transparency, as Pillow saves an animation (APNG, WebP
    lossless, GIF by the suffix): a 4 s loop at most, held on twos."""
    import cv2
    from PIL import Image

    from ocpipe import backgrounds, samples

    sprites = [cv2.resize(samples._sprite("Robot", pose), (288, 384), interpolation=cv2.INTER_LINEAR) for pose in POSES]
    frames = []
    for index in range(min(seconds, 4) * fps):
        drawing = index // 2
        canvas = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
        backgrounds.paste(canvas, samples._tilt(sprites[drawing % 8], (drawing % 37) - 18), 200 + (drawing * 7) % 1300, 500)
        frames.append(Image.fromarray(canvas, "RGBA"))
    if path.suffix == ".webm":  # VP9 with alpha, made by FFmpeg from the APNG
        import subprocess

        import imageio_ffmpeg

        apng = path.with_suffix(".apng.png")
        frames[0].save(apng, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(apng), "-c:v", "libvpx-vp9",
                        "-pix_fmt", "yuva420p", "-b:v", "4M", "-deadline", "realtime", str(path)], check=True)
        apng.unlink()
        return
    options = {"lossless": True, "method": 0} if path.suffix == ".webp" else {"disposal": 2} if path.suffix == ".gif" else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0, **options)


VIDEOS = {"drawings": write_drawings_video, "crossing": write_crossing_video, "plain": write_plain_video}
# Transparent animations: name -> file suffix.
LOOPS = {"apng": ".png", "webp": ".webp", "gif": ".gif", "webm": ".webm"}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode_only(path: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, frames) of reading every frame: videos with
    OpenCV, animations with ocpipe's own reader (Pillow to BGR(A) arrays, nothing
    else; a bare Pillow loop converting each frame to RGBA took about as long for
    APNG and WebP and up to 1.6x longer for GIF)."""
    import cv2

    from ocpipe.decode import iter_frames, probe

    start, cpu = time.perf_counter(), _cpu_seconds()
    frames = 0
    if path.suffix == ".mp4":
        capture = cv2.VideoCapture(str(path))
        while capture.read()[0]:
            frames += 1
    else:
        frames = sum(1 for _ in iter_frames(path, probe(path)))
    return time.perf_counter() - start, _cpu_seconds() - cpu, frames


def _ingest(path: str, workspace: str, queue) -> None:
    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table
    from ocpipe.workspace import Workspace

    start, cpu = time.perf_counter(), _cpu_seconds()
    result = ingest([Path(path)], Workspace.at(workspace), phase="fullbody", character="Robot")
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kept = [int(row["frame_index"]) for row in read_table(Workspace.at(workspace).manifest)]
    queue.put((seconds, cpu, peak_mb, result.added[0] if result.added else str(result.failures), kept))


def run(name: str, folder: Path, seconds: int, fps: int) -> None:
    video = folder / f"{name}{LOOPS.get(name, '.mp4')}"
    context = get_context("spawn")  # fresh processes, so peak memory is ingest's own
    # Written in a process of its own too: a child's peak memory starts from its
    # parent's size when it was started.
    writer = context.Process(target=write_transparent_loop if name in LOOPS else VIDEOS[name], args=(video, seconds, fps))
    writer.start()
    writer.join()
    before = decode_only(video)
    queue = context.Queue()
    process = context.Process(target=_ingest, args=(str(video), str(folder / f"ws-{name}"), queue))
    process.start()
    ingest_seconds, ingest_cpu, peak_mb, record, kept = queue.get()
    process.join()
    after = decode_only(video)
    # Decoding is timed before and after ingest: on a shared machine a change of
    # load then weighs on both sides of the ratio alike.
    decode_seconds, decode_cpu, frames = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2, before[2]
    if isinstance(record, str):
        print(f"{name}: ingest failed: {record}")
        return
    kind = ("transparent VP9 WebM (FFmpeg)" if name == "webm" else f"transparent {name.upper()} (Pillow)") if name in LOOPS else "H.264"
    print(f"{name}: {frames} frames of {WIDTH}x{HEIGHT} {kind}, held on twos" if name in LOOPS
          else f"{name}: {seconds} s, {frames} frames of {WIDTH}x{HEIGHT} {kind}, held on twos")
    reader = "FFmpeg" if name == "webm" else "Pillow" if name in LOOPS else "OpenCV"
    print(f"  decode only ({reader}): {decode_seconds:.2f} s  (CPU {decode_cpu:.2f} s; mean of {before[0]:.2f} before "
          f"and {after[0]:.2f} after ingest)")
    print(f"  ocpipe ingest:        {ingest_seconds:.2f} s  (CPU {ingest_cpu:.2f} s; kept {record['frames_kept']}, "
          f"dropped {record['frames_dropped']}, distinct frames over the cap {record.get('frames_capped') or 0}, "
          f"backdrop {record.get('backdrop') or '-'})")
    print(f"  ratio ingest/decode:  {ingest_seconds / decode_seconds:.2f}  (goal <= 2.0)")
    print(f"  peak memory (ingest process): {peak_mb:.0f} MB  (goal <= 600 MB)")
    if name == "crossing":
        per_drawing = Counter((index // 2) % 8 for index in kept)
        print(f"  drawings kept: {len(per_drawing)} of 8, at most {max(per_drawing.values(), default=0)} frames "
              f"per drawing (goal: all 8, <= 3 each)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--video", nargs="+", choices=sorted(VIDEOS) + sorted(LOOPS),
                        default=["drawings", "crossing", "plain", "apng", "webp", "gif", "webm"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.video:
            run(name, Path(folder), args.seconds, args.fps)


if __name__ == "__main__":
    main()
