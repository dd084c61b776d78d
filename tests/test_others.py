"""Her 'none of them' examples folder (data/others/<phase>/): what is read from it, and how."""

from __future__ import annotations

import numpy as np
from conftest import make_source
from PIL import Image

from ocpipe import config
from ocpipe.others import find_sources, frame_indices, read_others


def test_frame_indices_spread_over_the_animation():
    assert frame_indices(1, 4) == {0}
    assert frame_indices(0, 4) == {0, 1, 2, 3}  # length unknown: the first ones
    assert frame_indices(16, 4) == {0, 5, 10, 15}
    assert frame_indices(3, 4) == {0, 1, 2}


def test_others_folder_reads_every_format_and_names_what_it_cannot(workspace):
    others = workspace.others("headshot")
    make_source(others, ".gif", character="Adventurer", phase="headshot", seed=3, name="friend")
    make_source(others / "fan art" / "walk", "seq", character="Ranger", phase="headshot", seed=4, name="ranger")
    for name, colour in (("alice", (200, 40, 40)), ("bob", (40, 40, 200))):  # distinct stills in one folder
        image = np.zeros((120, 100, 4), np.uint8)
        image[20:100, 20:80] = (*colour, 255)
        Image.fromarray(image).save(others / "fan art" / f"{name}.png")
    Image.fromarray(np.full((50, 50, 3), 255, np.uint8)).save(others / "blank.png")  # nothing drawn: left out
    (others / "broken.gif").write_bytes(b"GIF89a" + b"\0" * 20)
    (others / "notes.txt").write_text("not a picture")
    (others / ".DS_Store").write_bytes(b"\0junk")  # hidden: ignored
    (others / "fan art" / "back").symlink_to(others, target_is_directory=True)  # a link loop: read once

    sources = [path.relative_to(others).as_posix() for path in find_sources(workspace, "headshot")]
    assert sources == ["blank.png", "broken.gif", "friend.gif", "notes.txt", "fan art/alice.png", "fan art/bob.png",
                       "fan art/walk/ranger"]  # the numbered frames are one animation

    found = read_others(workspace, "headshot", config.IMAGE_SIZES["headshot"])
    assert found.files == ["data/others/headshot/friend.gif", "data/others/headshot/fan art/alice.png",
                           "data/others/headshot/fan art/bob.png", "data/others/headshot/fan art/walk/ranger"]
    assert sorted(str(failure).split(":")[0] for failure in found.failures) == [
        "data/others/headshot/broken.gif", "data/others/headshot/notes.txt"]
    assert all(len(str(failure).splitlines()) == 1 for failure in found.failures)
    assert np.bincount(found.file_of_frame).tolist() == [4, 1, 1, 4]  # 4 frames spread over each animation
    assert found.images.shape == (10, *config.IMAGE_SIZES["headshot"], 4) and found.images.dtype == np.uint8
    # Cropped to the drawing like prediction: alice's red block (80 of its 120 rows) fills most of the letterbox.
    alice = found.images[4]
    assert (alice[..., 3] == 255).any(axis=1).mean() > 0.8  # the crop keeps a small margin
    assert tuple(alice[80, 80, :3]) == (200, 40, 40)


def test_no_others_folder_reads_nothing(workspace):
    found = read_others(workspace, "eyes", config.IMAGE_SIZES["eyes"])
    assert len(found) == 0 and found.files == [] and found.failures == []


def test_ingest_refuses_the_others_folder_and_leaves_the_manifest_alone(workspace):
    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table

    path = make_source(workspace.others("fullbody") / "fan art", ".gif", character="Ranger", seed=2, name="ranger")
    result = ingest([workspace.others("fullbody")], workspace)
    assert len(result.failures) == 1 and "holds pictures of characters that are not yours" in str(result.failures[0])
    assert not workspace.manifest.exists() and path.exists()
    # `ocpipe ingest data` takes her originals and walks past data/others/ and ocpipe's own data/processed/.
    make_source(workspace.raw / "fullbody" / "Maxus", ".apng", character="Robot", seed=1, name="m")
    assert ingest([workspace.root / "data"], workspace).ok
    again = ingest([workspace.root / "data"], workspace)
    assert again.ok and not again.added  # the processed frames are not new sources
    (workspace.model_dir("fullbody")).mkdir(parents=True)
    (workspace.model_dir("fullbody") / "labels.json").write_text("{}")
    whole = ingest([workspace.root], workspace)  # `ocpipe ingest .` in the workspace
    assert whole.ok and not whole.added
    assert {row["labels"] for row in read_table(workspace.manifest)} == {"Maxus"}
    refused = ingest([workspace.processed], workspace)
    assert [failure.reason for failure in refused.failures] == [
        "data/processed/ is ocpipe's own output; ingest the originals in data/raw/"]
