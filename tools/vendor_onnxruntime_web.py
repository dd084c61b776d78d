"""Refresh ocpipe/assets/onnxruntime-web/ from the npm registry (a developer task, never run by ocpipe).

`ocpipe export web` copies ONNX Runtime Web into every exported site, so the
runtime is vendored: two files of the npm package, unchanged. This script fetches
the package with `npm pack`, copies them and prints their sizes and sha256 for
the folder's README.md; the licence files come from the same version's PyPI wheel
(the npm package carries none).

    python tools/vendor_onnxruntime_web.py 1.30.0
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "ocpipe" / "assets" / "onnxruntime-web"
FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["npm", "pack", f"onnxruntime-web@{version}", "--pack-destination", folder], check=True)
        with tarfile.open(next(Path(folder).glob("onnxruntime-web-*.tgz"))) as archive:
            for name in FILES:
                member = archive.extractfile(f"package/dist/{name}")
                (OUT / name).write_bytes(member.read())
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", folder,
                        f"onnxruntime=={version}"], check=False)
        wheels = list(Path(folder).glob("onnxruntime-*.whl"))
        if wheels:
            with zipfile.ZipFile(wheels[0]) as wheel:
                for name in ("LICENSE", "ThirdPartyNotices.txt"):
                    with wheel.open(f"onnxruntime/{name}") as source, open(OUT / name, "wb") as target:
                        shutil.copyfileobj(source, target)
        else:
            print(f"no onnxruntime=={version} wheel for this platform: LICENSE and ThirdPartyNotices.txt left as they were")
    for name in FILES:
        data = (OUT / name).read_bytes()
        print(f"| `{name}` | {len(data):,} | `{hashlib.sha256(data).hexdigest()}` |")


if __name__ == "__main__":
    main()
