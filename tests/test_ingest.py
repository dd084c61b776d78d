"""Ingest as a user drives it: labels, splits, re-runs, bad input, the CLI."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import make_source
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from ocpipe.cli import app
from ocpipe.config import SPLITS
from ocpipe.ingest import ingest
from ocpipe.manifest import read_table
from ocpipe.split import assign_splits

runner = CliRunner()


def _tree(root, characters=("Maxus", "Hydra"), per_character=4):
    formats = [".mp4", ".gif", ".apng", ".webp", "seq", ".mov"]
    for c_index, character in enumerate(characters):
        for number in range(per_character):
            make_source(root / "fullbody" / character, formats[(number + c_index) % len(formats)],
                        character="Robot" if character == "Maxus" else "Zombie", tilt=(number - 2) * 6.0,
                        name=f"anim{number}")
    return root


def test_tree_ingest_splits_by_source(tmp_path, workspace):
    raw = _tree(workspace.raw)
    result = ingest([raw], workspace)
    assert result.ok, result.failures
    rows = read_table(workspace.manifest)
    assert {row["labels"] for row in rows} == {"Maxus", "Hydra"}
    splits_per_source = defaultdict(set)
    for row in rows:
        splits_per_source[row["source_id"]].add(row["split"])
    assert all(len(s) == 1 for s in splits_per_source.values())
    sources = read_table(workspace.sources)
    for character in ("Maxus", "Hydra"):
        assert {row["split"] for row in sources if row["labels"] == character} == set(SPLITS)
    assert result.leaks == []
    # Originals inside the workspace are used in place, never copied or changed.
    assert all(row["source_path"].startswith("data/raw/fullbody/") for row in rows)


def test_rerun_is_identical_and_new_sources_do_not_move_old(tmp_path, workspace):
    raw = _tree(workspace.raw)
    ingest([raw], workspace)
    before = workspace.manifest.read_bytes()
    again = ingest([raw], workspace)
    assert again.added == [] and len(again.already) == 8
    assert workspace.manifest.read_bytes() == before
    old = {row["source_id"]: row["split"] for row in read_table(workspace.sources)}
    make_source(workspace.raw / "fullbody" / "Maxus", ".webm", character="Robot", tilt=20.0, name="new")
    third = ingest([raw], workspace)
    assert len(third.added) == 1
    now = {row["source_id"]: row["split"] for row in read_table(workspace.sources)}
    assert all(now[sid] == split for sid, split in old.items())


def test_external_file_is_copied_with_options(tmp_path, workspace):
    source = make_source(tmp_path / "outside dir é", ".gif", name="héllo world")
    result = ingest([source], workspace, phase="headshot", character="Maxus")
    assert result.ok
    copied = workspace.raw / "headshot" / "Maxus" / source.name
    assert copied.read_bytes() == source.read_bytes()
    assert source.exists()


def test_multi_folder_labels(tmp_path, workspace):
    make_source(workspace.raw / "multi" / "Maxus+Hydra", ".mp4", character="Robot+Zombie", phase="multi")
    ingest([workspace.raw], workspace)
    assert {row["labels"] for row in read_table(workspace.manifest)} == {"Hydra;Maxus"}


def _drawings(folder, names, sizes=None, characters=("Robot", "Zombie", "Adventurer", "Ranger")):
    """Separate stills of different drawings (the bundled characters, as one OC's
    drawings), named `names`; `sizes` resizes them."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, (name, character) in enumerate(zip(names, characters)):
        path = make_source(folder / "tmp", "still.png", character=character, phase="headshot", name=name)
        if sizes:
            Image.open(path).resize(sizes[index]).save(path)
        path.rename(folder / path.name)
    (folder / "tmp").rmdir()
    return folder


