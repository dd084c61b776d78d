"""Time to the first result: what `make demo` does, stage by stage, timed.

Runs the same commands as the Makefile's demo recipe in a fresh workspace
(`ocpipe samples`, `ocpipe ingest`, `ocpipe report`, `ocpipe train`, then
`ocpipe demo` until its page answers) as separate processes, the way a new user
runs them, and prints each stage's seconds, each phase's training seconds and
held-out figures from its metrics.json (so speed and accuracy are read
together), and the total. Goal: the app answers within 600 s on 2 cores.

    python benchmarks/bench_first_result.py [--keep DIR] [--port 7861]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

GOAL_SECONDS = 600


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", type=Path, default=None, help="Run in this folder and keep it.")
    parser.add_argument("--port", type=int, default=7861)
    args = parser.parse_args()
    ocpipe = str(Path(sys.executable).with_name("ocpipe"))
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.keep or scratch)
        root.mkdir(parents=True, exist_ok=True)
        stages: list[tuple[str, float]] = []

        def run(name: str, *command: str) -> None:
            started = time.perf_counter()
            subprocess.run([ocpipe, *command], cwd=root, check=True, stdout=subprocess.DEVNULL)
            stages.append((name, time.perf_counter() - started))
            print(f"{name:8s} {stages[-1][1]:7.1f} s", flush=True)

        run("samples", "samples", "samples")
        run("ingest", "ingest", "samples")
        run("report", "report")
        run("train", "train")
        started = time.perf_counter()
        server = subprocess.Popen([ocpipe, "demo", "--port", str(args.port)], cwd=root, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{args.port}/", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    if server.poll() is not None:
                        raise SystemExit("ocpipe demo exited before serving")
                    time.sleep(0.5)
            stages.append(("app up", time.perf_counter() - started))
            print(f"{'app up':8s} {stages[-1][1]:7.1f} s", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
        for phase in ("eyes", "headshot", "fullbody", "multi"):
            path = root / "models" / phase / "metrics.json"
            if not path.exists():
                continue
            metrics = json.loads(path.read_text())
            score = (f"test micro-F1 {metrics['test_micro_f1']:.1%}" if "test_micro_f1" in metrics and metrics["test_micro_f1"] is not None
                     else f"{'out-of-fold' if metrics.get('regime') == 'cross-validation' else 'test'} accuracy "
                          f"{metrics.get('test_accuracy') or 0:.1%} (colour baseline {metrics['baseline'].get('test_accuracy') or 0:.1%})")
            print(f"  {phase:9s} trained in {metrics.get('train_seconds', 0):6.1f} s, {metrics.get('regime')}: {score}")
        total = sum(seconds for _, seconds in stages)
        print(f"total to the app answering: {total:.0f} s on {os.cpu_count()} CPUs (goal <= {GOAL_SECONDS} s): "
              f"ratio {total / GOAL_SECONDS:.2f} of the goal")


if __name__ == "__main__":
    main()
