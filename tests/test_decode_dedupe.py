"""Every export format decodes and dedupes to the drawings it holds."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DISTINCT, WALK_ON_TWOS, make_source

from ocpipe import samples
from ocpipe.decode import iter_frames, probe
from ocpipe.ingest import ingest
from ocpipe.manifest import read_table

ANIMATED = [".mp4", ".mov", ".webm", ".avi", ".mkv", ".gif", ".png", ".apng", ".webp", "seq"]


@pytest.mark.parametrize("fmt", ANIMATED)
def test_held_frames_dropped_distinct_kept(tmp_path, workspace, fmt):
    source = make_source(tmp_path / "in", fmt)
    result = ingest([source], workspace, phase="fullbody", character="Pilot")
    assert result.ok, result.failures
    record = result.added[0]
    # GIF/WebP writers merge identical consecutive frames themselves; the rest hold 16.
    assert int(record["frames_decoded"]) in (DISTINCT, len(WALK_ON_TWOS.poses))
    assert int(record["frames_kept"]) == DISTINCT
    rows = read_table(workspace.manifest)
    assert len(rows) == DISTINCT
    dropped = read_table(workspace.duplicates)
    assert len(dropped) == int(record["frames_decoded"]) - DISTINCT
    kept_paths = {row["path"] for row in rows}
    assert all(row["duplicate_of"] in kept_paths for row in dropped)
    assert all(int(row["distance"]) <= 12 for row in dropped)


@pytest.mark.parametrize("fmt", [".gif", ".png", ".apng", ".webp", "seq"])
def test_alpha_kept_in_output(tmp_path, workspace, fmt):
    import cv2

    source = make_source(tmp_path / "in", fmt)
    assert probe(source).has_alpha
    ingest([source], workspace, phase="fullbody", character="Pilot")
    row = read_table(workspace.manifest)[0]
    image = cv2.imread(str(workspace.absolute(row["path"])), cv2.IMREAD_UNCHANGED)
    assert image.shape[2] == 4 and image[:, :, 3].min() == 0 and image[:, :, 3].max() == 255
    assert row["has_alpha"] == "1" and row["background"] == "transparent"


def test_gif_partial_frames_are_composed(tmp_path):
    """A GIF whose later frames store only the changed region decodes to full frames."""
    from PIL import Image

    base = np.zeros((40, 60, 3), np.uint8)
    base[:, :, 0] = 200
    second = base.copy()
    second[10:20, 10:20] = (0, 255, 0)
    path = tmp_path / "partial.gif"
    Image.fromarray(base).save(path, save_all=True, append_images=[Image.fromarray(second)], optimize=True, duration=100)
    frames = list(iter_frames(path))
    assert len(frames) == 2
    assert frames[1].shape == (40, 60, 3)
    # BGR: the unchanged area is still red, the changed square green.
    assert tuple(frames[1][30, 40]) == (0, 0, 200) and tuple(frames[1][15, 15]) == (0, 255, 0)


@pytest.mark.parametrize("fmt", ["still.png", "still.jpg"])
def test_stills(tmp_path, workspace, fmt):
    source = make_source(tmp_path / "in", fmt)
    result = ingest([source], workspace, phase="fullbody", character="Pilot")
    assert result.ok and result.added[0]["frames_kept"] == "1"


def test_loop_and_pingpong_dropped(tmp_path, workspace):
    walk = tuple(f"walk{i}" for i in range(8))
    clip = samples.Clip("loop", walk + walk + walk[::-1])
    source = make_source(tmp_path / "in", ".apng", clip=clip)
    result = ingest([source], workspace, phase="fullbody", character="Pilot")
    assert result.added[0]["frames_kept"] == str(DISTINCT)
    assert result.added[0]["frames_dropped"] == str(16)


def test_same_drawing_in_another_source_is_dropped(tmp_path, workspace):
    # The same drawings exported twice, re-encoded with two codecs.
    first = make_source(tmp_path / "a", ".mp4")
    second = make_source(tmp_path / "b", ".avi", name="again")
    result = ingest([first, second], workspace, phase="fullbody", character="Pilot")
    assert result.ok
    assert sum(int(r["frames_kept"]) for r in result.added) == DISTINCT
    assert result.leaks == []


def test_video_decoding_streams(tmp_path):
    """iter_frames is lazy: the first frame arrives before the video is read to the end."""
    source = make_source(tmp_path / "in", ".mp4")
    frames = iter_frames(source)
    first = next(frames)
    assert first.shape == (224, 128, 3)
    frames.close()


def _walk_in_place_over_scene(character: str, width: int = 640, height: int = 360) -> list[np.ndarray]:
    """Two cycles of an 8-pose walk in place, held on twos, small on a busy scene (RGBA, opaque)."""
    import cv2

    from ocpipe import backgrounds

    scene = backgrounds.scene(height, width, np.random.default_rng(3))
    sprites = [cv2.resize(samples._sprite(character, f"walk{i}"), (96, 128)) for i in range(8)]
    frames = []
    for drawing in range(16):
        canvas = np.zeros((height, width, 4), np.uint8)
        backgrounds.paste(canvas, sprites[drawing % 8], width // 3, height - 138)
        opaque = np.dstack([backgrounds.compose(canvas, scene), np.full((height, width), 255, np.uint8)])
        frames += [opaque, opaque]
    return frames


def test_small_character_on_busy_scene_keeps_its_poses(tmp_path, workspace):
    """Over a detailed background the hash sees the whole canvas, where a small
    character's new pose moves few bits; the look comparison keeps the poses, while
    held copies, the second cycle and a GIF re-encode of it all are dropped."""
    frames = _walk_in_place_over_scene("Adventurer")
    folder = tmp_path / "in"
    folder.mkdir()
    video = samples._write(folder / "1-walk", ".mp4", frames, frames[0][:, :, :3])
    gif = samples._write(folder / "2-walk-again", ".gif", frames, None)
    result = ingest([video, gif], workspace, phase="fullbody", character="Adventurer")
    assert result.ok, result.failures
    first, second = result.added
    assert first["frames_decoded"] == "32"
    # 8 drawn poses, two pairs of them nearly identical at this size: >= 5 kept
    # (the whole-canvas hash alone kept 1), never more than the 8 drawn.
    assert 5 <= int(first["frames_kept"]) <= 8
    assert second["frames_kept"] == "0"
    assert result.leaks == []
    rows = read_table(workspace.manifest)
    assert {row["background"] for row in rows} == {"detailed"}
