"""Training throughput: the real tf.data pipeline vs. the compute-bound ceiling.

Ingests the bundled samples of one phase into a temporary workspace, then fits
the default model for the same number of steps twice, in one run:

1. through ocpipe's pipeline (decode -> crop -> letterbox -> cache -> shuffle ->
   augment with random backgrounds -> prefetch), as `ocpipe train` does;
2. on the same (already augmented) images in memory as NumPy arrays, both with
   model.fit(x, y) and as a tf.data of tensors; the faster is the ceiling.

Each is timed --repeats times, interleaved, and the best run counts. Prints
images/second of each and the ratio pipeline/ceiling (goal >= 0.8).

    python benchmarks/bench_train.py [--phase fullbody] [--steps 40] [--batch 32] [--repeats 3]
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
    parser.add_argument("--phase", default="fullbody", choices=("eyes", "headshot", "fullbody"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from ocpipe import config
    from ocpipe.data import background_bank, load_letterboxed, training_dataset
    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table
    from ocpipe.model import make_model
    from ocpipe.samples import write_samples
    from ocpipe.train import _items, _rows_by_split, make_optimizer
    from ocpipe.workspace import Workspace

    with tempfile.TemporaryDirectory() as folder:
        workspace = Workspace.at(folder)
        write_samples(Path(folder) / "samples")
        ingest([Path(folder) / "samples" / args.phase], workspace)
        rows = [row for row in read_table(workspace.manifest) if row["phase"] == args.phase]
        classes = sorted({row["labels"] for row in rows})
        items = _items(_rows_by_split(rows)["train"], classes, False)
        size = config.IMAGE_SIZES[args.phase]
        bank = background_bank(size, 0)
        pipeline = training_dataset(load_letterboxed(workspace.root, items, size), len(items), args.batch, 0, bank, False)

        def model():
            keras.utils.set_random_seed(0)
            built = make_model((*size, 3), len(classes))
            built.compile(optimizer=make_optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            return built

        batches = list(pipeline.take(args.steps).as_numpy_iterator())
        images = np.concatenate([b[0] for b in batches])
        targets = np.concatenate([b[1] for b in batches])
        in_memory = tf.data.Dataset.from_tensor_slices((images, targets)).batch(args.batch).repeat().prefetch(2)
        runs = {
            "pipeline": (pipeline, {"steps_per_epoch": args.steps}),
            "numpy": (images, {"y": targets, "batch_size": args.batch, "shuffle": False}),
            "in_memory": (in_memory, {"steps_per_epoch": args.steps}),
        }
        models = {name: model() for name in runs}
        for name, (data, kwargs) in runs.items():  # warm-up: tracing, the cache fill
            models[name].fit(data, epochs=1, verbose=0, **kwargs)
        best = {name: 0.0 for name in runs}
        for _ in range(args.repeats):  # interleaved, best of N: this VM's speed wanders
            for name, (data, kwargs) in runs.items():
                start = time.perf_counter()
                models[name].fit(data, epochs=1, verbose=0, **kwargs)
                best[name] = max(best[name], args.steps * args.batch / (time.perf_counter() - start))
        pipeline_rate = best["pipeline"]
        ceiling_rate = max(best["numpy"], best["in_memory"])

    print(f"phase {args.phase}: input {size[1]}x{size[0]}, {len(items)} training frames, "
          f"{args.steps} steps of {args.batch}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}")
    print(f"ocpipe pipeline (decode, matte, letterbox, augment): {pipeline_rate:7.1f} images/s")
    print(f"same images in memory, model.fit(numpy arrays):      {best['numpy']:7.1f} images/s")
    print(f"same images in memory, tf.data from tensors:          {best['in_memory']:7.1f} images/s")
    print(f"ratio pipeline/ceiling (the faster in-memory run):    {pipeline_rate / ceiling_rate:.2f}  (goal >= 0.8)")


if __name__ == "__main__":
    main()
