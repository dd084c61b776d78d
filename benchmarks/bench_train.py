"""Training throughput: the real input pipeline vs. the compute-bound ceiling, per phase.

Ingests the bundled samples into a temporary workspace, then for each phase,
in one run:

* default model (``--backbone mobilenet``): the backbone's pass over augmented
  views as `ocpipe train` makes it (decode -> matte -> letterbox -> cache ->
  augment with random backgrounds in parallel -> prefetch -> frozen MobileNet),
  against the same pass over the same (already augmented) images held in memory;
* ``--backbone simple``: model.fit of the from-scratch CNN through its pipeline
  against model.fit on the same augmented images as NumPy arrays.

Each is timed --repeats times, interleaved, and the best run counts. Prints
images/second of each and the ratio pipeline/ceiling (goal >= 0.8).

    python benchmarks/bench_train.py [--phases eyes headshot fullbody multi] [--backbone mobilenet] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phases", nargs="+", default=["eyes", "headshot", "fullbody", "multi"])
    parser.add_argument("--backbone", default="mobilenet", choices=("mobilenet", "simple"))
    parser.add_argument("--images", type=int, default=640, help="Augmented images per timed run.")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from ocpipe import config
    from ocpipe.data import background_bank, load_letterboxed, training_dataset
    from ocpipe.features import augmented_features, extractor, image_features
    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table, split_labels
    from ocpipe.model import make_model
    from ocpipe.samples import write_samples
    from ocpipe.train import _items, make_optimizer
    from ocpipe.workspace import Workspace

    print(f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}, backbone {args.backbone}, {args.images} images per run, "
          f"best of {args.repeats}")
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        workspace = Workspace.at(folder)
        write_samples(Path(folder) / "samples")
        ingest([Path(folder) / "samples"], workspace)
        manifest = read_table(workspace.manifest)
        for phase in args.phases:
            rows = [row for row in manifest if row["phase"] == phase]
            multi = phase == "multi"
            classes = sorted({name for row in rows for name in split_labels(row["labels"])})
            items = _items(rows, classes, multi)
            size = config.IMAGE_SIZES[phase]
            bank = background_bank(size, 0)
            letterboxed = load_letterboxed(workspace.root, items, size)
            views = max(1, -(-args.images // len(items)))
            count = views * len(items)
            keras.utils.set_random_seed(0)
            if args.backbone == "mobilenet":
                call = extractor(make_model((*size, 3), len(classes), multi, "mobilenet"))
                # The same augmented images, made once and held in memory: the ceiling.
                from ocpipe.data import augment_batch

                frames = np.stack([rgba for rgba, _ in letterboxed.as_numpy_iterator()])
                memory = np.concatenate([augment_batch(tf.constant(frames),
                                                       tf.constant([view, 0], tf.int64), tf.constant(bank)).numpy()
                                         for view in range(views)])

                def pipeline():
                    augmented_features(call, letterboxed, len(items), views, bank, 0, False)

                def ceiling():
                    image_features(call, memory)
            else:
                train = training_dataset(letterboxed, len(items), args.batch, 0, bank, False)
                steps = max(1, args.images // args.batch)
                batches = list(train.take(steps).as_numpy_iterator())
                images, targets = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
                count = steps * args.batch

                def fitted():
                    model = make_model((*size, 3), len(classes), multi, "simple")
                    model.compile(optimizer=make_optimizer(), loss="binary_crossentropy" if multi else "sparse_categorical_crossentropy")
                    return model

                through, held = fitted(), fitted()

                def pipeline():
                    through.fit(train, epochs=1, steps_per_epoch=steps, verbose=0)

                def ceiling():
                    held.fit(images, targets, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
            pipeline(), ceiling()  # warm-up: tracing, the cache fill
            best = {"pipeline": 0.0, "ceiling": 0.0}
            for _ in range(args.repeats):  # interleaved, best of N: this VM's speed wanders
                for name, run in (("pipeline", pipeline), ("ceiling", ceiling)):
                    start = time.perf_counter()
                    run()
                    best[name] = max(best[name], count / (time.perf_counter() - start))
            ratio = best["pipeline"] / best["ceiling"]
            ratios.append(ratio)
            print(f"{phase:9s} input {size[1]}x{size[0]}, {len(items)} frames: pipeline {best['pipeline']:6.1f} images/s, "
                  f"same images in memory {best['ceiling']:6.1f} images/s, ratio {ratio:.2f} (goal >= 0.8)", flush=True)
    print(f"lowest ratio pipeline/ceiling: {min(ratios):.2f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
