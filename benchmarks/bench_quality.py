"""Accuracy on animations the model never saw, against the colour baseline.

The bundled samples' own test split holds only a few animations per character
(one wrong frame moves test accuracy by several points), so this benchmark
trains the default model of one phase on the samples exactly as `ocpipe
train` does, then scores it on other animations of the same characters
(`write_samples(variant=N)`: other clips, formats, placements, backgrounds and
tilts), ingested into a second workspace so held copies are dropped as they
would be for real input. It prints, per training seed, the test accuracy from
metrics.json, the accuracy on the held-out animations through the prediction
path (`ocpipe predict`), and the colour-histogram baseline on the same frames.

    python benchmarks/bench_quality.py [--phase fullbody] [--seeds 0 1] [--variants 1 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", default="fullbody", choices=("eyes", "headshot", "fullbody"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the workspaces (and the last model) in this folder.")
    args = parser.parse_args()

    import numpy as np

    from ocpipe.quiet import quiet_tensorflow

    quiet_tensorflow()
    from ocpipe import config
    from ocpipe.baseline import colour_histogram, nearest_centroid
    from ocpipe.data import letterboxed_for_prediction, read_rgba
    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table
    from ocpipe.predict import Predictor
    from ocpipe.samples import write_samples
    from ocpipe.train import TrainOptions, train_phase
    from ocpipe.workspace import Workspace

    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or scratch
        train_ws, heldout_ws = Workspace.at(Path(folder) / "train"), Workspace.at(Path(folder) / "heldout")
        ingest([*write_samples(Path(folder) / "samples", phases=(args.phase,))], train_ws)
        raw = [path for variant in args.variants
               for path in write_samples(Path(folder) / f"heldout-{variant}", phases=(args.phase,), variant=variant)]
        ingest(raw, heldout_ws)
        train_rows = [row for row in read_table(train_ws.manifest) if row["phase"] == args.phase]
        heldout = [row for row in read_table(heldout_ws.manifest) if row["phase"] == args.phase]
        print(f"{args.phase}: {len(train_rows)} sample frames "
              f"({Counter(row['split'] for row in train_rows)}); "
              f"{len(heldout)} held-out frames from {len({row['source_id'] for row in heldout})} unseen animations")

        size = config.IMAGE_SIZES[args.phase]

        def histogram(path: Path) -> np.ndarray:  # the colour baseline, on what prediction sees
            return colour_histogram(letterboxed_for_prediction(read_rgba(path), size)[0].numpy())

        classes = sorted({row["labels"] for row in train_rows}, key=str.lower)
        training = [row for row in train_rows if row["split"] == "train"]
        train_hist = np.stack([histogram(train_ws.root / row["path"]) for row in training])
        train_truth = np.array([classes.index(row["labels"]) for row in training])
        heldout_hist = np.stack([histogram(heldout_ws.root / row["path"]) for row in heldout])
        truth = np.array([classes.index(row["labels"]) for row in heldout])
        baseline = float(np.mean(nearest_centroid(train_hist, train_truth, len(classes), heldout_hist) == truth))
        kinds = np.array([row["background"] for row in heldout])

        results = []
        for seed in args.seeds:
            options = TrainOptions(seed=seed) if args.epochs is None else TrainOptions(seed=seed, epochs=args.epochs)
            started = time.time()
            result = train_phase(train_ws, args.phase, options, log=lambda line: None)
            seconds = time.time() - started
            predictor = Predictor.load(train_ws, args.phase)
            predicted = [predictor.predict_path(heldout_ws.root / row["path"])["top"] for row in heldout]
            correct = np.array([p == row["labels"] for p, row in zip(predicted, heldout)])
            per_class = {name: f"{correct[truth == i].mean():.0%}" for i, name in enumerate(classes)}
            per_kind = {str(kind): f"{correct[kinds == kind].mean():.0%} of {np.sum(kinds == kind)}" for kind in sorted(set(kinds))}
            confused = Counter((row["labels"], p) for p, row in zip(predicted, heldout) if p != row["labels"]).most_common(3)
            results.append(correct.mean())
            print(f"seed {seed}: samples test {result.metrics['test_accuracy']:.1%}, held-out {correct.mean():.1%} "
                  f"(baseline {baseline:.1%}) in {seconds:.0f} s, {result.metrics['epochs_run']} epochs; "
                  f"per class {per_class}; per background {per_kind}; most confused {confused}")
        print(f"held-out accuracy: mean {np.mean(results):.1%}, min {np.min(results):.1%} over seeds {args.seeds}; "
              f"colour baseline {baseline:.1%}; ratio CNN/baseline {np.mean(results) / max(baseline, 1e-9):.2f}")


if __name__ == "__main__":
    main()
