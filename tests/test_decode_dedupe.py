"""Every export format decodes and dedupes to the drawings it holds."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DISTINCT, WALK_ON_TWOS, make_bust, make_source

from ocpipe import samples
from ocpipe.decode import iter_frames, probe
from ocpipe.errors import InputError
from ocpipe.ingest import ingest
from ocpipe.audit import audit_workspace
from ocpipe.config import HASH_VERSION
from ocpipe.hashing import hamming, hex_to_bits
from ocpipe.manifest import MANIFEST_COLUMNS, read_table, write_table

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


def test_webm_converted_from_an_apng_is_read_to_the_end(tmp_path, workspace):
    """A WebM that FFmpeg made from an APNG (frames 83 ms apart) announces twice its
    frames (duration x the guessed rate): it was refused as 'looks truncated'. Its
    frames' timestamps reach the announced duration, so it is whole."""
    webm = tmp_path / "export.webm"
    _ffmpeg(make_source(tmp_path / "in", ".apng"), webm, "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-b:v", "1M")
    decoded = len(list(iter_frames(webm)))
    assert decoded == len(WALK_ON_TWOS.poses) and probe(webm).frame_count >= 1.5 * decoded  # the header overstates
    result = ingest([webm], workspace, phase="fullbody", character="Pilot")
    assert result.ok and result.added[0]["frames_decoded"] == str(decoded)
    assert len(read_table(workspace.manifest)) == DISTINCT
    # A WebM cut in half still says so.
    cut = tmp_path / "cut.webm"
    cut.write_bytes(webm.read_bytes()[: webm.stat().st_size // 2])
    with pytest.raises(InputError, match="looks truncated"):
        list(iter_frames(cut))


def _ffmpeg(source, target, *options) -> None:
    import subprocess

    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(source), *options, str(target)], check=True)


@pytest.mark.parametrize("name, options", [
    ("vp9.webm", ("-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", "-b:v", "1M")),
    ("vp8.webm", ("-c:v", "libvpx", "-pix_fmt", "yuva420p", "-b:v", "1M", "-auto-alt-ref", "0")),
    ("prores4444.mov", ("-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le")),
    ("animation.mov", ("-c:v", "qtrle", "-pix_fmt", "argb")),
    ("png.mov", ("-c:v", "png", "-pix_fmt", "rgba")),
])
def test_transparent_videos_keep_their_alpha(tmp_path, workspace, name, options):
    """WebM (VP8/VP9 with alpha) and MOV (ProRes 4444, QuickTime Animation, PNG)
    exports keep their transparency: OpenCV drops it and showed the drawings over
    black, so FFmpeg decodes these (libvpx for VP8/VP9)."""
    import cv2

    video = tmp_path / name
    _ffmpeg(make_source(tmp_path / "in", ".apng"), video, *options)
    info = probe(video)
    assert info.has_alpha
    frames = list(iter_frames(video, info))
    assert len(frames) == len(WALK_ON_TWOS.poses) and frames[0].shape[2] == 4
    assert frames[0][0, 0, 3] == 0 and frames[0][:, :, 3].max() == 255
    result = ingest([video], workspace, phase="fullbody", character="Pilot")
    rows = read_table(workspace.manifest)
    assert result.ok and len(rows) == DISTINCT
    assert {row["background"] for row in rows} == {"transparent"} and {row["has_alpha"] for row in rows} == {"1"}
    stored = cv2.imread(str(workspace.absolute(rows[0]["path"])), cv2.IMREAD_UNCHANGED)
    assert stored.shape[2] == 4 and stored[:, :, 3].min() == 0


def test_opaque_vp9_webm_is_read_by_opencv_without_alpha(tmp_path):
    video = tmp_path / "opaque.webm"
    _ffmpeg(make_source(tmp_path / "in", ".mp4"), video, "-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-b:v", "1M")
    info = probe(video)
    assert not info.has_alpha
    frames = list(iter_frames(video, info))
    assert len(frames) == len(WALK_ON_TWOS.poses) and frames[0].shape[2] == 3


@pytest.mark.parametrize("fmt", [".gif", ".png", ".webp", "still.png"])
def test_frames_come_out_contiguous_bgra(tmp_path, fmt):
    """Pillow's frames reach ingest as contiguous BGR(A) arrays: a strided (planar)
    frame sent every later OpenCV call down a slow path (9 ms for a 1080p thumbnail
    instead of 0.3) with the same pixels."""
    from PIL import Image

    picture = np.zeros((30, 40, 4), np.uint8)
    picture[5:25, 5:20] = (250, 20, 10, 255)  # RGBA red
    picture[5:25, 20:35] = (10, 20, 250, 255)  # RGBA blue
    frames = [Image.fromarray(picture), Image.fromarray(np.roll(picture, 3, axis=1))]
    path = tmp_path / ("x.png" if fmt == "still.png" else f"x{fmt}")
    options = {"lossless": True} if fmt == ".webp" else {"disposal": 2} if fmt == ".gif" else {}
    if fmt == "still.png":
        frames[0].save(path)
    else:
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, **options)
    decoded = list(iter_frames(path))
    assert len(decoded) == (1 if fmt == "still.png" else 2)
    for frame in decoded:
        assert frame.flags["C_CONTIGUOUS"] and frame.shape == (30, 40, 4)
    # BGRA: red drawn on the left, blue on the right, transparent around.
    assert tuple(decoded[0][15, 10]) == (10, 20, 250, 255) and tuple(decoded[0][15, 30]) == (250, 20, 10, 255)
    assert decoded[0][2, 2, 3] == 0


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


