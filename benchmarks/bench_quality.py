"""Accuracy on drawings the model never saw, beside the colour baseline, and the
open-set answer on both sides (her unseen frames recognised and right; images
of none of her characters rejected), beside plain top-score thresholding.

Two sets:

* ``--set samples`` (default): the default model of a phase is trained on the
  bundled samples exactly as `ocpipe train` does, then scored on other
  animations of the same characters (`write_samples(variant=N)`: other clips,
  formats, placements, backgrounds, tilts), ingested into a second workspace so
  held copies are dropped as they would be for real input. Non-characters: the
  report's fixed set (blank and flat canvases, empty scenes, the bundled
  character the samples never use).
* ``--set real-art``: real drawn characters nobody here drew (painted Battle for
  Wesnoth portraits, anime Ren'Py and Ardentryst sprites, from Debian packages;
  see benchmarks/real_art/build.py and its licences). 7 characters with 3-5
  drawings each become sources the way she exports them (stills over
  transparency or a background, short GIF/WebP/MP4 loops); other outfits, ages,
  poses and artists of each are held back as new drawings. Non-characters: 31
  painted and 10 anime characters of the same games, silhouettes, backgrounds,
  blank and flat canvases. Phases headshot and eyes. Needs `apt-get` (Debian)
  the first time, to fetch the packages (~300 MB, cached in --proxies).

Prints, per seed: ocpipe's accuracy on the unseen drawings, the colour-histogram
nearest-centroid baseline on the same drawings, open-set figures (with the best
recognised-and-right any threshold gives while rejecting 80% of non-characters:
how far the calibrated rule is from what the scores allow), training time; and
the share of 27 photos, scans and patterns rejected (the pictures
scikit-image's wheel ships, fetched once with `pip download`; kept out of the
non-character figures).

    python benchmarks/bench_quality.py [--set samples] [--phase fullbody] [--seeds 0 1]
    python benchmarks/bench_quality.py --set real-art --phase headshot [--proxies DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


# The goal for non-characters rejected; the oracle figure asks how many unseen
# frames any threshold could keep recognised and right while rejecting this many.
GOAL_REJECTED = 0.8


def best_at_rejection(scores, negative_scores, right, rejected: float = GOAL_REJECTED) -> float:
    """The highest share of `scores` (unseen real frames) at or over a threshold and
    `right`, over all thresholds that leave at least `rejected` of `negative_scores` under it."""
    import numpy as np

    options = [np.mean((scores >= t) & right) for t in np.unique(np.concatenate([scores, negative_scores, [np.inf]]))
               if np.mean(negative_scores < t) >= rejected]
    return float(max(options, default=0.0))


def _samples(phase: str, folder: Path):
    """(training workspace, held-out frames as (path, character), negatives as (kind, RGBA))."""
    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table
    from ocpipe.openset import evaluation_negatives
    from ocpipe.samples import write_samples
    from ocpipe.workspace import Workspace

    train_ws, heldout_ws = Workspace.at(folder / "train"), Workspace.at(folder / "heldout")
    ingest([*write_samples(folder / "samples", phases=(phase,))], train_ws)
    ingest([path for variant in (1, 2) for path in write_samples(folder / f"heldout-{variant}", phases=(phase,), variant=variant)],
           heldout_ws)
    heldout = [(heldout_ws.root / row["path"], row["labels"]) for row in read_table(heldout_ws.manifest) if row["phase"] == phase]
    return train_ws, heldout, evaluation_negatives(phase)


def _real_art(phase: str, folder: Path, proxies: Path):
    """The real-art proxy as a workspace of sources (one per training drawing, in
    rotating export formats and backgrounds), held-out drawings and negatives."""
    import numpy as np
    from PIL import Image

    from ocpipe import backgrounds, samples
    from ocpipe.data import read_rgba
    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table
    from ocpipe.workspace import Workspace

    if not (proxies / phase / "manifest.csv").exists():
        subprocess.run([sys.executable, str(HERE / "real_art" / "build.py"), "--out", str(proxies),
                        "--pkgdir", str(proxies / "pkgs"), "--no-sheets"], check=True)
    rows = read_table(proxies / phase / "manifest.csv")
    workspace = Workspace.at(folder / "train")
    formats = ("still.png", ".gif", "still.jpg", ".mp4", ".webp", ".apng")
    kinds = ("solid", "gradient", "scene", "noise")
    for index, row in enumerate(r for r in rows if r["split"] == "train"):
        rgba = read_rgba(proxies / phase / row["file"])
        fmt = formats[index % len(formats)]
        rng = np.random.default_rng(index)
        # A short expression loop: the drawing breathing (a little scale and bob), held on twos.
        frames = []
        for step in range(6 if not fmt.startswith("still") else 1):
            scale = 1.0 + 0.02 * np.sin(step / 6 * 2 * np.pi)
            size = (max(1, round(rgba.shape[1] * scale)), max(1, round(rgba.shape[0] * scale)))
            canvas = np.zeros((rgba.shape[0] + 8, rgba.shape[1] + 8, 4), np.uint8)
            grown = np.asarray(Image.fromarray(rgba).resize(size, Image.BILINEAR))
            backgrounds.paste(canvas, grown, 4 - (size[0] - rgba.shape[1]) // 2, 4 + step % 2 - (size[1] - rgba.shape[0]) // 2)
            frames += [canvas, canvas]
        opaque = fmt in (".mp4", "still.jpg") or (fmt == "still.png" and index % 2)
        background = backgrounds.random_background(frames[0].shape[0], frames[0].shape[1], rng, kinds[index % len(kinds)]) if opaque else None
        if background is not None and fmt == "still.png":
            frames = [np.dstack([backgrounds.compose(frame, background), np.full(frame.shape[:2], 255, np.uint8)]) for frame in frames]
            background = None
        target = workspace.raw / phase / row["character"] / Path(row["file"]).stem
        target.parent.mkdir(parents=True, exist_ok=True)
        samples._write(target, fmt, frames, background)
    result = ingest([workspace.raw], workspace)
    if result.failures:
        raise SystemExit(f"real-art ingest failed: {result.failures}")
    heldout = [(proxies / phase / row["file"], row["character"]) for row in rows if row["split"] == "heldout"]
    if phase == "eyes":
        negative_rows = [(row["file"], row.get("kind", "negative")) for row in rows if row["split"] == "negative"]
        negatives = [(kind, read_rgba(proxies / phase / file)) for file, kind in negative_rows]
    else:
        negative_rows = read_table(proxies / "negatives" / "manifest.csv")
        negatives = [(row["kind"], read_rgba(proxies / "negatives" / row["file"])) for row in negative_rows]
    return workspace, heldout, negatives


# Photos, scans and patterns that a registry package ships inside itself (scikit-image's
# wheel, BSD-3 with per-image licences listed in it): scored apart from the non-characters
# above, as a check that the open-set rule refuses pictures that aren't drawings at all.
PHOTOS_WHEEL = "scikit-image==0.26.0"


def _photos(proxies: Path) -> list[tuple[str, object]]:
    """(file name, RGBA) of every picture in skimage/data of PHOTOS_WHEEL, fetched once
    with `pip download` into `proxies`/pkgs (nothing is installed); [] when offline."""
    import zipfile

    from ocpipe.readers import read_picture

    folder = proxies / "pkgs" / "photos"
    if not folder.exists():
        wheels = proxies / "pkgs" / "wheels"
        done = subprocess.run([sys.executable, "-m", "pip", "download", PHOTOS_WHEEL, "--no-deps", "--only-binary", ":all:",
                               "-q", "-d", str(wheels)], capture_output=True, text=True)
        found = sorted(wheels.glob("scikit_image-*.whl"))
        if done.returncode or not found:
            print(f"photos: can't download {PHOTOS_WHEEL} ({done.stderr.strip()[-200:]}); skipping them")
            return []
        staging = folder.with_name("photos.partial")
        staging.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(found[-1]) as wheel:
            for name in wheel.namelist():
                if name.startswith("skimage/data/") and name.endswith((".png", ".jpg", ".gif")):
                    (staging / Path(name).name).write_bytes(wheel.read(name))
        staging.rename(folder)
    return [(path.name, read_picture(path, 1024).rgba) for path in sorted(folder.iterdir())]


# Negative kinds that show a character (the others folder's half is taken from these).
_CHARACTER_KINDS = ("painted_character", "anime_character", "other character", "negative")


def _split_others(workspace, phase: str, negatives: list, use: bool) -> list:
    """Take every second image of the other-character negatives (a fixed half) out
    of the scored set; with `use`, write them into the workspace's others folder
    (others.py) as PNGs. Returns the negatives left to score."""
    from PIL import Image

    characters = [index for index, (kind, _) in enumerate(negatives) if kind in _CHARACTER_KINDS]
    given = set(characters[::2])
    if use:
        folder = workspace.others(phase)
        folder.mkdir(parents=True, exist_ok=True)
        for index in sorted(given):
            Image.fromarray(negatives[index][1]).save(folder / f"other_{index:03d}.png")
    print(f"others: {len(given)} other-character images {'in ' + str(workspace.others(phase)) if use else 'held out'}; "
          f"scoring on the other {len(negatives) - len(given)} non-character images")
    return [negative for index, negative in enumerate(negatives) if index not in given]


def _multi(folder: Path, seeds: list[int], backbone: str) -> None:
    """multi: trained on the samples (scenes, plus synthetic scenes from the other
    phases' transparent train frames), scored on the variants' scenes (unseen):
    micro-F1 of `predict`'s labels."""
    import numpy as np

    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table, split_labels
    from ocpipe.predict import Predictor
    from ocpipe.samples import write_samples
    from ocpipe.train import TrainOptions, train_phase
    from ocpipe.workspace import Workspace

    train_ws, heldout_ws = Workspace.at(folder / "train"), Workspace.at(folder / "heldout")
    ingest([*write_samples(folder / "samples")], train_ws)
    ingest([path for variant in (1, 2, 3) for path in write_samples(folder / f"heldout-{variant}", phases=("multi",), variant=variant)],
           heldout_ws)
    scenes = [row for row in read_table(heldout_ws.manifest) if row["phase"] == "multi"]
    print(f"samples/multi: {sum(row['phase'] == 'multi' for row in read_table(train_ws.manifest))} training scenes; "
          f"{len(scenes)} unseen scenes")
    for seed in seeds:
        started = time.time()
        result = train_phase(train_ws, "multi", TrainOptions(seed=seed, backbone=backbone), log=lambda line: None)
        seconds = time.time() - started
        predictor = Predictor.load(train_ws, "multi")
        true_positive = false_positive = false_negative = 0
        for row in scenes:
            said = set(predictor.predict_path(heldout_ws.root / row["path"])["labels"])
            truth = set(split_labels(row["labels"]))
            true_positive += len(said & truth)
            false_positive += len(said - truth)
            false_negative += len(truth - said)
        f1 = 2 * true_positive / max(2 * true_positive + false_positive + false_negative, 1)
        print(f"seed {seed}: test micro-F1 {result.metrics['test_micro_f1']:.1%}; unseen scenes micro-F1 {f1:.1%}; "
              f"{result.metrics['synthetic_train_frames']} synthetic scenes; trained in {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", dest="which", default="samples", choices=("samples", "real-art"))
    parser.add_argument("--phase", default="fullbody", choices=("eyes", "headshot", "fullbody", "multi"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--proxies", type=Path, default=Path(tempfile.gettempdir()) / "ocpipe-real-art",
                        help="Where the real-art proxy is built (and cached).")
    parser.add_argument("--regime", default="auto")
    parser.add_argument("--backbone", default="mobilenet", help="'mobilenet' (default model) or 'simple' (the from-scratch CNN).")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the workspaces (and the last model) in this folder.")
    parser.add_argument("--others", default="off", choices=("off", "held", "used"),
                        help="Her 'not mine' folder: 'held' leaves a fixed half of the other-character negatives out of "
                             "the scoring; 'used' also puts that half in data/others/<phase> (compare the two).")
    args = parser.parse_args()

    import numpy as np

    from ocpipe.quiet import quiet_tensorflow

    quiet_tensorflow()
    from ocpipe import config
    from ocpipe.baseline import colour_histogram, nearest_centroid
    from ocpipe.data import letterboxed_for_prediction, read_rgba
    from ocpipe.manifest import read_table
    from ocpipe.openset import rejection_by_kind
    from ocpipe.predict import Predictor
    from ocpipe.train import TrainOptions, choose_regime, train_phase

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.keep or scratch)
        if args.phase == "multi":
            return _multi(folder, args.seeds, args.backbone)
        if args.which == "samples":
            workspace, heldout, negatives = _samples(args.phase, folder)
        else:
            workspace, heldout, negatives = _real_art(args.phase, folder, args.proxies)
        if args.others != "off":
            negatives = _split_others(workspace, args.phase, negatives, args.others == "used")
        photos = _photos(args.proxies)
        rows = [row for row in read_table(workspace.manifest) if row["phase"] == args.phase]
        classes = sorted({row["labels"] for row in rows}, key=str.lower)
        sources = Counter(row["labels"] for row in read_table(workspace.sources) if row["phase"] == args.phase)
        print(f"{args.which}/{args.phase}: {len(classes)} characters, "
              f"sources per character {dict(sources)}, {len(rows)} frames; {len(heldout)} unseen drawings/frames; "
              f"{len(negatives)} non-character images ({dict(Counter(kind for kind, _ in negatives))})")

        size = config.IMAGE_SIZES[args.phase]

        def histogram(rgba) -> np.ndarray:  # the colour baseline, on what prediction sees
            return colour_histogram(letterboxed_for_prediction(rgba, size)[0].numpy())

        truth = np.array([classes.index(name) for _, name in heldout])
        heldout_hist = np.stack([histogram(read_rgba(path)) for path, _ in heldout])
        # The baseline learns from what the model learns from: every frame under cross-validation, else the train split.
        regime, _ = choose_regime(rows, False, args.backbone, args.regime)
        learned = [row for row in rows if regime == "cross-validation" or row["split"] == "train"]
        train_hist = np.stack([histogram(read_rgba(workspace.root / row["path"])) for row in learned])
        train_truth = np.array([classes.index(row["labels"]) for row in learned])
        baseline = float(np.mean(nearest_centroid(train_hist, train_truth, len(classes), heldout_hist) == truth))
        results = []
        for seed in args.seeds:
            started = time.time()
            result = train_phase(workspace, args.phase, TrainOptions(seed=seed, regime=args.regime, backbone=args.backbone),
                                 log=lambda line: None)
            seconds = time.time() - started
            predictor = Predictor.load(workspace, args.phase)
            answers = [predictor.predict_path(path) for path, _ in heldout]
            right = np.array([answer["top"] == name for answer, (_, name) in zip(answers, heldout)])
            recognised = np.array([answer["recognised"] for answer in answers])
            top = np.array([max(answer["scores"].values()) for answer in answers])
            negative_answers = [predictor.predict_rgba(rgba) for _, rgba in negatives]
            rejected = np.array([not answer["recognised"] for answer in negative_answers])
            negative_top = np.array([0.0 if answer.get("blank") else max(answer["scores"].values()) for answer in negative_answers])
            # Plain top-score thresholding that keeps as many unseen frames recognised.
            threshold = np.quantile(top, 1 - recognised.mean(), method="lower") if recognised.any() else 1.0
            plain_rejected = float(np.mean(negative_top < threshold))
            # The ranking alone, free of calibration: the best recognised-and-right any threshold gives
            # while rejecting at least the goal's share of non-characters, for both scores.
            blank = np.array([bool(answer.get("blank")) for answer in negative_answers])
            learned_scores = np.array([answer.get("open_set_score", 0.0) for answer in answers])
            negative_scores = np.where(blank, -1.0, [answer.get("open_set_score", 0.0) for answer in negative_answers])
            best = best_at_rejection(learned_scores, negative_scores, right), best_at_rejection(top, np.where(blank, -1.0, negative_top), right)
            by_kind = {kind: f"{share:.0%}" for kind, share in rejection_by_kind([kind for kind, _ in negatives], ~rejected).items()}
            confused = Counter((name, answer["top"]) for answer, (_, name) in zip(answers, heldout) if answer["top"] != name).most_common(3)
            photo_answers = [(name, predictor.predict_rgba(rgba)) for name, rgba in photos]
            accepted = [f"{name} as {answer['top']}" for name, answer in photo_answers if answer["recognised"]]
            # The same rule without the familiarity floor (the head's threshold alone), in the same run.
            head_threshold = predictor.open_set["threshold"] if predictor.open_set else 0.0

            def by_head(answer) -> bool:
                return not answer.get("blank") and answer.get("open_set_score", 1.0) >= head_threshold

            head_kept = np.array([by_head(answer) for answer in answers])
            without_floor = (np.mean(right & head_kept), np.mean([not by_head(answer) for answer in negative_answers]),
                             np.mean([not by_head(answer) for _, answer in photo_answers]) if photos else float("nan"))
            results.append((right.mean(), baseline, np.mean(right & recognised), rejected.mean(), plain_rejected, seconds, *best,
                            *without_floor, 1 - len(accepted) / len(photos) if photos else float("nan")))
            photo_note = (f"; photos/scans rejected {1 - len(accepted) / len(photos):.0%} of {len(photos)}"
                          + (f" (taken: {', '.join(accepted)})" if accepted else "")) if photos else ""
            metrics = result.metrics
            print(f"seed {seed}: {metrics['regime']}: own figure {metrics['test_accuracy'] if metrics['test_accuracy'] is not None else float('nan'):.1%}; "
                  f"unseen {right.mean():.1%} (colour baseline {baseline:.1%}); "
                  f"open set: unseen recognised and right {np.mean(right & recognised):.1%}, non-characters rejected "
                  f"{rejected.mean():.1%} {by_kind} vs top-score rule {plain_rejected:.1%}; best recognised-and-right with >= "
                  f"{GOAL_REJECTED:.0%} rejected (any threshold): {best[0]:.1%} (top score: {best[1]:.1%}); {seconds:.0f} s; "
                  f"most confused {confused}{photo_note}; without the familiarity floor: recognised and right "
                  f"{without_floor[0]:.1%}, non-characters rejected {without_floor[1]:.1%}, photos/scans rejected {without_floor[2]:.0%}")
        mean = np.mean(results, axis=0)
        print(f"MEAN over seeds {args.seeds}: unseen accuracy {mean[0]:.1%} (min {min(r[0] for r in results):.1%}) vs colour "
              f"baseline {mean[1]:.1%} (+{(mean[0] - mean[1]) * 100:.1f} points); recognised-and-right {mean[2]:.1%}, "
              f"non-characters rejected {mean[3]:.1%} (top-score rule at the same recall: {mean[4]:.1%}); best recognised-and-right "
              f"with >= {GOAL_REJECTED:.0%} rejected {mean[6]:.1%} (top score {mean[7]:.1%}); "
              f"training {mean[5]:.0f} s; photos/scans rejected {mean[11]:.0%}; without the familiarity floor: recognised and right {mean[8]:.1%}, "
              f"non-characters rejected {mean[9]:.1%}, photos/scans rejected {mean[10]:.0%}")


if __name__ == "__main__":
    main()
