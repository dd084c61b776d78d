"""Demo latency against the live Gradio server on 127.0.0.1, in one run.

Trains a quick headshot model on the bundled samples in a temporary workspace,
serves the app, and drives it with gradio_client:

- median and p95 latency of /predict (prediction + Grad-CAM overlay) and of
  /scores (prediction alone), and their ratio (goal: overlay <= 2x prediction,
  median /predict <= 300 ms on 2 CPU cores at the headshot size);
- requests per second with 8 concurrent clients on /predict (the quiet run below), and failures (goal: none);
- the same clients' p50/p95 latency in a quiet run and in a run where hostile
  uploads arrive at the same time (a 400-megapixel PNG bomb, a 144-megapixel PNG,
  a PNG whose header lies, a text file named .png, a truncated PNG; --big adds
  honest 49-megapixel PNG and 48-megapixel JPEG uploads, which are answered), with
  the server's peak RSS (goal: p95 within 2x of the quiet run, RSS <= 2.5 GB,
  0 normal failures, every hostile upload answered within 10 s with its reason).

The server is `ocpipe demo` in its own process (every limit on), as a user starts
it; its peak RSS is read from /proc while the clients run here.

    python benchmarks/bench_demo.py [--requests 40] [--clients 8] [--attackers 2] [--big]
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PHASE = "headshot"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _timed(client, image: str, api: str) -> float:
    from gradio_client import handle_file

    start = time.perf_counter()
    client.predict(handle_file(image), PHASE, api_name=api)
    return time.perf_counter() - start


def _png(path: Path, width: int, height: int, rows: int | None = None) -> str:
    """A white RGB PNG streamed row by row; rows < height: the header claims more than the data holds."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\0" + b"\xff" * (width * 3)
    data = b"".join(compressor.compress(row) for _ in range(height if rows is None else rows)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return str(path)


def _hostile_files(folder: Path, big: bool) -> dict[str, str]:
    """name -> path of the uploads an attacker (or a careless visitor) sends."""
    from PIL import Image

    files = {
        "bomb 400 MP": _png(folder / "bomb.png", 20000, 20000),
        "white 144 MP": _png(folder / "white144.png", 12000, 12000),
        "header lies": _png(folder / "claims.png", 20000, 20000, rows=4),
    }
    (folder / "notes.png").write_text("not a picture\n")
    files["text as .png"] = str(folder / "notes.png")
    cut = Path(_png(folder / "whole.png", 640, 480))
    (folder / "cut.png").write_bytes(cut.read_bytes()[:-40])
    files["truncated"] = str(folder / "cut.png")
    if big:
        poster = Image.new("RGB", (7000, 7000), "white")
        poster.paste((200, 40, 40), (2500, 1500, 4500, 5500))
        poster.save(folder / "poster.png", compress_level=1)
        poster.resize((6000, 8000)).save(folder / "phone.jpg", quality=85)
        files["honest 49 MP PNG"] = str(folder / "poster.png")
        files["honest 48 MP JPEG"] = str(folder / "phone.jpg")
    return files


class _PeakRss:
    """A process's resident memory, sampled every 20 ms in a thread: .peak in MB."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) // 1024

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.now())

    def __enter__(self):
        self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _where(exc: BaseException) -> str:
    """The URL a failed HTTP call asked for, when the exception knows it."""
    try:
        return f"({exc.request.method} {exc.request.url.path})"
    except (AttributeError, RuntimeError):
        return ""


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40, help="sequential requests per endpoint")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--attackers", type=int, default=2, help="threads sending hostile uploads in the hostile run")
    parser.add_argument("--big", action="store_true", help="also send honest 48-49 megapixel uploads (answered, not refused)")
    args = parser.parse_args()

    from gradio_client import Client, handle_file

    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table
    from ocpipe.samples import write_samples
    from ocpipe.train import TrainOptions, train_phase
    from ocpipe.workspace import Workspace

    with tempfile.TemporaryDirectory() as folder:
        workspace = Workspace.at(folder)
        write_samples(Path(folder) / "samples")
        ingest([Path(folder) / "samples" / PHASE], workspace)
        train_phase(workspace, PHASE, TrainOptions(), log=lambda line: None)
        images = [str(workspace.absolute(row["path"])) for row in read_table(workspace.manifest) if row["split"] == "test"]

        hostile = _hostile_files(Path(folder), args.big)
        errors: list[str] = []  # what failed visitors were told
        port = _free_port()
        server = subprocess.Popen([str(Path(sys.executable).with_name("ocpipe")), "demo", "--port", str(port), "--workspace", folder],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
        try:
            url = f"http://127.0.0.1:{port}/"
            while True:  # wait for the server
                try:
                    with urllib.request.urlopen(url, timeout=2):
                        break
                except OSError:
                    if server.poll() is not None:
                        raise SystemExit("ocpipe demo exited before serving")
                    time.sleep(0.5)
            client = Client(url, verbose=False)
            for api in ("/predict", "/scores"):  # warm-up: graph tracing, first Grad-CAM model
                _timed(client, images[0], api)
            latency = {api: [_timed(client, images[i % len(images)], api) for i in range(args.requests)]
                       for api in ("/predict", "/scores")}

            def visitor(index: int) -> tuple[list[float], int]:
                own = Client(url, verbose=False)
                seconds, failed = [], 0
                for i in range(args.requests // 2):
                    try:
                        seconds.append(_timed(own, images[(index + i) % len(images)], "/predict"))
                    except Exception as exc:
                        failed += 1
                        errors.append(f"{type(exc).__name__}: {str(exc)[:200]} {_where(exc)}")
                return seconds, failed

            def attacker(stop: threading.Event) -> list[tuple[str, float, str]]:
                own = Client(url, verbose=False)
                answers = []
                while not stop.is_set():
                    for name, path in hostile.items():
                        begin = time.perf_counter()
                        try:
                            own.predict(handle_file(path), PHASE, api_name="/predict")
                            outcome = "answered"
                        except Exception as exc:
                            outcome = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                        answers.append((name, time.perf_counter() - begin, outcome))
                        if stop.is_set():
                            break
                return answers

            runs = {}
            for label, attackers in (("quiet", 0), ("hostile", args.attackers)):
                stop = threading.Event()
                with _PeakRss(server.pid) as memory, ThreadPoolExecutor(args.clients + attackers) as pool:
                    attacking = [pool.submit(attacker, stop) for _ in range(attackers)]
                    start = time.perf_counter()
                    results = list(pool.map(visitor, range(args.clients)))
                    elapsed = time.perf_counter() - start
                    stop.set()
                    answers = [answer for future in attacking for answer in future.result()]
                runs[label] = ([s for seconds, _ in results for s in seconds], sum(f for _, f in results), memory.peak, answers,
                               elapsed)
        finally:
            server.terminate()
            server.wait(timeout=30)

    explain_median, explain_p95 = _percentiles(latency["/predict"])
    plain_median, plain_p95 = _percentiles(latency["/scores"])
    # Throughput of the quiet run: every client's requests, one after another, all at once.
    done, failed, elapsed = len(runs["quiet"][0]), runs["quiet"][1], runs["quiet"][4]
    print(f"phase {PHASE}, {os.cpu_count()} CPUs, {args.requests} sequential requests per endpoint")
    print(f"/predict (prediction + Grad-CAM overlay): median {explain_median:6.1f} ms  p95 {explain_p95:6.1f} ms  (goal: median <= 300 ms)")
    print(f"/scores  (prediction alone):              median {plain_median:6.1f} ms  p95 {plain_p95:6.1f} ms")
    print(f"ratio overlay/plain (median): {explain_median / plain_median:.2f}  (goal <= 2.0)")
    print(f"{args.clients} concurrent clients: {done / elapsed:.1f} requests/s, {failed} failed of {done + failed}  (goal: 0 failed)")
    print()
    print(f"{args.clients} clients on /predict, quiet vs. while {args.attackers} attacker(s) send hostile uploads:")
    for label, (seconds, failures, peak, answers, _) in runs.items():
        p50, p95 = _percentiles(seconds)
        print(f"  {label:8s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  {failures} failed of {len(seconds) + failures}  "
              f"peak RSS {peak} MB  hostile uploads answered: {len(answers)}")
    quiet_p95, hostile_p95 = _percentiles(runs["quiet"][0])[1], _percentiles(runs["hostile"][0])[1]
    print(f"  p95 hostile/quiet: {hostile_p95 / quiet_p95:.2f}  (goal <= 2.0); peak RSS {max(r[2] for r in runs.values())} MB "
          "(goal <= 2560, the server process)")
    for error, count in sorted(Counter(errors).items(), key=lambda item: -item[1])[:5]:
        print(f"  failure x{count}: {error}")
    by_name: dict[str, list[tuple[float, str]]] = {}
    for name, seconds, outcome in runs["hostile"][3]:
        by_name.setdefault(name, []).append((seconds, outcome))
    for name, answers in by_name.items():
        slowest = max(seconds for seconds, _ in answers)
        print(f"  {name:18s} x{len(answers):<3d} slowest {slowest:5.2f} s (goal <= 10)  -> {answers[0][1][:90]}")


if __name__ == "__main__":
    main()