def test_frames_hashed_by_an_older_version_are_rehashed(tmp_path, workspace):
    """A workspace from before hash version 2: the next ingest re-hashes its plain
    frames from their PNGs, so a re-encoded copy of an old source is still found."""
    first = make_source(tmp_path / "a", ".mp4")  # over a gradient: plain
    ingest([first], workspace, phase="fullbody", character="Pilot")
    rows = read_table(workspace.manifest)
    assert {row["background"] for row in rows} == {"plain"}
    fresh = {row["path"]: row["phash"] for row in rows}
    for row in rows:  # what an older ocpipe left: no version, hashes made another way
        del row["hash_version"]
        row["phash"] = "00" * 32
    write_table(workspace.manifest, rows, [column for column in MANIFEST_COLUMNS if column != "hash_version"])
    result = ingest([make_source(tmp_path / "b", ".avi", name="again")], workspace, phase="fullbody", character="Pilot")
    assert result.ok and result.added[0]["frames_kept"] == "0"
    rows = [row for row in read_table(workspace.manifest) if row["path"] in fresh]
    assert len(rows) == len(fresh) and {row["hash_version"] for row in rows} == {str(HASH_VERSION)}
    assert all(hamming(hex_to_bits(row["phash"]), hex_to_bits(fresh[row["path"]])) <= 4 for row in rows)


BUSTS = ("idle", "walk0", "jump", "climb0")


def _export_busts(folder, how=None):
    """Separate stills of four busts: transparent PNGs, JPEGs flattened over the
    colour `how`, or (how='gif') GIFs, whose palette turns soft edges on or off."""
    import cv2
    from PIL import Image

    folder.mkdir(parents=True)
    for pose in BUSTS:
        if how is None:
            cv2.imwrite(str(folder / f"{pose}.png"), make_bust(pose))
        elif how == "gif":
            Image.fromarray(make_bust(pose)[:, :, [2, 1, 0, 3]]).save(folder / f"{pose}-copy.gif")
        else:
            cv2.imwrite(str(folder / f"{pose}-flat.jpg"), make_bust(pose, colour=how))
    return folder


def _drawing(row):
    """The bust pose a manifest or duplicates row comes from (by its file name)."""
    return row["source_path"].rsplit("/", 1)[-1].split(".")[0].split("-")[0]


@pytest.mark.parametrize("how", [(255, 255, 255), (0, 0, 0), "gif"])
def test_a_bust_exported_several_ways_is_one_drawing(tmp_path, workspace, how):
    """Busts cut at the chest, exported transparent and again flattened over a
    colour (JPEG) or as GIFs: the copies are dropped as repeats of the drawing
    they copy, in whichever order they come, and the four drawings are all kept."""
    transparent = _export_busts(tmp_path / "png")
    copies = _export_busts(tmp_path / "copies", how)
    for first, second in ((transparent, copies), (copies, transparent)):
        ordered = workspace.__class__.at(tmp_path / f"ws-{first.name}")
        result = ingest([first, second], ordered, phase="headshot", character="Zed")
        assert result.ok, result.failures
        kept = read_table(ordered.manifest)
        assert sorted(_drawing(row) for row in kept) == sorted(BUSTS)
        by_path = {row["path"]: row for row in kept}
        assert all(_drawing(row) == _drawing(by_path[row["duplicate_of"]]) for row in read_table(ordered.duplicates))
        assert result.leaks == []


def test_busts_once_called_detailed_are_rehashed_as_plain(tmp_path, workspace):
    """An older ocpipe called a bust over white 'detailed'; the next ingest finds
    its background plain, re-hashes it, and then knows its transparent export."""
    ingest([_export_busts(tmp_path / "flat", (255, 255, 255))], workspace, phase="headshot", character="Zed")
    rows = read_table(workspace.manifest)
    assert {row["background"] for row in rows} == {"plain"}
    for row in rows:  # what the older version stored
        row.update(background="detailed", phash="00" * 32, hash_version="")
    write_table(workspace.manifest, rows, MANIFEST_COLUMNS)
    result = ingest([_export_busts(tmp_path / "png")], workspace, phase="headshot", character="Zed")
    assert result.ok and sum(int(record["frames_kept"]) for record in result.added) == 0
    assert {row["background"] for row in read_table(workspace.manifest)} == {"plain"}


def test_audit_finds_a_flattened_copy_in_another_split(tmp_path, workspace):
    """Kept apart at --threshold 0, a transparent bust and its copy over white sit
    in different splits; the audit (default threshold) names them."""
    folder = tmp_path / "pair"
    _export_busts(folder)
    _export_busts(folder / "flat", (255, 255, 255))
    result = ingest([folder], workspace, phase="headshot", character="Zed", threshold=0)
    assert result.ok, result.failures
    kept = read_table(workspace.manifest)
    assert len(kept) == 2 * len(BUSTS)
    split = {row["path"]: row["split"] for row in kept}
    name = {row["path"]: _drawing(row) for row in kept}
    pairs = {tuple(sorted((leak["a"], leak["b"]))) for leak in audit_workspace(workspace)}
    # Every copy in another split is reported, and nothing else.
    expected = {(a, b) for a in name for b in name if a < b and name[a] == name[b] and split[a] != split[b]}
    assert pairs == expected and expected


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
