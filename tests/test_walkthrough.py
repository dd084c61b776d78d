"""docs/walkthrough.ipynb: stored without outputs, public Keras API only, and it runs
top to bottom on the bundled samples with the results it tells the reader about."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from ocpipe.config import DEFAULT_THRESHOLD

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "walkthrough.ipynb"
# What the notebook's code may not reach into: Keras' private modules, TensorFlow's Keras.
PRIVATE_API = re.compile(r"keras\.src|tensorflow\.keras|tf\.keras|from\s+keras\.src")


def _code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _tagged(notebook, tag: str) -> dict:
    cells = [cell for cell in notebook["cells"] if tag in cell.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"one cell tagged {tag!r} expected, found {len(cells)}"
    return cells[0]


def _stdout(cell) -> str:
    return "".join(output["text"] for output in cell["outputs"] if output["output_type"] == "stream" and output["name"] == "stdout")


def _pictures(cell) -> int:
    return sum(1 for output in cell["outputs"] if "image/png" in output.get("data", {}))


def _percent(text: str, label: str) -> float:
    match = re.search(re.escape(label) + r"[^\n]*?([\d.]+)%", text)
    assert match, f"no '{label} ... %' line in:\n{text}"
    return float(match.group(1)) / 100


def test_walkthrough_is_stored_stripped_and_uses_public_keras_only():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = _code_cells(notebook)
    assert [cell["outputs"] for cell in cells] == [[] for _ in cells]  # outputs stripped (README says why)
    assert {cell["execution_count"] for cell in cells} == {None}
    private = [line for cell in cells for line in _source(cell).splitlines() if PRIVATE_API.search(line)]
    assert private == []
    assert any(re.search(r"^import keras$", _source(cell), re.M) for cell in cells)
    # Small settings in one cell at the top: the first code cell, tagged, with the size of training.
    first = _source(cells[0])
    assert "settings" in cells[0]["metadata"].get("tags", []) and "VIEWS_IN_ALL" in first and "PHASE" in first
    # One "Try this" per stage, each followed by a code cell that runs it.
    tries = [index for index, cell in enumerate(notebook["cells"])
             if cell["cell_type"] == "markdown" and "**Try this:**" in _source(cell)]
    assert len(tries) >= 7
    assert all(notebook["cells"][index + 1]["cell_type"] == "code" for index in tries)


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_walkthrough_runs_and_shows_what_it_says(tmp_path, monkeypatch):
    """Executes every cell headless (nbclient) in a fresh folder, with this interpreter;
    a cell error fails the test with its traceback. Then checks the stories' numbers."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from nbclient.exceptions import CellExecutionError

    # A kernel spec of our own, first on Jupyter's path: the kernel is this interpreter
    # (with ocpipe installed), whatever 'python3' kernels the machine has elsewhere.
    spec = tmp_path / "jupyter" / "kernels" / "ocpipe-walkthrough"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ocpipe walkthrough test", "language": "python"}), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    run_in = tmp_path / "docs"
    run_in.mkdir()

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="ocpipe-walkthrough",
                                     resources={"metadata": {"path": str(run_in)}})
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"a notebook cell failed:\n{error}", pytrace=False)
    finally:
        nbformat.write(notebook, tmp_path / "walkthrough-executed.ipynb")  # to open when a check fails
    assert (run_in / "walkthrough-workspace" / "data" / "processed" / "manifest.csv").is_file()

    # Frames and the hash: a held frame is within the threshold, the next drawing far beyond it.
    distances = re.search(r"held frame: (\d+) bits .*?; new drawing: (\d+) bits", _stdout(_tagged(notebook, "distances")))
    assert distances, _stdout(_tagged(notebook, "distances"))
    assert int(distances.group(1)) <= DEFAULT_THRESHOLD < int(distances.group(2))
    # A looser threshold keeps fewer frames.
    kept = re.search(r"in all: (\d+) frames kept at \d+ bits, (\d+) at (\d+) bits", _stdout(_tagged(notebook, "try-threshold")))
    assert kept and int(kept.group(3)) > DEFAULT_THRESHOLD and int(kept.group(2)) < int(kept.group(1))
    # The leak: the frame-level split scores clearly higher than the honest one, for the same model.
    leak = _stdout(_tagged(notebook, "leak"))
    assert _percent(leak, "leaky split") > _percent(leak, "honest split") + 0.05
    # Augmented views help the honest score; one background only hurts it.
    by_hand = _stdout(_tagged(notebook, "by-hand"))
    with_views = _percent(by_hand, "with augmented views")
    assert with_views > _percent(by_hand, "plain frames only")
    assert _percent(_stdout(_tagged(notebook, "try-background")), "one grey background") < with_views
    # Flips: some views mirrored, not all.
    flips = re.search(r"(\d+) of (\d+) views came out mirrored", _stdout(_tagged(notebook, "try-flip")))
    assert flips and 0 < int(flips.group(1)) < int(flips.group(2))
    # The real training run and its report's figures.
    trained = re.search(r"held-out accuracy ([\d.]+)%", _stdout(_tagged(notebook, "train")))
    assert trained and float(trained.group(1)) >= 80
    assert _pictures(_tagged(notebook, "report-figures")) == 2
    # Grad-CAM on new animations of each character: named right (at most one miss).
    named = re.search(r"(\d+) of (\d+) new animations named right", _stdout(_tagged(notebook, "gradcam")))
    assert named and int(named.group(1)) >= int(named.group(2)) - 1
    # "None of them": blank canvases always, empty scenes mostly (the report's own negatives).
    refused = {kind: (int(done), int(of)) for kind, done, of in
               re.findall(r"^(\w[\w ]*?)\s+'none of them' for (\d+) of (\d+)$", _stdout(_tagged(notebook, "stranger")), re.M)}
    assert refused["blank"][0] == refused["blank"][1] > 0
    assert refused["scene"][0] >= refused["scene"][1] / 2
    # A picture at every stage.
    for tag in ("frames", "held", "hash", "distances", "dropped", "splits", "leak", "preprocess", "augment",
                "try-flip", "layers", "gradcam", "stranger", "try-gradcam"):
        assert _pictures(_tagged(notebook, tag)) >= 1, f"cell {tag!r} shows no picture"
    elapsed = re.search(r"took (\d+) s", _stdout(_tagged(notebook, "elapsed")))
    print(f"walkthrough notebook: {elapsed.group(1)} s inside the kernel")
