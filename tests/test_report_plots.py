"""The training report's plots draw without touching the caller's matplotlib state."""

from __future__ import annotations

import subprocess
import sys


def test_report_plots_keep_the_callers_matplotlib_backend(tmp_path):
    """A notebook that runs `train_phase` keeps its inline plots: drawing the report
    used to switch pyplot to Agg for the whole process, after which every later
    figure in the notebook silently showed nothing."""
    code = (
        "import sys, matplotlib; matplotlib.use('svg'); import numpy as np\n"
        "from pathlib import Path\n"
        "from ocpipe.train_report import plot_confusion, plot_learning_curve\n"
        "out = Path(sys.argv[1])\n"
        "plot_confusion(np.array([[3, 1], [0, 4]]), ['Maxus', 'Hydra'], out / 'confusion.png')\n"
        "plot_learning_curve({'learning_curve': [{'animations': 1, 'accuracy': 0.5}], 'test_accuracy': 0.9,"
        " 'baseline': {'test_accuracy': 0.7}}, out / 'curves.png')\n"
        "print(matplotlib.get_backend())\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "svg"
    import numpy as np
    from PIL import Image

    for name in ("confusion.png", "curves.png"):
        with Image.open(tmp_path / name) as image:
            pixels = np.asarray(image.convert("L"), np.float32)
        assert min(pixels.shape) > 200  # a real figure, drawn
        assert pixels.std() > 10  # not a blank canvas


def test_advice_blames_backgrounds_only_where_training_could_not_replace_them():
    from collections import Counter

    from ocpipe.train_report import advice

    metrics = {"focus": {"Cut": 0.3, "Scenic": 0.3, "Fine": 0.8}}
    context = {"backgrounds": {"Cut": Counter(transparent=4, plain=2), "Scenic": Counter(detailed=10, transparent=1),
                               "Fine": Counter(plain=6)}}
    lines = advice(metrics, ["Cut", "Scenic", "Fine"], False, {}, context)
    text = "\n".join(lines)
    # Transparent and plain frames were shown over many backgrounds: a coarse map, not a learned background.
    assert [line for line in lines if "for Cut" in line][0].startswith("Note: for Cut, 30%")
    assert "Warning: for Scenic, only 30%" in text
    assert "91% of the Scenic frames have a detailed background" in text
    assert "Fine" not in text and "of the Cut frames" not in text
