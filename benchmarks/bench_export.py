"""The exported static site in headless chromium, beside `ocpipe predict`, in one run.

Trains fullbody and headshot models on the bundled samples in a temporary
workspace (or uses --workspace, e.g. after `make demo`), exports the site, serves
it with a plain static file server on 127.0.0.1 and measures:

- the exported size (what a visitor downloads once; and gzipped, what a host that
  compresses sends);
- page load to `window.ocpipe.ready`, cold (a new browser profile each time: the
  runtime and model are fetched and compiled again);
- per image, `window.ocpipe.classify(url, phase)` in the page (read + preprocess +
  network + head, open set and Grad-CAM), on every test-split frame;
- beside it, for the same images in the same run: `ocpipe predict --json` as a
  command (what a user waits for: start, model load, every image), and per image
  the library's Predictor.predict_path (prediction) and explain_rgba (prediction +
  Grad-CAM overlay), warm;
- the largest score difference between page and predict (goal: <= 0.01).

Requests outside 127.0.0.1 are blocked and counted (goal: none).

    python benchmarks/bench_export.py [--workspace DIR] [--loads 3]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PHASES = ("fullbody", "headshot")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


class _Server(http.server.ThreadingHTTPServer):
    """A plain static file server that doesn't print a traceback when the browser drops a connection."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _trained_workspace(folder: Path):
    from ocpipe.ingest import ingest
    from ocpipe.samples import write_samples
    from ocpipe.train import TrainOptions, train_phase
    from ocpipe.workspace import Workspace

    workspace = Workspace.at(folder / "ws")
    write_samples(folder / "samples")
    ingest([folder / "samples" / phase for phase in PHASES], workspace)
    for phase in PHASES:
        started = time.perf_counter()
        train_phase(workspace, phase, TrainOptions(seed=0), log=lambda line: None)
        print(f"trained {phase} on the samples in {time.perf_counter() - started:.0f} s")
    return workspace


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms (p90 {sorted(values)[int(0.9 * (len(values) - 1))]:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="a trained workspace (default: train on the samples)")
    parser.add_argument("--loads", type=int, default=3, help="cold page loads to time")
    options = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit("needs Debian's chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    from ocpipe.explain import explain_rgba
    from ocpipe.export import export_web
    from ocpipe.manifest import read_table
    from ocpipe.predict import Predictor
    from ocpipe.readers import read_picture
    from ocpipe.workspace import Workspace

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        workspace = Workspace.at(options.workspace) if options.workspace else _trained_workspace(folder)
        started = time.perf_counter()
        result = export_web(workspace, folder / "site", log=lambda line: None)
        print(f"export: {time.perf_counter() - started:.1f} s, phases {', '.join(result.phases)}")
        site = result.out_dir
        compressed = sum(len(gzip.compress((site / name).read_bytes(), 6)) for name in result.files)
        print(f"site: {result.total_bytes / 1e6:.1f} MB in {len(result.files)} files (runtime "
              f"{result.bytes_under('runtime/') / 1e6:.1f} MB, models {result.bytes_under('models/') / 1e6:.1f} MB, examples "
              f"{result.bytes_under('examples/') / 1e6:.1f} MB); gzipped {compressed / 1e6:.1f} MB")

        rows = [row for row in read_table(workspace.manifest) if row["split"] == "test" and row["phase"] in result.phases]
        probes = []
        (site / "probes").mkdir()
        for index, row in enumerate(rows):
            name = f"probes/{index:03d}.png"
            shutil.copyfile(workspace.absolute(row["path"]), site / name)
            probes.append((name, row["phase"]))

        server = _Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        loads, page_times, parts, answers, blocked = [], [], {}, [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            for _ in range(options.loads):
                context = browser.new_context()  # a fresh profile: nothing cached
                page = context.new_page()
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
                           else (blocked.append(route.request.url), route.abort()))
                page.goto(url)
                loads.append(page.evaluate("window.ocpipe.ready.then(() => performance.now())"))
                context.close()
            context = browser.new_context()
            page = context.new_page()
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
                       else (blocked.append(route.request.url), route.abort()))
            page.goto(url)
            page.evaluate("window.ocpipe.ready")
            page.evaluate("([u, p]) => window.ocpipe.classify(u, p)", list(probes[0]))  # warm-up
            for name, phase in probes:
                answer = page.evaluate("async ([u, p]) => { const t = performance.now(); const r = await window.ocpipe.classify(u, p);"
                                       " r.total = performance.now() - t; return r; }", [name, phase])
                page_times.append(answer["total"])
                for key, value in answer["timings_ms"].items():
                    parts.setdefault(key, []).append(value)
                answers.append(answer)
            browser.close()
        server.shutdown()

        command_seconds, predict_times, explain_times, worst = {}, [], [], 0.0
        for phase in result.phases:
            mine = [(name, answer) for (name, p), answer in zip(probes, answers) if p == phase]
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "ocpipe.cli", "predict", *[str(site / name) for name, _ in mine],
                                   "--phase", phase, "--workspace", str(workspace.root), "--json"],
                                  capture_output=True, text=True, check=True)
            command_seconds[phase] = (time.perf_counter() - started, len(mine))
            for (_, answer), line in zip(mine, done.stdout.splitlines()):
                expected = json.loads(line)
                worst = max(worst, max(abs(answer["scores"][k] - v) for k, v in expected["scores"].items()))
            predictor = Predictor.load(workspace, phase)
            predictor.predict_path(site / mine[0][0])  # warm-up
            explain_rgba(predictor, read_picture(site / mine[0][0], 1024).rgba)
            for name, _ in mine:
                started = time.perf_counter()
                predictor.predict_path(site / name)
                predict_times.append(1000 * (time.perf_counter() - started))
                started = time.perf_counter()
                explain_rgba(predictor, read_picture(site / name, 1024).rgba)
                explain_times.append(1000 * (time.perf_counter() - started))

    print(f"page load to ready (cold, {len(loads)} loads): median {statistics.median(loads):.0f} ms, "
          f"min {min(loads):.0f}, max {max(loads):.0f}")
    print(f"page classify + heat map per image ({len(page_times)} test frames): {_median(page_times)}; "
          + ", ".join(f"{key} {statistics.median(values):.1f}" for key, values in parts.items()))
    print(f"library per image, same frames: predict {_median(predict_times)}, predict + Grad-CAM overlay {_median(explain_times)}")
    for phase, (seconds, count) in command_seconds.items():
        print(f"`ocpipe predict --json` ({phase}, {count} images, one command): {seconds:.1f} s")
    print(f"largest score difference page vs predict: {worst:.2g} (goal <= 0.01); requests blocked: {len(blocked)}")


if __name__ == "__main__":
    main()
