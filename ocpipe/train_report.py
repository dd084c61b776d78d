"""The training report an artist reads: plots (learning curves, confusion matrix or
per-class bars, misclassified test frames) and report.md ending in plain advice."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import DETAILED_SHARE
from .data import PREDICT_BACKGROUND, compose
from .gradcam import FOCUS_WARNING


def _figure(**kwargs):
    """A matplotlib Figure of its own, outside pyplot: drawing the report never
    switches the caller's backend (a notebook's inline plots keep working after
    `ocpipe train` ran in the same kernel) and needs no display."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def plot_curves(history: dict, path: Path) -> None:
    keys = [key for key in ("loss", "accuracy") if key in history]
    figure = _figure(figsize=(5 * len(keys), 3.5))
    axes = figure.subplots(1, len(keys))
    for axis, key in zip(np.atleast_1d(axes), keys):
        axis.plot(history[key], label=f"train {key}")
        if f"val_{key}" in history:
            axis.plot(history[f"val_{key}"], label=f"val {key}")
        axis.set_xlabel("epoch")
        axis.set_title(key)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def plot_learning_curve(metrics: dict, path: Path) -> None:
    """Accuracy on held-out drawings against the number of animations per
    character learned from (the last point: all of them), beside the colour baseline."""
    curve = list(metrics.get("learning_curve") or [])
    figure = _figure(figsize=(5.5, 3.5))
    axis = figure.subplots()
    if metrics.get("test_accuracy") is not None:
        most = max([point["animations"] for point in curve] + [0]) + 1
        curve.append({"animations": most, "accuracy": metrics["test_accuracy"], "all": True})
    if curve:
        axis.plot([p["animations"] for p in curve], [p["accuracy"] for p in curve], "o-", label="ocpipe")
        if curve[-1].get("all"):
            axis.annotate("all of them", (curve[-1]["animations"], curve[-1]["accuracy"]), textcoords="offset points", xytext=(-30, -14))
    baseline = metrics.get("baseline", {}).get("test_accuracy")
    if baseline is not None:
        axis.axhline(baseline, color="grey", linestyle="--", label="colour baseline (all)")
    if not curve:
        axis.text(0.5, 0.5, "no held-out frames to draw a curve from", ha="center", va="center", transform=axis.transAxes)
    axis.set_xlabel("animations per character learned from")
    axis.set_ylabel("held-out accuracy")
    axis.set_ylim(0, 1.05)
    axis.set_title("Learning curve: does drawing more help?")
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def plot_confusion(matrix: np.ndarray, classes: list[str], path: Path) -> None:
    figure = _figure(figsize=(1.2 * len(classes) + 2, 1.2 * len(classes) + 1.5))
    axis = figure.subplots()
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axis.set_yticks(range(len(classes)), classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true (test frames)")
    for i in range(len(classes)):
        for j in range(len(classes)):
            axis.text(j, i, str(matrix[i, j]), ha="center", va="center", color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    axis.set_title("Confusion matrix (test split)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def plot_per_class(per_class: dict, path: Path) -> None:
    names = list(per_class)
    figure = _figure(figsize=(1.3 * len(names) + 2, 3.5))
    axis = figure.subplots()
    positions = np.arange(len(names))
    for offset, key in zip((-0.25, 0, 0.25), ("precision", "recall", "f1")):
        axis.bar(positions + offset, [per_class[n][key] for n in names], width=0.25, label=key)
    axis.set_xticks(positions, names, rotation=30, ha="right")
    axis.set_ylim(0, 1.05)
    axis.legend()
    axis.set_title("Per-class scores (test split)")
    figure.tight_layout()
    figure.savefig(path, dpi=90)


def plot_gallery(images: list[np.ndarray], captions: list[str], path: Path, title: str) -> None:
    columns = min(4, max(1, len(images)))
    rows = max(1, int(np.ceil(len(images) / columns)))
    figure = _figure(figsize=(3 * columns, 3 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, image, caption in zip(axes.ravel(), images, captions):
        axis.imshow(image.astype(np.uint8))
        axis.set_title(caption, fontsize=8)
    if not images:
        axes[0, 0].text(0.5, 0.5, "no misclassified test frames", ha="center", va="center")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def _misclassified(outcome: dict, classes: list[str], multi_label: bool, limit: int = 16):
    items, probabilities = outcome["items"]["test"], outcome["evaluation"]["test"]
    if not len(items):
        return [], []
    if multi_label:
        thresholds = np.array([outcome["thresholds"][name] for name in classes])
        wrong = np.flatnonzero(np.any((probabilities >= thresholds) != (items.targets > 0.5), axis=1))
    else:
        wrong = np.flatnonzero(probabilities.argmax(axis=1) != items.targets)
    wrong = set(wrong[:limit].tolist())
    images, captions = [], []
    for index, (rgba, _) in enumerate(outcome["letterboxed"]["test"].as_numpy_iterator()):
        if index not in wrong:
            continue
        images.append(compose(rgba, PREDICT_BACKGROUND))
        name = Path(items.paths[index])
        if multi_label:
            truth = [classes[i] for i in np.flatnonzero(items.targets[index] > 0.5)]
            guess = [classes[i] for i in np.flatnonzero(probabilities[index] >= thresholds)]
            captions.append(f"{name.parent.name}/{name.name}\ntrue {'+'.join(truth)}; said {'+'.join(guess) or 'none'}")
        else:
            guess = int(probabilities[index].argmax())
            captions.append(f"{name.parent.name}/{name.name}\ntrue {classes[items.targets[index]]}; "
                            f"said {classes[guess]} {probabilities[index, guess]:.0%}")
    return images, captions


def drawing_context(workspace, items, probabilities: np.ndarray, classes: list[str], multi_label: bool) -> dict:
    """What the advice needs to know about her drawings: animations per character,
    background kinds per character, and the background of each missed held-out frame."""
    from collections import Counter

    from .manifest import read_table

    rows = {row["path"]: row for row in read_table(workspace.manifest)} if workspace.manifest.exists() else {}
    phase_rows = [rows[path] for path in items["train"].paths if path in rows] + [rows[path] for path in items["test"].paths if path in rows]
    sources: dict[str, set] = {}
    kinds: dict[str, Counter] = {}
    for row in phase_rows:
        sources.setdefault(row["labels"], set()).add(row["source_id"])
        kinds.setdefault(row["labels"], Counter())[row.get("background", "")] += 1
    missed = []
    if not multi_label and len(probabilities):
        for path, target, said in zip(items["test"].paths, items["test"].targets, probabilities.argmax(axis=1)):
            if said != target:
                missed.append((classes[target], classes[said], rows.get(path, {}).get("background", "")))
    return {"sources": {name: len(ids) for name, ids in sources.items()}, "backgrounds": kinds, "missed": missed}


def advice(metrics: dict, classes: list[str], multi_label: bool, train_counts: dict[str, int], context: dict | None = None) -> list[str]:
    """Plain sentences drawn from the numbers: what to draw next."""
    from collections import Counter

    lines: list[str] = []
    context = context or {}
    held_out = "held-out" if metrics.get("regime") == "cross-validation" else "test"
    if not multi_label and metrics.get("confusion"):
        matrix = np.array(metrics["confusion"])
        missed = context.get("missed", [])
        for i, name in enumerate(classes):
            total = int(matrix[i].sum())
            for j, other in enumerate(classes):
                if i != j and matrix[i, j] and matrix[i, j] / max(total, 1) >= 0.1:
                    kinds = Counter(kind for true, said, kind in missed if true == name and said == other)
                    where = f" (backgrounds of those frames: {', '.join(f'{k} {n}' for k, n in kinds.most_common())})" if kinds else ""
                    lines.append(f"{name} is taken for {other} in {matrix[i, j]} of {total} {held_out} frames{where}: "
                                 f"draw {name} with what sets {name} apart from {other} (face, hair, eyes, silhouette) clearly "
                                 f"visible, in new poses, angles and outfits.")
    for name, count in sorted(context.get("sources", {}).items()):
        if not multi_label and count < 4:
            lines.append(f"{name} has only {count} animation(s): each new drawing of {name} (another pose, angle or outfit) "
                         "teaches the model more than longer animations of the same drawing.")
    backgrounds = context.get("backgrounds", {})
    for name, kinds in sorted(backgrounds.items()):
        detailed = kinds.get("detailed", 0) / max(1, sum(kinds.values()))
        if detailed >= DETAILED_SHARE:
            lines.append(f"{detailed:.0%} of the {name} frames have a detailed background (a scene, or a crop with no plain "
                         f"border), which training can't replace as it does transparent and plain ones; export {name} with "
                         "transparency or over other backgrounds, so the background can't stand in for the character.")
    curve = metrics.get("learning_curve") or []
    if len(curve) >= 2 and metrics.get("test_accuracy") is not None and metrics["test_accuracy"] - curve[-2]["accuracy"] >= 0.03:
        lines.append("The learning curve is still rising (see curves.png): more animations of every character will help.")
    for name, scores in metrics.get("per_class", {}).items():
        if scores["support"] and scores["recall"] < 0.7:
            lines.append(f"{name} is recognised in only {scores['recall']:.0%} of its {held_out} frames; it needs more varied drawings (poses, angles, outfits).")
    if train_counts:
        largest = max(train_counts.values())
        for name, count in sorted(train_counts.items()):
            if count and largest / count >= 3:
                lines.append(f"{name} has {count} training frames against {largest} for the most drawn character; "
                             "class weights compensate, but new animations of them help most.")
    baseline = metrics.get("baseline", {})
    score = metrics.get("test_accuracy")
    if baseline.get("applicable") and score is not None and baseline.get("test_accuracy") is not None and score < baseline["test_accuracy"]:
        lines.append(f"Warning: the CNN ({score:.0%}) scores below a simple colour-histogram baseline "
                     f"({baseline['test_accuracy']:.0%}) on the test split: it may be learning backgrounds rather "
                     "than characters. Train longer, or add animations on varied backgrounds.")
    for name, focus in metrics.get("focus", {}).items():
        if focus >= FOCUS_WARNING:
            continue
        if name in backgrounds and not backgrounds[name].get("detailed"):
            # Every frame's background was replaced in training, so no background of hers can be the cue.
            lines.append(f"Note: for {name}, {focus:.0%} of the Grad-CAM heat falls on the character itself. Its frames "
                         "are transparent or plain, which training shows over many backgrounds, so that is not a learned "
                         "background: the map is coarse (a few cells across) and spills around a thin or small drawing. "
                         f"`ocpipe explain` shows where it looks.")
        else:
            lines.append(f"Warning: for {name}, only {focus:.0%} of the Grad-CAM heat falls on the character itself; "
                         f"the model may look at the background. Add {name} animations on other backgrounds "
                         "(transparent exports are best: ocpipe then varies the background itself).")
    for note in metrics.get("notes", []):
        lines.append(f"Note: {note}.")
    if not lines:
        lines.append(f"No weak spots stand out on the {held_out} frames. New animations of every character keep it that way.")
    return lines


def _open_set_lines(report: dict | None, others: dict | None = None) -> list[str]:
    """The report's 'None of my characters' section (`others`: metrics' summary of her others folder)."""
    from .openset import FAMILIAR_CLAUSE, STRANGERS_REJECTED

    if not report:
        return []
    negatives = report["negatives"]
    familiar = report.get("familiarity")
    lines = ["", "## None of my characters", "",
             f"Rule: an image counts as one of the characters when "
             f"{report['rule'].split('when ', 1)[-1].replace(FAMILIAR_CLAUSE, '')} "
             f"**{report['threshold']:.2f}**. It was calibrated on {report['calibration_frames']} "
             f"{report['calibrated_on']} to keep {report['target_keep']:.0%} of them, then moved towards rejecting "
             f"{STRANGERS_REJECTED:.0%} "
             "of your own characters, each left out of training in turn (a character the model never saw, in your style)"
             + (f": it keeps {_fmt(report.get('calibration_kept'))} of those frames and rejects "
                f"{_fmt(report.get('left_out_rejected'))} of the left-out characters' {report['left_out_frames']}"
                + (" frames (with the familiarity floor below)" if familiar else "")
                if report.get("left_out_frames") else f": it keeps {_fmt(report.get('calibration_kept'))} of those frames")
             + (f". It must also be at least as like one of your training frames (cosine similarity of the model's "
                f"pooled features) as your least familiar drawing held out from them was: the familiarity floor, "
                f"**{familiar['floor']:.2f}**. Photos, other artists' styles and anything unlike all of your frames "
                "fall under it" if familiar else "")
             + ". Anything else is answered \"none of the trained characters\".", ""]
    test = report.get("test")
    if test:
        lines.append(f"- Held-out frames of the characters: {_fmt(test['recognised'])} recognised, "
                     f"{_fmt(test['recognised_and_right'])} recognised and named right.")
    lines.append(f"- Non-character images ({negatives['count']}: " + ", ".join(
        f"{kind} {_fmt(share)}" for kind, share in negatives["rejected_by_kind"].items())
        + f" rejected): {_fmt(negatives['rejected'])} rejected"
        + (f" ({_fmt(familiar['negatives_rejected_by_head_alone'])} by the head's threshold alone, "
           f"{_fmt(familiar['negatives_rejected'])} by the familiarity floor alone)." if familiar else "."))
    plain = report.get("top_score_rule")
    if plain:
        lines.append(f"- For comparison, thresholding the top score alone (at {plain['threshold']:.2f}, keeping as many "
                     f"held-out frames) would reject {_fmt(plain['negatives_rejected'])} of the non-character images.")
    others = others or {}
    if others.get("frames"):
        unseen = report.get("others_rejected_unseen")
        lines.append(f"- Your examples in `{others['folder']}/` ({others['frames']} frames of {others['files']} files) "
                     "were learnt as 'none of them'" + (f"; each scored by a model that never saw its file, "
                                                        f"{_fmt(unseen)} of them are rejected." if unseen is not None else "."))
    else:
        lines.append(f"- To teach it what is *not* yours, put pictures or animations of other characters (friends' "
                     f"characters, fan art, characters you don't train) in `{others.get('folder', 'data/others/<phase>')}/` "
                     "and train again: they are learnt as 'none of them'.")
    return lines


def _scene_familiarity_lines(familiar: dict | None) -> list[str]:
    """multi's 'None of my characters' section: its familiarity floor (openset.py)."""
    if not familiar:
        return []
    negatives = familiar["negatives"]
    return ["", "## None of my characters", "",
            "A scene gets labels only when it is at least as like one of your training scenes (cosine similarity of the "
            "model's pooled features) as your least familiar scene held out from them was: the familiarity floor, "
            f"**{familiar['floor']:.2f}**. Photos and pictures unlike all of your scenes get \"no character\".", "",
            f"- Test scenes over the floor: {_fmt(familiar.get('test_kept'))}.",
            f"- Non-character images ({negatives['count']}: " + ", ".join(
                f"{kind} {_fmt(share)}" for kind, share in negatives["rejected_by_kind"].items())
            + f" rejected): {_fmt(negatives['rejected'])} under the floor."]


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def write_report(workspace, folder: Path, phase: str, classes: list[str], multi_label: bool, outcome: dict, notes: list[str]) -> Path:
    """Write the plots and report.md into `folder`; returns the report's path."""
    metrics = outcome["metrics"]
    if outcome["history"]:
        plot_curves(outcome["history"], folder / "curves.png")
    else:
        plot_learning_curve(metrics, folder / "curves.png")
    if multi_label:
        plot_per_class(metrics.get("per_class", {}), folder / "per_class.png")
    else:
        plot_confusion(np.array(metrics["confusion"]), classes, folder / "confusion.png")
    images, captions = _misclassified(outcome, classes, multi_label)
    plot_gallery(images, captions, folder / "misclassified.png", f"{phase}: misclassified test frames")
    train_counts = {name: int(np.sum(outcome["items"]["train"].targets == i)) for i, name in enumerate(classes)} if not multi_label else {}

    folds = metrics.get("regime") == "cross-validation"
    pretrained = metrics.get("backbone") == "mobilenet"
    tested = "out-of-fold" if folds else "test"
    lines = [f"# ocpipe training report: {phase}", ""]
    how = (f"a linear head on a frozen pretrained MobileNet ({metrics.get('views_per_frame')} augmented views per frame)"
           if pretrained else f"{metrics['epochs_run']} epochs")
    if folds:
        lines.append(f"Classes: {', '.join(classes)}. Frames: {metrics['train_frames']}, all learned from by the saved model. "
                     f"Model: {how}; training took {metrics.get('train_seconds', 0):.0f} s.")
    else:
        lines.append(f"Classes: {', '.join(classes)}. Frames: {metrics['train_frames']} train"
                     + (f" (+{metrics['synthetic_train_frames']} synthetic scenes composed from training frames)" if multi_label else "")
                     + f", {metrics['val_frames']} val, {metrics['test_frames']} test. "
                     f"Model: {how}; training took {metrics.get('train_seconds', 0):.0f} s.")
    lines.append("")
    if metrics.get("regime_reason"):
        lines.append(f"**How it was measured:** {metrics['regime_reason']}.")
        lines.append("")
    if folds and not metrics.get("folds"):
        lines.append("No animation could be held out: every character has a single one, so there is nothing to test "
                     "the model on yet (it learned from all of them).")
    elif folds:
        spread = metrics.get("fold_accuracy") or []
        lines.append(f"The figures below are out-of-fold: the {len(spread)} folds' animations were each scored by a model "
                     "that never saw them" + (f" (per-fold accuracy {', '.join(f'{a:.0%}' for a in spread)}; "
                                              f"spread {np.std(spread):.0%})" if spread else "") + ".")
    else:
        lines.append("Test frames come from animations the model never saw in training (splits are by source animation).")
    lines.append("")
    if multi_label:
        lines += ["| score | val | test |", "|---|---|---|"]
        for key in ("micro_f1", "macro_f1", "exact_match"):
            lines.append(f"| {key.replace('_', ' ')} | {_fmt(metrics.get('val_' + key))} | {_fmt(metrics.get('test_' + key))} |")
        lines += ["", "Thresholds (tuned on val): " + ", ".join(f"{k} {v:.2f}" for k, v in outcome["thresholds"].items())]
    else:
        baseline = metrics["baseline"]
        if folds:
            lines += ["| model | out-of-fold accuracy |", "|---|---|",
                      f"| ocpipe | {_fmt(metrics['test_accuracy'])} |",
                      f"| colour-histogram baseline | {_fmt(baseline.get('test_accuracy'))} |"]
        else:
            lines += ["| model | val accuracy | test accuracy |", "|---|---|---|",
                      f"| ocpipe | {_fmt(metrics['val_accuracy'])} | {_fmt(metrics['test_accuracy'])} |",
                      f"| colour-histogram baseline | {_fmt(baseline.get('val_accuracy'))} | {_fmt(baseline.get('test_accuracy'))} |"]
    lines += ["", f"| class | precision | recall | f1 | {tested} frames |", "|---|---|---|---|---|"]
    for name, scores in metrics.get("per_class", {}).items():
        lines.append(f"| {name} | {_fmt(scores['precision'])} | {_fmt(scores['recall'])} | {_fmt(scores['f1'])} | {scores['support']} |")
    lines += _open_set_lines(metrics.get("open_set"), metrics.get("others"))
    lines += _scene_familiarity_lines(metrics.get("familiarity"))
    focus = metrics.get("focus")
    if focus:
        lines += ["", "## Where the model looks", "",
                  "Focus = share of the Grad-CAM heat (for the true character) that falls on the character's own pixels, "
                  "over test frames whose background is transparent or plain. Under "
                  f"{FOCUS_WARNING:.0%} means it looks mostly around the character: a warning where the character's frames "
                  "have detailed backgrounds (the model may have learned them), a note where they are all transparent or "
                  "plain (training replaced those, so it is the coarse map spilling around the drawing).", "",
                  "| class | mean focus |", "|---|---|"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in focus.items()]
    curve_title = "learning curves" if outcome["history"] else "learning curve: accuracy against animations per character"
    lines += ["", "## Plots", "", f"![{curve_title}](curves.png)", "",
              "![per-class scores](per_class.png)" if multi_label else "![confusion matrix](confusion.png)", "",
              "![misclassified test frames](misclassified.png)", "", "## What to do next", ""]
    context = drawing_context(workspace, outcome["items"], outcome["evaluation"]["test"], classes, multi_label)
    lines += [f"- {line}" for line in advice(metrics, classes, multi_label, train_counts, context)]
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
