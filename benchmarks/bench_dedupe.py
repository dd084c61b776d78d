"""Distinct drawings kept vs. copies dropped, for one drawing exported several ways.

Each drawing (a real-art headshot from benchmarks/real_art/build.py, or with
`--set samples` a bust of the bundled sprites) is ingested once as a transparent
PNG, the original. Then each kind of copy is ingested as its own sources, the
way she re-exports her art:

* white / black: flattened over white (a JPEG, q90) or black (an MP4's frames, q90),
* gif: a transparent GIF (256-colour palette, hard alpha),
* slid: the transparent drawing on a canvas 7% larger, placed off-centre,
* rescaled: the transparent drawing at 94% of its size.

For each kind it prints how many copies ocpipe kept as new drawings (goal: 0),
beside a plain baseline in the same run: a 64-bit pHash of the picture as it
comes (imagehash.phash, transparency over white as Pillow flattens it), a copy
dropped when within 6 bits of a kept one (the same share of bits as ocpipe's
12 of 256). And how many originals were kept (goal: all; different drawings of one
character must not merge).

    python benchmarks/bench_dedupe.py [--set real-art] [--proxies DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
KINDS = ("white", "black", "gif", "slid", "rescaled")


def _drawings(which: str, proxies: Path) -> dict[str, list[tuple[str, np.ndarray]]]:
    """{character: [(name, RGBA)]}."""
    from PIL import Image

    if which == "samples":
        sys.path.insert(0, str(HERE.parent / "tests"))
        from conftest import make_bust

        poses = ("idle", "walk0", "walk2", "jump", "fall", "climb0")
        return {character: [(pose, np.ascontiguousarray(make_bust(pose, character)[:, :, [2, 1, 0, 3]])) for pose in poses]
                for character in ("Zombie", "Adventurer", "Robot")}
    if not (proxies / "headshot" / "manifest.csv").exists():
        subprocess.run([sys.executable, str(HERE / "real_art" / "build.py"), "--out", str(proxies),
                        "--pkgdir", str(proxies / "pkgs"), "--no-sheets"], check=True)
    out: dict[str, list[tuple[str, np.ndarray]]] = {}
    for path in sorted((proxies / "headshot").glob("*/*/*.png")):
        out.setdefault(path.parent.name, []).append((path.stem, np.asarray(Image.open(path).convert("RGBA"))))
    return out


def _copy(rgba: np.ndarray, kind: str, folder: Path, name: str) -> Path:
    """Write one copy of a drawing (see the module docstring); returns its path."""
    import cv2
    from PIL import Image

    alpha = rgba[:, :, 3:4] / 255.0
    if kind in ("white", "black"):
        colour = 255 if kind == "white" else 0
        flat = (rgba[:, :, :3] * alpha + colour * (1 - alpha)).astype(np.uint8)
        path = folder / f"{name}-{kind}.jpg"
        Image.fromarray(flat).save(path, quality=90)
        return path
    if kind == "gif":
        path = folder / f"{name}.gif"
        Image.fromarray(rgba).save(path)
        return path
    height, width = rgba.shape[:2]
    if kind == "slid":
        canvas = np.zeros((round(height * 1.07), round(width * 1.07), 4), np.uint8)
        canvas[canvas.shape[0] - height:, : width] = rgba
        picture = canvas
    else:
        picture = cv2.resize(rgba, (round(width * 0.94), round(height * 0.94)), interpolation=cv2.INTER_AREA)
    path = folder / f"{name}-{kind}.png"
    Image.fromarray(picture).save(path)
    return path


def _baseline_kept(originals: list[Path], copies: list[Path]) -> tuple[int, int]:
    """(originals kept, copies kept) by a plain 64-bit pHash within 6 bits."""
    import imagehash
    from PIL import Image

    kept: list = []

    def keep(path: Path) -> bool:
        digest = imagehash.phash(Image.open(path).convert("RGB"))
        if any(digest - other <= 6 for other in kept):
            return False
        kept.append(digest)
        return True

    return sum(keep(path) for path in originals), sum(keep(path) for path in copies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=("real-art", "samples"), default="real-art")
    parser.add_argument("--proxies", type=Path, default=Path(tempfile.gettempdir()) / "ocpipe-real-art",
                        help="where the real-art proxy is built (or already is)")
    args = parser.parse_args()

    from PIL import Image

    from ocpipe.ingest import ingest
    from ocpipe.manifest import read_table
    from ocpipe.workspace import Workspace

    drawings = _drawings(args.set, args.proxies)
    total = sum(len(items) for items in drawings.values())
    print(f"{args.set}: {total} drawings of {len(drawings)} characters; copies: {', '.join(KINDS)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        originals: dict[str, list[Path]] = {}
        for character, items in drawings.items():
            folder = root / "png" / character
            folder.mkdir(parents=True)
            for name, rgba in items:
                path = folder / f"{name}.png"
                Image.fromarray(rgba).save(path)
                originals.setdefault(character, []).append(path)
        print(f"{'copies':<10} {'ocpipe kept':>12} {'baseline kept':>14} {'originals kept (ocpipe/baseline)':>34} {'ingest s':>9}")
        for kind in KINDS:
            workspace = Workspace.at(root / f"ws-{kind}")
            started = time.perf_counter()
            copies_kept = originals_kept = 0
            baseline_originals = baseline_copies = 0
            for character, items in drawings.items():
                folder = root / kind / character
                folder.mkdir(parents=True)
                copies = [_copy(rgba, kind, folder, name) for name, rgba in items]
                first = ingest([root / "png" / character], workspace, phase="headshot", character=character)
                originals_kept += sum(int(record["frames_kept"]) for record in first.added)
                second = ingest([folder], workspace, phase="headshot", character=character)
                copies_kept += sum(int(record["frames_kept"]) for record in second.added)
                b_originals, b_copies = _baseline_kept(originals[character], copies)
                baseline_originals += b_originals
                baseline_copies += b_copies
            seconds = time.perf_counter() - started
            assert len(read_table(workspace.manifest)) == originals_kept + copies_kept
            print(f"{kind:<10} {copies_kept:>8} / {total:<3} {baseline_copies:>9} / {total:<3} "
                  f"{originals_kept:>22} / {baseline_originals} of {total} {seconds:>9.1f}")
    print("goal: 0 copies kept, every original kept")


if __name__ == "__main__":
    main()