def test_folder_of_separate_drawings_is_a_source_each(tmp_path, workspace):
    # A handful of headshots in one folder are separate drawings, so splits (and
    # cross-validation) can test one against the others; not one 'animation'.
    folder = _drawings(tmp_path / "maxus_drawings", ["front", "smile", "side"])
    _drawings(folder / "more", ["angry"], characters=["Ranger"])  # a sub-folder of drawings: the same rule
    (folder / "empty").mkdir()
    (folder / "more" / "loop").symlink_to(folder, target_is_directory=True)  # a link loop is read once
    result = ingest([folder], workspace, phase="headshot", character="Maxus")
    assert [(failure.path.name, failure.reason) for failure in result.failures] == [("empty", "the folder is empty")]
    sources = read_table(workspace.sources)
    assert sorted(Path(row["source_path"]).name for row in sources) == ["angry.png", "front.png", "side.png", "smile.png"]
    assert {row["kind"] for row in sources} == {"image"}
    assert {row["split"] for row in sources} == set(SPLITS)
    assert {row["labels"] for row in read_table(workspace.manifest)} == {"Maxus"}


def test_given_labels_win_over_a_folder_path_that_only_looks_like_a_tree(tmp_path, workspace):
    # Her own folders (art/headshot/train/Maxus) are shaped like <phase>/<Character>/<source> by
    # chance; with --phase/--character given, the folder is hers to label, not a source named 'train'.
    folder = _drawings(tmp_path / "art" / "headshot" / "train" / "Maxus", ["front", "smile", "side"])
    result = ingest([folder], workspace, phase="headshot", character="Maxus")
    assert result.ok, result.failures
    assert [row["labels"] for row in read_table(workspace.sources)] == ["Maxus"] * 3
    # Inside her workspace's tree the location is the label (a folder at the source level is one
    # source, as the contract says): a contradicting option fails, an agreeing one changes nothing.
    inside = _drawings(workspace.raw / "headshot" / "Hydra" / "stills", ["a", "b"], characters=["Adventurer", "Ranger"])
    result = ingest([inside], workspace, phase="headshot", character="Maxus")
    assert len(result.failures) == 1 and "the folders say headshot/Hydra" in result.failures[0].reason
    result = ingest([inside], workspace, phase="headshot", character="Hydra")
    assert result.ok and [record["source_path"] for record in result.added] == ["data/raw/headshot/Hydra/stills"]
    assert ingest([workspace.raw], workspace).added == []  # the tree reads it the same way


