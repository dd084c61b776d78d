"""Demo latency against the live Gradio server on 127.0.0.1, in one run.

Trains a quick headshot model on the bundled samples in a temporary workspace,
serves the app, and drives it with gradio_client:

- median and p95 latency of /predict (prediction + Grad-CAM overlay) and of
  /scores (prediction alone), and their ratio (goal: overlay <= 2x prediction,
  median /predict <= 300 ms on 2 CPU cores at the headshot size);
- requests per second with 8 concurrent clients on /predict, and failures (goal: none).

    python benchmarks/bench_demo.py [--requests 40] [--clients 8]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
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


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40, help="sequential requests per endpoint")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    from gradio_client import Client

    from ocpipe.app import build_demo
    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table
    from ocpipe.samples import write_samples
    from ocpipe.train import TrainOptions, train_phase
    from ocpipe.workspace import Workspace

    with tempfile.TemporaryDirectory() as folder:
        workspace = Workspace.at(folder)
        write_samples(Path(folder) / "samples")
        ingest([Path(folder) / "samples" / PHASE], workspace)
        train_phase(workspace, PHASE, TrainOptions(epochs=3), log=lambda line: None)
        images = [str(workspace.absolute(row["path"])) for row in read_table(workspace.manifest) if row["split"] == "test"]

        demo = build_demo(folder)
        port = _free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        try:
            url = f"http://127.0.0.1:{port}/"
            client = Client(url, verbose=False)
            for api in ("/predict", "/scores"):  # warm-up: graph tracing, first Grad-CAM model
                _timed(client, images[0], api)
            latency = {api: [_timed(client, images[i % len(images)], api) for i in range(args.requests)]
                       for api in ("/predict", "/scores")}

            def worker(index: int) -> tuple[int, int]:
                own = Client(url, verbose=False)
                ok = failed = 0
                for i in range(args.requests // 2):
                    try:
                        _timed(own, images[(index + i) % len(images)], "/predict")
                        ok += 1
                    except Exception:
                        failed += 1
                return ok, failed

            start = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                outcomes = list(pool.map(worker, range(args.clients)))
            elapsed = time.perf_counter() - start
        finally:
            demo.close()

    explain_median, explain_p95 = _percentiles(latency["/predict"])
    plain_median, plain_p95 = _percentiles(latency["/scores"])
    done = sum(ok for ok, _ in outcomes)
    failed = sum(bad for _, bad in outcomes)
    print(f"phase {PHASE}, {os.cpu_count()} CPUs, {args.requests} sequential requests per endpoint")
    print(f"/predict (prediction + Grad-CAM overlay): median {explain_median:6.1f} ms  p95 {explain_p95:6.1f} ms  (goal: median <= 300 ms)")
    print(f"/scores  (prediction alone):              median {plain_median:6.1f} ms  p95 {plain_p95:6.1f} ms")
    print(f"ratio overlay/plain (median): {explain_median / plain_median:.2f}  (goal <= 2.0)")
    print(f"{args.clients} concurrent clients: {done / elapsed:.1f} requests/s, {failed} failed of {done + failed}  (goal: 0 failed)")


if __name__ == "__main__":
    main()
