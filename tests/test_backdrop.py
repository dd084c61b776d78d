"""A drawing moving across a static detailed scene: the backdrop is estimated,
the drawing cut out, and the same drawing at another spot is one frame (issue 14).
Also the per-source cap and the report's dominant-source warning."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ocpipe import backdrop, backgrounds, samples
from ocpipe.cli import app
from ocpipe.decode import probe
from ocpipe.ingest import ingest
from ocpipe.manifest import read_table

runner = CliRunner()

# Eight clearly distinct drawings (the walk cycle's second half nearly repeats its first).
DRAWINGS = ("walk0", "walk1", "walk2", "walk3", "idle", "jump", "fall", "climb0")


def _crossing(cycles: int = 3, step: int = 16, pan: int = 0, width: int = 480, height: int = 270,
              character: str = "Robot") -> list[np.ndarray]:
    """Opaque RGBA frames: the 8 drawings in a loop, held on twos, each drawing
    `step` pixels further right over a detailed scene; with `pan`, the camera
    also moves `pan` pixels a drawing across a wider scene."""
    scene = backgrounds.scene(height, width + pan * len(DRAWINGS) * cycles, np.random.default_rng(5))
    sprites = [cv2.resize(samples._sprite(character, pose), (72, 96), interpolation=cv2.INTER_AREA) for pose in DRAWINGS]
    frames = []
    for drawing in range(len(DRAWINGS) * cycles):
        canvas = np.zeros((height, width, 4), np.uint8)
        backgrounds.paste(canvas, sprites[drawing % len(DRAWINGS)], 20 + drawing * step, height - 110)
        view = scene[:, drawing * pan : drawing * pan + width]
        opaque = np.dstack([backgrounds.compose(canvas, view), np.full((height, width), 255, np.uint8)])
        frames += [opaque, opaque]
    return frames


def _write(folder, name: str, fmt: str, frames: list[np.ndarray]):
    folder.mkdir(parents=True, exist_ok=True)
    return samples._write(folder / name, fmt, frames, frames[0][:, :, :3] if fmt != ".gif" else None)


def _drawing(frame_index: str, held: int = 2) -> str:
    """The drawing a frame shows; `held` 1 where the writer merged held frames (GIF)."""
    return DRAWINGS[(int(frame_index) // held) % len(DRAWINGS)]


@pytest.mark.parametrize("fmt", [".mp4", ".gif"])
def test_drawing_crossing_a_scene_is_kept_once_per_drawing(tmp_path, workspace, fmt):
    source = _write(tmp_path / "in", "run", fmt, _crossing())
    result = ingest([source], workspace, phase="fullbody", character="Robot")
    assert result.ok, result.failures
    record = result.added[0]
    assert record["backdrop"] == "static"
    assert any("static backdrop" in note for note in result.notes)
    # GIF writers merge held frames: 24 frames, one per drawing.
    held = 2 if record["frames_decoded"] == "48" else 1
    assert int(record["frames_decoded"]) == 48 // (3 - held)
    rows = read_table(workspace.manifest)
    # Every drawing exactly once, cut out: its box is the drawing's (the 72x96 sprite
    # holds a margin), not the 480x270 canvas.
    assert sorted(_drawing(row["frame_index"], held) for row in rows) == sorted(DRAWINGS)
    assert all(row["backdrop"] == "static" and row["background"] == "detailed" for row in rows)
    assert all(40 <= int(row["box_right"]) - int(row["box_left"]) <= 72 for row in rows)
    assert all(60 <= int(row["box_bottom"]) - int(row["box_top"]) <= 96 for row in rows)
    dropped = read_table(workspace.duplicates)
    assert len(dropped) == int(record["frames_decoded"]) - len(DRAWINGS)
    kept = {row["path"]: _drawing(row["frame_index"], held) for row in rows}
    # Each dropped frame repeats the kept frame of its own drawing; most at another spot.
    assert all(kept[row["duplicate_of"]] == _drawing(row["frame_index"], held) for row in dropped)
    assert Counter(row["reason"] for row in dropped)["moved"] >= len(DRAWINGS) * 2
    assert result.leaks == []
    manifest = workspace.manifest.read_bytes()
    again = ingest([source], workspace, phase="fullbody", character="Robot")
    assert again.added == [] and workspace.manifest.read_bytes() == manifest


def test_drawings_at_other_spots_match_and_other_drawings_do_not():
    """The pixel comparison behind reason=moved, on frames without codec noise."""
    frames = [frame[:, :, :3] for frame in _crossing(cycles=2)[::2]]
    fitted = backdrop.fit_backdrop(frames)
    assert isinstance(fitted, backdrop.Backdrop)
    sprites = []
    for frame in frames:
        cutout = fitted.separate(frame)
        assert cutout is not None and not cutout.blank
        sprites.append(cutout.sprite)
    count = len(DRAWINGS)
    for index in range(count):
        assert backdrop.same_drawing(sprites[index + count], sprites[index])  # 8 steps further along
        assert not any(backdrop.same_drawing(sprites[index + count], sprites[other]) for other in range(count) if other != index)


def test_drawings_index_holds_a_bounded_number_of_sprites(monkeypatch):
    """A source keeping thousands of frames over its backdrop must not hold
    thousands of sprites: past the bound the least recently matched one goes."""
    from ocpipe import dedupe

    frames = [frame[:, :, :3] for frame in _crossing(cycles=2)[::2]]
    fitted = backdrop.fit_backdrop(frames)
    sprites = [fitted.separate(frame).sprite for frame in frames]
    monkeypatch.setattr(dedupe, "_MAX_SPRITES", 3)
    drawings = dedupe.Drawings()
    for index in range(3):
        drawings.add(f"kept{index}", sprites[index])
    assert drawings.find(sprites[len(DRAWINGS)]) == "kept0"  # drawing 0 again, 8 steps on: matched, so recent
    drawings.add("kept3", sprites[3])  # replaces kept1, the least recently used
    assert len(drawings) == 3 and sorted(drawings.keys) == ["kept0", "kept2", "kept3"]
    assert drawings.find(sprites[len(DRAWINGS) + 1]) is None


def test_camera_pan_has_no_static_backdrop_and_says_so(tmp_path, workspace):
    source = _write(tmp_path / "in", "pan", ".mp4", _crossing(pan=12))
    assert backdrop.estimate_backdrop(source, probe(source))[0] == "moving"
    result = runner.invoke(app, ["ingest", str(source), "--phase", "fullbody", "--character", "Robot",
                                 "--workspace", str(workspace.root)])
    assert result.exit_code == 0, result.output
    assert "no static backdrop" in result.output
    (record,) = read_table(workspace.sources)
    assert record["backdrop"] == "moving"
    rows = read_table(workspace.manifest)
    # Today's rule: whole frames compared, so the moving camera keeps many frames.
    assert all(row["backdrop"] == "" and row["background"] == "detailed" for row in rows)
    assert len(rows) > len(DRAWINGS)


def test_drawing_standing_in_place_keeps_the_whole_frame_rule(tmp_path, workspace):
    source = _write(tmp_path / "in", "still-walk", ".mp4", _crossing(step=0))
    result = ingest([source], workspace, phase="fullbody", character="Robot")
    assert result.added[0]["backdrop"] == "in-place"
    assert any("doesn't move" in note for note in result.notes)


def test_sample_positions_sit_just_past_keyframes_and_spread_over_the_video():
    keyframes = [0, 250, 500, 750, 1000, 1250]
    positions = backdrop.video_sample_positions(keyframes, 1440, 15)
    assert len(positions) >= 15 and positions == sorted(set(positions))
    for position in positions:  # cheap to seek to: a few dozen frames past a keyframe
        assert 0 <= position - max(k for k in keyframes if k <= position) <= 40
    assert {max(k for k in keyframes if k <= p) for p in positions} == set(keyframes)
    # Many keyframes: one sample after each of 15 of them, spread evenly.
    many = backdrop.video_sample_positions(list(range(0, 1440, 24)), 1440, 15)
    assert len(many) == 15 and many[0] == 0 and many[-1] > 1300
    # A short clip is read through.
    assert backdrop.video_sample_positions([0], 40, 15) == sorted(set(np.linspace(0, 39, 15).round().astype(int).tolist()))


def _distinct_sequence(folder, count: int = 32):
    """A PNG sequence of `count` different drawings (poses x tilts), transparent."""
    frames = []
    for number in range(count):
        sprite = samples._tilt(samples._sprite("Pilot", f"walk{number % 8}"), (number // 8) * 9.0 - 13.5)
        canvas = np.zeros((200, 160, 4), np.uint8)
        backgrounds.paste(canvas, sprite, 10, 10)
        frames.append(canvas)
    folder.mkdir(parents=True, exist_ok=True)
    return samples._write(folder / "many", "seq", frames, None)


def test_cap_keeps_frames_spread_over_the_source_and_rerun_adds_nothing(tmp_path, workspace):
    from ocpipe.workspace import Workspace

    source = _distinct_sequence(tmp_path / "in")
    uncapped = Workspace.at(tmp_path / "uncapped")
    ingest([source], uncapped, phase="fullbody", character="Pilot", max_frames_per_source=0)
    distinct = len(read_table(uncapped.manifest))
    assert distinct > 20
    result = runner.invoke(app, ["ingest", str(source), "--phase", "fullbody", "--character", "Pilot",
                                 "--workspace", str(workspace.root), "--max-frames-per-source", "6"])
    assert result.exit_code == 0, result.output
    assert "reason=cap" in result.output
    rows = read_table(workspace.manifest)
    assert len(rows) == 6
    (record,) = read_table(workspace.sources)
    assert record["frames_kept"] == "6" and record["frames_capped"] == str(distinct - 6)
    # Spread evenly: one kept frame in each sixth of the 32 frames.
    assert sorted(int(row["frame_index"]) * 6 // 32 for row in rows) == list(range(6))
    dropped = read_table(workspace.duplicates)
    capped = [row for row in dropped if row["reason"] == "cap"]
    assert len(capped) >= distinct - 6
    kept_paths = {row["path"] for row in rows}
    assert all(row["duplicate_of"] in kept_paths for row in dropped)
    assert len(dropped) + len(rows) == 32
    # Only the kept frames' PNGs remain.
    stored = {str(path.relative_to(workspace.root)) for path in workspace.processed.rglob("*.png")}
    assert stored == kept_paths
    tables = [path.read_bytes() for path in (workspace.manifest, workspace.duplicates, workspace.sources)]
    again = ingest([source], workspace, phase="fullbody", character="Pilot", max_frames_per_source=6)
    assert again.added == [] and len(again.already) == 1
    assert [path.read_bytes() for path in (workspace.manifest, workspace.duplicates, workspace.sources)] == tables


def test_negative_cap_is_refused(tmp_path, workspace):
    from ocpipe.errors import OcpipeError

    with pytest.raises(OcpipeError):
        ingest([tmp_path], workspace, phase="fullbody", character="Pilot", max_frames_per_source=-1)


def test_report_warns_when_one_source_dominates_a_character(tmp_path, workspace):
    many = _distinct_sequence(tmp_path / "in")
    still = samples._write(tmp_path / "in" / "pose", "still.png", [np.asarray(_crossing(cycles=1)[0])], None)
    ingest([many, still], workspace, phase="fullbody", character="Pilot", max_frames_per_source=0)
    result = runner.invoke(app, ["report", "--workspace", str(workspace.root)])
    assert result.exit_code == 0, result.output
    assert "| largest source |" in result.output
    assert "come from one animation, many" in result.output


@pytest.mark.parametrize("threshold", [0, 1, 14, 40, 254, 255])
def test_above_is_any_channel_over_the_threshold(threshold):
    difference = np.random.default_rng(threshold).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    difference[0, 0] = threshold  # exactly at the threshold is not above it
    expected = difference.max(axis=2) > threshold
    assert np.array_equal(backdrop._above(difference, threshold), expected)
    assert not backdrop._above(difference, threshold)[0, 0]