def test_numbered_drawings_of_different_sizes_are_separate_but_an_export_is_one_animation(tmp_path, workspace):
    drawings = _drawings(tmp_path / "stills", ["maxus_1", "maxus_2", "maxus_3"], sizes=[(180, 200), (200, 200), (150, 170)])
    export = make_source(tmp_path / "walk", "seq", character="Zombie", phase="headshot")
    frame = (export / "frame_0003.png").read_bytes()
    (export / "frame_0003.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = ingest([drawings], workspace, phase="headshot", character="Maxus")
    assert result.ok, result.failures
    # A broken frame fails its animation as one source, named once; it is not read as separate drawings.
    result = ingest([export], workspace, phase="headshot", character="Hydra")
    assert len(result.failures) == 1 and "frame_0003.png" in result.failures[0].reason
    (export / "frame_0003.png").write_bytes(frame)
    (export / "render.log").write_text("exported by a tool\n")  # a stray file doesn't split it either
    result = ingest([export], workspace, phase="headshot", character="Hydra")
    assert [failure.path.name for failure in result.failures] == ["render.log"]
    kinds = sorted((row["labels"], row["kind"]) for row in read_table(workspace.sources))
    assert kinds == [("Hydra", "sequence"), ("Maxus", "image"), ("Maxus", "image"), ("Maxus", "image")]
    assert result.notes == []  # 16 frames: an export, nothing to say
    # Three numbered drawings of one size can't be told from a short export: read as one, and said so.
    numbered = _drawings(tmp_path / "numbered", ["pose1", "pose2", "pose3"], characters=["Adventurer", "Ranger", "Robot"])
    result = ingest([numbered], workspace, phase="headshot", character="Lone")
    assert [record["kind"] for record in result.added] == ["sequence"]
    assert result.notes == ["numbered: 3 numbered pictures of one size, read as one animation; if they are separate "
                            "drawings, rename them (front.png, smile.png) or ingest them one by one, so each is a source"]
    assert len({row["split"] for row in read_table(workspace.manifest) if row["labels"] == "Hydra"}) == 1


def test_path_without_labels_fails_clearly(tmp_path, workspace):
    source = make_source(tmp_path / "loose", ".gif")
    result = ingest([source], workspace)
    assert not result.ok
    assert "--phase" in result.failures[0].reason


@pytest.mark.parametrize("case", ["empty", "text", "truncated_gif", "truncated_mp4", "unsupported", "missing"])
def test_bad_input_reported_and_batch_continues(tmp_path, workspace, case):
    good = make_source(tmp_path / "good", ".apng")
    folder = tmp_path / "bad"
    folder.mkdir()
    if case == "empty":
        bad = folder / "empty.png"
        bad.write_bytes(b"")
    elif case == "text":
        bad = folder / "notes.png"
        bad.write_text("this is not a picture\n")
    elif case == "truncated_gif":
        source = make_source(tmp_path / "src", ".gif")
        bad = folder / "cut.gif"
        bad.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    elif case == "truncated_mp4":
        source = make_source(tmp_path / "src", ".mp4")
        bad = folder / "cut.mp4"
        bad.write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    elif case == "unsupported":
        bad = folder / "drawing.psd"
        bad.write_bytes(b"8BPS" + b"\0" * 100)
    else:
        bad = folder / "missing.mp4"
    result = ingest([bad, good], workspace, phase="fullbody", character="Maxus")
    assert len(result.added) == 1
    assert len(result.failures) == 1 and result.failures[0].path == bad
    assert "\n" not in result.failures[0].reason and result.failures[0].reason
    assert len(read_table(workspace.manifest)) == 8


def test_failed_source_leaves_manifest_intact(tmp_path, workspace):
    ingest([make_source(tmp_path / "a", ".apng")], workspace, phase="fullbody", character="Maxus")
    before = workspace.manifest.read_bytes()
    source = make_source(tmp_path / "b", ".gif", tilt=10.0)
    cut = tmp_path / "cut.gif"
    cut.write_bytes(source.read_bytes()[:-200])
    result = ingest([cut], workspace, phase="fullbody", character="Maxus")
    assert not result.ok
    assert workspace.manifest.read_bytes() == before
    assert not list((workspace.processed / "fullbody" / "Maxus").glob("cut-*"))


def test_interrupted_commit_is_completed_on_rerun(tmp_path, workspace):
    source = make_source(tmp_path / "a", ".apng")
    ingest([source], workspace, phase="fullbody", character="Maxus")
    manifest = workspace.manifest.read_bytes()
    # Simulate a kill after manifest.csv was written but before sources.csv.
    workspace.sources.write_text(workspace.sources.read_text().splitlines()[0] + "\n")
    result = ingest([source], workspace, phase="fullbody", character="Maxus")
    assert len(result.added) == 1
    assert workspace.manifest.read_bytes() == manifest


@settings(max_examples=60, deadline=None)
@given(ids=st.lists(st.text("0123456789abcdef", min_size=4, max_size=8), min_size=1, max_size=12, unique=True),
       cut=st.integers(0, 12), seed=st.integers(0, 5))
def test_split_properties(ids, cut, seed):
    first = assign_splits({}, ids[:cut], seed)
    second = assign_splits(first, ids[cut:], seed)
    assert {**first, **second} == {**first, **assign_splits(first, ids[cut:], seed)}  # deterministic
    assert all(second.get(i, first.get(i)) == first[i] for i in first)  # old never move
    together = {**first, **second}
    assert set(together) == set(ids)
    if len(ids) >= 3:
        assert set(together.values()) == set(SPLITS)


def test_cli_ingest_and_audit(tmp_path):
    ws = tmp_path / "ws"
    source = make_source(tmp_path / "in", ".mp4")
    bad = tmp_path / "in" / "broken.mp4"
    bad.write_text("nope")
    result = runner.invoke(app, ["ingest", str(source), str(bad), "--phase", "fullbody", "--character", "Maxus", "--workspace", str(ws)])
    assert result.exit_code == 1
    assert "broken.mp4" in result.output and "Traceback" not in result.output
    assert len(read_table(ws / "data/processed/manifest.csv")) == 8
    audit = runner.invoke(app, ["audit", "--workspace", str(ws)])
    assert audit.exit_code == 0 and "0 cross-split" in audit.output


def test_help_does_not_import_tensorflow_or_gradio():
    code = "import sys, ocpipe, ocpipe.cli; print(any(m in sys.modules for m in ('tensorflow', 'gradio', 'keras')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    result = subprocess.run([sys.executable, "-m", "ocpipe.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "ingest" in result.stdout


def test_commands_that_load_tensorflow_print_one_clean_error_line(tmp_path):
    """TensorFlow's native start-up lines (CPU features, CUDA drivers) stay off stderr."""
    image = tmp_path / "art.png"
    Image.new("RGB", (32, 32), "red").save(image)
    command = [sys.executable, "-m", "ocpipe.cli", "predict", str(image), "--phase", "fullbody", "--workspace", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: no trained model for phase fullbody in {tmp_path / 'models' / 'fullbody'}; run `ocpipe train --phase fullbody` first"]


@pytest.mark.parametrize("verbose", [False, True])
def test_tensorflow_python_warnings_are_quiet_unless_verbose(verbose):
    """E.g. 'tf.function retracing' once several phases' models have predicted in one `ocpipe train`."""
    code = ("from ocpipe.quiet import quiet_tensorflow; "
            f"quiet_tensorflow({verbose}); import tensorflow as tf; tf.get_logger().warning('retracing'); "
            "print(tf.get_logger().getEffectiveLevel())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert int(result.stdout.strip()) == (logging.WARNING if verbose else logging.ERROR)
    assert ("retracing" in result.stderr) == verbose


def test_samples_cover_every_phase_and_format(tmp_path):
    from ocpipe.samples import write_samples

    written = write_samples(tmp_path / "s")
    phases = {path.relative_to(tmp_path / "s").parts[0] for path in written}
    assert phases == {"eyes", "headshot", "fullbody", "multi"}
    suffixes = {path.suffix for path in written if path.is_file()}
    assert {".mp4", ".mov", ".webm", ".avi", ".mkv", ".gif", ".png", ".apng", ".webp", ".jpg"} <= suffixes
    assert any(path.is_dir() for path in written)
    # The same samples are the same bytes on every run (Matroska's random UIDs are
    # replaced), so they get the same source ids and splits, and re-ingesting adds nothing.
    again = write_samples(tmp_path / "again")
    differing = [path.name for path, other in zip(written, again)
                 if path.is_file() and path.read_bytes() != other.read_bytes()]
    assert differing == []
    variant = write_samples(tmp_path / "v", phases=("fullbody",), variant=1)
    assert {path.relative_to(tmp_path / "v").parts[0] for path in variant} == {"fullbody"}
    assert all("-v1" in path.name for path in variant)


def test_report_counts_and_contact_sheets(tmp_path, workspace):
    raw = _tree(workspace.raw)
    ingest([raw], workspace)
    make_source(workspace.others("fullbody"), ".gif", character="Ranger", name="friend")
    result = runner.invoke(app, ["report", "--workspace", str(workspace.root)])
    assert result.exit_code == 0, result.output
    assert "| fullbody | Maxus | 4 |" in result.output
    assert "learnt as 'none of them' by `ocpipe train` (data/others/<phase>/): fullbody 1 file" in result.output
    assert (workspace.reports / "fullbody_Maxus.png").stat().st_size > 1000
    # Transparent and plain backgrounds are replaced in training: no background warning for them.
    assert "detailed background" not in result.output
    # A character whose frames all lie over a scene is warned about: that background can't be replaced.
    for number in range(2):
        make_source(workspace.raw / "fullbody" / "Scenic", ".mp4", character="Ranger", background="scene",
                    seed=number, name=f"scene{number}")
    ingest([workspace.raw], workspace)
    result = runner.invoke(app, ["report", "--workspace", str(workspace.root)])
    assert "fullbody/Scenic: 100% of its frames have a detailed background" in " ".join(result.output.split())
    assert "fullbody/Maxus" not in result.output.split("## Warnings")[1]
