"""Ingest time vs. plain OpenCV decoding of the same video, in one run.

Writes a 1920x1080 H.264 animation (drawn art moving over a detailed background,
held on twos) with the ffmpeg binary from imageio-ffmpeg, then prints:
decode-only seconds, ocpipe ingest seconds, their ratio (goal <= 2.0) and the
peak memory of ingest (goal <= 600 MB, flat in video length).

    python benchmarks/bench_ingest.py [--seconds 60] [--fps 24]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np


def write_video(path: Path, seconds: int, fps: int) -> None:
    import cv2
    import imageio_ffmpeg

    from ocpipe import backgrounds, samples

    width, height = 1920, 1080
    rng = np.random.default_rng(0)
    scene = backgrounds.scene(height, width, rng)
    poses = [f"walk{i}" for i in range(8)]
    sprites = [cv2.resize(samples._sprite("Robot", pose), (288, 384), interpolation=cv2.INTER_LINEAR) for pose in poses]
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "veryfast",
               "-crf", "20", "-pix_fmt", "yuv420p", str(path)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    drawn = None
    for index in range(seconds * fps):
        if index % 2 == 0:  # held on twos
            drawing = index // 2
            canvas = np.zeros((height, width, 4), np.uint8)
            backgrounds.paste(canvas, samples._tilt(sprites[drawing % 8], (drawing % 37) - 18), 200 + (drawing * 7) % 1300, 500)
            drawn = backgrounds.compose(canvas, scene)
        process.stdin.write(drawn.tobytes())
    process.stdin.close()
    process.wait()


def decode_only(path: Path) -> tuple[float, int]:
    import cv2

    start = time.perf_counter()
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.read()[0]:
        frames += 1
    return time.perf_counter() - start, frames


def _ingest(path: str, workspace: str, queue) -> None:
    from ocpipe.ingest import ingest
    from ocpipe.workspace import Workspace

    start = time.perf_counter()
    result = ingest([Path(path)], Workspace.at(workspace), phase="fullbody", character="Robot")
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((seconds, peak_mb, result.added[0] if result.added else str(result.failures)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--fps", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "animation.mp4"
        write_video(video, args.seconds, args.fps)
        decode_seconds, frames = decode_only(video)
        context = get_context("spawn")  # a fresh process, so peak memory is ingest's own
        queue = context.Queue()
        process = context.Process(target=_ingest, args=(str(video), str(Path(folder) / "ws"), queue))
        process.start()
        ingest_seconds, peak_mb, record = queue.get()
        process.join()
    print(f"video: {args.seconds} s, {frames} frames of 1920x1080 H.264, held on twos")
    print(f"decode only (OpenCV): {decode_seconds:.2f} s")
    print(f"ocpipe ingest:        {ingest_seconds:.2f} s  (kept {record['frames_kept']}, dropped {record['frames_dropped']})")
    print(f"ratio ingest/decode:  {ingest_seconds / decode_seconds:.2f}  (goal <= 2.0)")
    print(f"peak memory (ingest process): {peak_mb:.0f} MB  (goal <= 600 MB)")


if __name__ == "__main__":
    main()
