"""Run the ocpipe Gradio app: `python demo/app.py [WORKSPACE]` (or `ocpipe demo`).

build_demo(workspace) returns the gr.Blocks without launching it; the app
itself lives in ocpipe/app.py so the installed `ocpipe demo` command has it too."""

from __future__ import annotations

import sys
from pathlib import Path

from ocpipe.app import build_demo, launch

__all__ = ["build_demo"]

if __name__ == "__main__":
    launch(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
