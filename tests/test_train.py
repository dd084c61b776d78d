"""Training's building blocks and its command line: letterboxing, what the
multi phase may learn from, threshold tuning, and `ocpipe train` end to end."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from conftest import make_source
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ocpipe import config
from ocpipe.cli import app
from ocpipe.data import Items
from ocpipe.ingest import ingest
from ocpipe.manifest import read_table
from ocpipe.metrics import multi_label_metrics
from ocpipe.train import synthetic_source_rows

runner = CliRunner()


@settings(max_examples=25, deadline=None)
@given(width=st.integers(4, 400), height=st.integers(4, 400), phase=st.sampled_from(config.PHASES),
       zoom=st.sampled_from((1.0, 0.83, 0.6)))
def test_letterbox_keeps_aspect_and_centres(width, height, phase, zoom):
    from ocpipe.data import letterbox

    size = config.IMAGE_SIZES[phase]
    rgba = np.full((height, width, 4), 200, np.uint8)
    out = letterbox(rgba, (0, 0, width, height), size, zoom).numpy()
    assert out.shape == (*size, 4)
    rows, cols = np.nonzero(out[:, :, 3] > 127)
    drawn_h, drawn_w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    scale = min(size[0] / height, size[1] / width) * zoom
    # Fills one side (at zoom 1; `zoom` of it otherwise), keeps the other in proportion
    # (to a pixel of rounding), centred.
    assert abs(max(drawn_h / size[0], drawn_w / size[1]) - zoom) <= 1.5 / min(size)
    assert zoom != 1.0 or drawn_h == size[0] or drawn_w == size[1]
    assert abs(drawn_h - height * scale) <= 1.5 and abs(drawn_w - width * scale) <= 1.5
    assert abs(rows.min() - (size[0] - 1 - rows.max())) <= 1 and abs(cols.min() - (size[1] - 1 - cols.max())) <= 1


def _row(phase, labels, split, alpha="1"):
    return {"phase": phase, "labels": labels, "split": split, "has_alpha": alpha, "path": f"{phase}/{labels}/{split}.png"}


def test_synthetic_scenes_come_from_training_frames_only(tmp_path, workspace):
    manifest = [_row("fullbody", "Maxus", split) for split in config.SPLITS]
    manifest += [_row("headshot", "Hydra", "train"), _row("headshot", "Hydra", "test"),
                 _row("eyes", "Ilya", "train", alpha="0"), _row("multi", "Maxus;Hydra", "train")]
    chosen = synthetic_source_rows(manifest)
    assert [(row["phase"], row["labels"], row["split"]) for row in chosen] == [("fullbody", "Maxus", "train"), ("headshot", "Hydra", "train")]

    # On real ingested frames: composed scenes hold only train-split characters, and every target is drawn.
    from ocpipe.synth import synthetic_scenes

    for name, sprite in (("Maxus", "Robot"), ("Hydra", "Zombie")):
        for number in range(3):
            make_source(workspace.raw / "fullbody" / name, ".gif", character=sprite, seed=number, name=f"a{number}")
    make_source(workspace.raw / "fullbody" / "Ilya", ".gif", character="Pilot", name="only")  # one source: train only
    assert ingest([workspace.raw], workspace).ok
    rows = read_table(workspace.manifest)
    chosen = synthetic_source_rows(rows)
    assert chosen and {row["split"] for row in chosen} == {"train"}
    assert {row["path"] for row in chosen} == {row["path"] for row in rows if row["split"] == "train"}
    classes = ["Hydra", "Ilya", "Maxus"]
    scenes, targets = synthetic_scenes(workspace.root, chosen, classes, config.IMAGE_SIZES["multi"], 40, seed=0)
    assert scenes.shape == (40, *config.IMAGE_SIZES["multi"], 4) and targets.shape == (40, 3)
    assert np.all(targets.sum(axis=1) >= 1) and set(np.unique(targets)) <= {0.0, 1.0}
    assert np.all((scenes[:, :, :, 3] > 0).mean(axis=(1, 2)) > 0.01)  # something is drawn in every scene
    assert targets.sum(axis=0).min() > 0  # each class appears


def test_multi_label_thresholds_come_from_validation():
    classes = ["A", "B"]
    val_targets = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], np.float32)
    # On val, A's positives score 0.3 and its negatives 0.1: its threshold must sit between them.
    val = np.array([[0.3, 0.1], [0.3, 0.2], [0.1, 0.9], [0.1, 0.2]], np.float32)
    test_targets = np.array([[1, 0], [0, 1]], np.float32)
    items = {"val": Items(["v"] * 4, np.zeros((4, 4), np.int32), val_targets),
             "test": Items(["t"] * 2, np.zeros((2, 4), np.int32), test_targets)}
    metrics, thresholds = multi_label_metrics({"val": val, "test": np.array([[0.35, 0.1], [0.1, 0.95]])}, items, classes)
    assert 0.1 < thresholds["A"] <= 0.3 and 0.2 < thresholds["B"] <= 0.9
    assert metrics["test_exact_match"] == 1.0 and metrics["test_micro_f1"] == 1.0
    # Test scores never move the thresholds.
    _, again = multi_label_metrics({"val": val, "test": np.array([[0.9, 0.9], [0.05, 0.05]])}, items, classes)
    assert again == thresholds


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_staged_folder_replaces_only_a_complete_folder(tmp_path):
    from ocpipe.manifest import staged_folder

    final = tmp_path / "models" / "headshot"
    with staged_folder(final) as staging:
        (staging / "model.keras").write_text("first")
    assert (final / "model.keras").read_text() == "first" and final.stat().st_mode & 0o777 == 0o777 & ~_umask()
    with pytest.raises(RuntimeError), staged_folder(final) as staging:
        (staging / "model.keras").write_text("half written")
        raise RuntimeError("killed halfway")
    assert (final / "model.keras").read_text() == "first"  # the previous model survives
    assert sorted(path.name for path in final.parent.iterdir()) == ["headshot"]  # no staging folder left behind


@pytest.mark.slow
def test_cli_train_end_to_end_and_its_errors(tmp_path):
    root = tmp_path / "ws"
    out = runner.invoke(app, ["train", "--workspace", str(root)])
    assert out.exit_code == 1 and out.output.count("\n") == 1 and "run `ocpipe ingest` first" in out.output

    raw = root / "data" / "raw" / "fullbody"
    for number in range(2):
        make_source(raw / "Maxus", [".gif", ".mp4"][number], character="Robot", seed=number, name=f"m{number}")
    assert runner.invoke(app, ["ingest", str(raw.parent), "--workspace", str(root)]).exit_code == 0
    out = runner.invoke(app, ["train", "--phase", "fullbody", "--workspace", str(root)])
    assert out.exit_code == 1 and "only one character (Maxus)" in out.output and "Traceback" not in out.output

    for number in range(3):
        make_source(raw / "Hydra", [".apng", ".webm", "seq"][number], character="Zombie", seed=number, name=f"h{number}")
    assert runner.invoke(app, ["ingest", str(raw.parent), "--workspace", str(root)]).exit_code == 0
    # Her 'not mine' examples: two other characters (one a folder of numbered frames) and a broken file.
    others = root / "data" / "others" / "fullbody"
    make_source(others, ".gif", character="Adventurer", seed=7, name="friend")
    make_source(others / "fan art", "seq", character="Ranger", seed=8, name="ranger")
    (others / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    # The default: few animations per character, so cross-validation by source and a model of all of them.
    out = runner.invoke(app, ["train", "--workspace", str(root)])
    # The broken example is named on one line and makes the exit code say so; everything else is trained and written.
    assert out.exit_code == 1 and "error: data/others/fullbody/broken.png: " in out.output and "Traceback" not in out.output
    assert "cross-validation by source (the least-drawn character has 2 animation(s)" in out.output
    assert "fold 1/3:" in out.output and "fold 3/3:" in out.output and "report.md" in out.output  # Hydra's 3 sources: 3 folds
    metrics = json.loads((root / "models" / "fullbody" / "metrics.json").read_text())
    assert metrics["regime"] == "cross-validation" and len(metrics["fold_accuracy"]) == 3
    assert metrics["train_frames"] == len(read_table(root / "data" / "processed" / "manifest.csv"))  # every frame learned from
    assert metrics["baseline"]["applicable"] and 0 <= metrics["open_set"]["threshold"] <= 1
    assert metrics["others"]["files"] == 2 and len(metrics["others"]["failed"]) == 1  # the frames folder is one animation
    assert metrics["others"]["failed"][0].startswith("data/others/fullbody/broken.png: ")
    assert metrics["others"]["frames"] == 8  # 4 spread over each animation
    # Other characters it never saw as examples are mostly rejected (Adventurer and Ranger vs Maxus and Hydra).
    assert metrics["open_set"]["others_rejected_unseen"] >= 0.5
    labels = json.loads((root / "models" / "fullbody" / "labels.json").read_text())
    assert labels["open_set"]["file"] == "openset.json" and (root / "models" / "fullbody" / "openset.json").exists()
    report = (root / "models" / "fullbody" / "report.md").read_text()
    assert (root / "models" / "fullbody").stat().st_mode & 0o777 == 0o777 & ~_umask()  # not mkdtemp's 0700
    assert "Maxus" in report and "cross-validation by source" in report and "None of my characters" in report
    assert "Your examples in `data/others/fullbody/` (8 frames of 2 files)" in report
    assert "could not be read and were left out: data/others/fullbody/broken.png" in report

    # The from-scratch CNN keeps the fixed split and trains for epochs.
    out = runner.invoke(app, ["train", "--backbone", "simple", "--epochs", "2", "--workspace", str(root)])
    assert out.exit_code == 0, out.output
    assert "no val frames for Maxus" in out.output  # two sources: train and test, no val
    assert "fullbody: epoch 2/2" in out.output
    metrics = json.loads((root / "models" / "fullbody" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["regime"] == "split" and "open_set" not in metrics
    out = runner.invoke(app, ["train", "--backbone", "simple", "--regime", "cross-validation", "--workspace", str(root)])
    assert out.exit_code == 1 and "cross-validation needs the default pretrained backbone" in out.output

    # A model folder from another phase is refused with what to do, not a traceback.
    shutil.copytree(root / "models" / "fullbody", root / "models" / "headshot")
    image = next((root / "data" / "processed").rglob("*.png"))
    out = runner.invoke(app, ["predict", str(image), "--phase", "headshot", "--workspace", str(root)])
    assert out.exit_code == 1 and "trained for phase 'fullbody'" in out.output and "Traceback" not in out.output
