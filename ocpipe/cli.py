"""The `ocpipe` command. Each command parses options, calls one library
function and prints; library errors (OcpipeError) become exit code 1 here.

Heavy libraries (TensorFlow, Gradio) are imported inside the library functions,
so `ocpipe --help` stays fast."""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import config
from .errors import OcpipeError

app = typer.Typer(
    help="Turn animated drawings into a clean dataset, train CNNs that tell characters apart, and explain them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

WorkspaceOption = Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder (holds data/ and models/).")]
PhaseOption = Annotated[Optional[str], typer.Option("--phase", "-p", help=f"One of: {', '.join(config.PHASES)}.")]
SeedOption = Annotated[int, typer.Option(help="Random seed: the same seed gives the same splits / training run.")]


def _console():
    from rich.console import Console

    return Console(stderr=False, highlight=False)


# Set by the --verbose option of the main callback.
_verbose = False


def _quiet_tensorflow() -> None:
    """Import TensorFlow without its native start-up lines (kept with --verbose)."""
    from .quiet import quiet_tensorflow

    quiet_tensorflow(_verbose)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show progress details.")] = False) -> None:
    global _verbose
    _verbose = verbose
    # A GIF frame that grows its canvas past 89 megapixels makes Pillow warn before
    # ocpipe refuses the file with its own one line; the warning would add two more.
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


class _RichProgress:
    """A progress bar per source that is long enough to be worth one."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            transient=True, disable=not sys.stderr.isatty(), console=None,
        )
        self._task = None

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def start(self, label: str, total: int | None) -> None:
        self._task = self._progress.add_task(label[-60:], total=total)

    def advance(self, frames: int = 1) -> None:
        self._progress.advance(self._task, frames)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Animations, stills, folders (numbered frames: one animation; other files: a drawing each), or a raw tree <phase>/<Character>/<source>.")],
    phase: PhaseOption = None,
    character: Annotated[Optional[str], typer.Option("--character", "-c", help="Character name; for multi, A+B.")] = None,
    workspace: WorkspaceOption = Path("."),
    threshold: Annotated[int, typer.Option(help=f"Hamming distance (bits of {config.HASH_BITS}) at or under which a frame is a near-duplicate.")] = config.DEFAULT_THRESHOLD,
    seed: SeedOption = config.DEFAULT_SEED,
    max_side: Annotated[int, typer.Option(help="Shrink stored frames so the longest side is at most this many pixels (0: keep full size).")] = config.DEFAULT_MAX_SIDE,
    max_frames_per_source: Annotated[int, typer.Option(help="Most frames kept per source, spread evenly over it; the rest are recorded as reason=cap (0: no limit).")] = config.DEFAULT_MAX_FRAMES_PER_SOURCE,
) -> None:
    """Extract frames, drop near-identical ones, and split train/val/test by source animation."""
    from .ingest import ingest as run_ingest
    from .report import print_ingest_result
    from .workspace import Workspace

    try:
        with _RichProgress() as progress:
            result = run_ingest(paths, Workspace.at(workspace), phase, character, threshold, seed, max_side, progress,
                                max_frames_per_source=max_frames_per_source)
    except OcpipeError as exc:
        raise _fail(str(exc))
    print_ingest_result(result, _console())
    for failure in result.failures:
        typer.echo(f"error: {failure}", err=True)
    if result.failures:
        raise typer.Exit(1)


@app.command()
def audit(
    workspace: WorkspaceOption = Path("."),
    threshold: Annotated[int, typer.Option(help="Distance in bits under which two frames count as the same drawing.")] = config.DEFAULT_THRESHOLD,
) -> None:
    """List near-duplicate frames of one character that sit in different splits (leakage)."""
    from .audit import audit_workspace
    from .workspace import Workspace

    try:
        leaks = audit_workspace(Workspace.at(workspace), threshold)
    except OcpipeError as exc:
        raise _fail(str(exc))
    for leak in leaks:
        typer.echo(f"{leak['a']} ({leak['a_split']}) ~ {leak['b']} ({leak['b_split']}): {leak['distance']} bits")
    typer.echo(f"{len(leaks)} cross-split near-duplicate pair(s) at <= {threshold} bits")
    if leaks:
        raise typer.Exit(1)


@app.command()
def report(workspace: WorkspaceOption = Path(".")) -> None:
    """Dataset report: counts, class imbalance, backgrounds per character, contact sheets."""
    from .report import dataset_report
    from .workspace import Workspace

    try:
        path, text = dataset_report(Workspace.at(workspace))
    except OcpipeError as exc:
        raise _fail(str(exc))
    typer.echo(text)
    typer.echo(f"\nReport written to {path}")


@app.command()
def samples(directory: Annotated[Path, typer.Argument(help="Folder to write the sample raw tree into.")]) -> None:
    """Write sample animations (every supported format, all four phases) from bundled CC0 art."""
    from .samples import write_samples

    try:
        written = write_samples(directory)
    except OcpipeError as exc:
        raise _fail(str(exc))
    typer.echo(f"Wrote {len(written)} sample sources under {directory}")


@app.command()
def train(
    phase: PhaseOption = None,
    epochs: Annotated[int, typer.Option(help="Most epochs per phase, for backbones trained by back-propagation ('simple', keras.applications).")] = config.DEFAULT_EPOCHS,
    seed: SeedOption = config.DEFAULT_SEED,
    workspace: WorkspaceOption = Path("."),
    backbone: Annotated[str, typer.Option(help="'mobilenet' (default: frozen pretrained MobileNet, shipped with ocpipe, plus a linear head), "
                                          "'simple' (compact CNN from scratch) or a Keras application, e.g. MobileNetV3Small.")] = config.DEFAULT_BACKBONE,
    regime: Annotated[str, typer.Option(help="How to measure: 'auto' (cross-validation by source when a character has fewer than "
                                        f"{config.CROSS_VALIDATE_BELOW} animations, else the fixed split), 'split' or 'cross-validation'.")] = "auto",
    weights: Annotated[Optional[str], typer.Option(help="Backbone weights: 'imagenet' (needs internet) or a local .h5/.weights.h5 file.")] = None,
    flip: Annotated[bool, typer.Option("--flip/--no-flip", help="Random horizontal flips (off: characters are often asymmetric).")] = False,
    batch_size: Annotated[int, typer.Option(help="Images per training step.")] = config.DEFAULT_BATCH_SIZE,
) -> None:
    """Train one model per phase (every phase with data, or --phase) and write a report."""
    from .train import TrainOptions, train_phases
    from .workspace import Workspace

    _quiet_tensorflow()
    options = TrainOptions(epochs=epochs, seed=seed, backbone=backbone, weights=weights, flip=flip, batch_size=batch_size, regime=regime)
    try:
        with _RichProgress() as progress:
            results = train_phases(Workspace.at(workspace), phase, options, log=typer.echo, progress=progress)
    except OcpipeError as exc:
        raise _fail(str(exc))
    from .report import print_train_results

    print_train_results(results, _console())
    failures = [failure for result in results for failure in result.failures]
    for failure in failures:
        typer.echo(f"error: {failure} (left out of the 'none of them' examples)", err=True)
    if failures:
        raise typer.Exit(1)


@app.command()
def predict(
    images: Annotated[list[Path], typer.Argument(help="Images to classify, or folders of them.")],
    phase: Annotated[str, typer.Option("--phase", "-p", help=f"One of: {', '.join(config.PHASES)}.")],
    workspace: WorkspaceOption = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    top: Annotated[int, typer.Option(help="How many characters to list per image.")] = 3,
) -> None:
    """Name the characters in images with a trained model. An image that can't be read
    (or is over the pixel budget) gets one error line; the others are still answered."""
    from .predict import Predictor, pictures_in
    from .workspace import Workspace

    _quiet_tensorflow()
    try:
        predictor = Predictor.load(Workspace.at(workspace), phase)
    except OcpipeError as exc:
        raise _fail(str(exc))
    images, empty = pictures_in(images)
    for folder, reason in empty:
        typer.echo(f"error: {folder}: {reason}", err=True)
    failed = bool(empty)
    for image in images:
        try:
            result = predictor.predict_path(image)
        except OcpipeError as exc:
            typer.echo(f"error: {image}: {exc}", err=True)
            failed = True
            continue
        if as_json:
            typer.echo(json.dumps({"path": str(image), **result}))
        else:
            from .predict import summary

            typer.echo(f"{image}: {summary(result, top)}" + (f"  ({result['note']})" if result.get("note") else ""))
    if failed:
        raise typer.Exit(1)


@app.command()
def explain(
    image: Annotated[Path, typer.Argument(help="Image to explain.")],
    phase: Annotated[str, typer.Option("--phase", "-p", help=f"One of: {', '.join(config.PHASES)}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the overlay PNG.")],
    class_name: Annotated[Optional[str], typer.Option("--class", help="Class to explain (default: the top prediction).")] = None,
    workspace: WorkspaceOption = Path("."),
    method: Annotated[str, typer.Option(help="gradcam or gradcam++.")] = "gradcam",
    alpha: Annotated[float, typer.Option(help="Heat-map opacity, 0..1.")] = 0.45,
) -> None:
    """Write a Grad-CAM overlay showing where the model looked."""
    from .explain import explain_image
    from .workspace import Workspace

    _quiet_tensorflow()
    try:
        result = explain_image(Workspace.at(workspace), image, phase, out, class_name, method, alpha)
    except OcpipeError as exc:
        raise _fail(str(exc))
    note = f" ({result['note']})" if result.get("note") else ""
    typer.echo(f"{image}: explained '{result['class']}' ({result['score']:.1%}); overlay written to {out}{note}")


@app.command()
def demo(
    workspace: WorkspaceOption = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
    share: Annotated[bool, typer.Option("--share", help="Also make a public gradio.live link (anyone with it can use the app).")] = False,
    auth: Annotated[Optional[str], typer.Option(help="Require USER:PASSWORD to open the app.")] = None,
) -> None:
    """Open the Gradio app: predictions with Grad-CAM overlays."""
    from .app import launch

    _quiet_tensorflow()
    try:
        launch(Path(workspace), host=host, port=port, share=share, auth=auth, log=typer.echo)
    except OcpipeError as exc:
        raise _fail(str(exc))


export_app = typer.Typer(help="Export trained models: `ocpipe export web OUT_DIR` writes a static demo site.",
                         no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("web")
def export_web(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the site into (new, empty, or an earlier export).")],
    phase: Annotated[Optional[list[str]], typer.Option("--phase", "-p", help="Phase to include (repeat for several; default: every trained phase).")] = None,
    workspace: WorkspaceOption = Path("."),
    title: Annotated[Optional[str], typer.Option(help="The page's title and credit line, e.g. 'Characters by Ada Lovelace'.")] = None,
    examples: Annotated[int, typer.Option(help="Test-split frames copied in per character and phase, shown as examples.")] = 3,
    half: Annotated[bool, typer.Option("--half", help="Store the network's weights as float16: half the model file (MobileNet 6.5 instead of 13 MB), scores off by up to ~0.003.")] = False,
) -> None:
    r"""Write a static demo site: the characters recognised in the visitor's browser, with heat maps.

    Any static host serves it (a Hugging Face static Space, GitHub Pages, an iframe on a portfolio).
    Needs the export extra: pip install 'ocpipe\[export]'."""
    from .export import export_web as run_export
    from .workspace import Workspace

    _quiet_tensorflow()
    try:
        result = run_export(Workspace.at(workspace), out_dir, phase or None, title, examples, half, log=typer.echo)
    except OcpipeError as exc:
        raise _fail(str(exc))
    for note in result.notes:
        typer.echo(f"note: {note}")
    parts = {name: result.bytes_under(f"{name}/") for name in ("runtime", "models", "examples")}
    parts["page"] = result.total_bytes - sum(parts.values())
    typer.echo(f"Wrote {result.out_dir}: {result.total_bytes / 1e6:.1f} MB in {len(result.files)} files ("
               + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in parts.items()) + ")")
    typer.echo(f"Try it: python -m http.server -d {result.out_dir} 8000  (then open http://127.0.0.1:8000); "
               f"{result.out_dir / 'README.md'} says how to publish it.")


if __name__ == "__main__":  # pragma: no cover
    app()
