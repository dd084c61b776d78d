"""Human-readable output: ingest summaries, the dataset report, training tables."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from .config import DEFAULT_BACKBONE, DETAILED_SHARE, DOMINANT_SOURCE_SHARE, IMBALANCE_RATIO, SPLITS
from .errors import WorkspaceError
from .manifest import read_table


def print_ingest_result(result, console) -> None:
    """The ingest summary: per phase/character/split, sources and frames kept/dropped."""
    from rich.table import Table

    added = len(result.added)
    console.print(f"Ingested {added} new source(s); {len(result.already)} already ingested; {len(result.failures)} failed.")
    if result.summary:
        table = Table(title="Dataset (all sources so far)")
        for column in ("phase", "characters", "split", "sources", "frames kept", "near-duplicates dropped"):
            table.add_column(column, justify="right" if column not in ("phase", "characters", "split") else "left")
        for row in result.summary:
            table.add_row(row["phase"], row["labels"].replace(";", "+"), row["split"], str(row.get("sources", 0)),
                          str(row.get("kept", 0)), str(row.get("dropped", 0)))
        console.print(table)
    for note in result.notes:
        console.print(f"[cyan]source:[/cyan] {note}")
    for warning in result.warnings:
        console.print(f"[yellow]note:[/yellow] {warning}")
    if result.leaks:
        console.print(f"[red]leakage audit: {len(result.leaks)} near-duplicate pair(s) across splits[/red]")
        for leak in result.leaks[:20]:
            console.print(f"  {leak['a']} ({leak['a_split']}) ~ {leak['b']} ({leak['b_split']}): {leak['distance']} bits")
    else:
        console.print("Leakage audit: no near-duplicate frames of a character across splits.")


def print_train_results(results, console) -> None:
    """One table row per trained phase, then where the reports are."""
    from rich.table import Table

    table = Table(title="Results on animations the model never saw")
    for column in ("phase", "classes", "measured on", "score", "colour baseline", "none of them: rejected / kept", "seconds"):
        table.add_column(column)
    for result in results:
        metrics = result.metrics
        folds = metrics.get("regime") == "cross-validation"
        if "test_micro_f1" in metrics:
            score = f"micro-F1 {_pct(metrics.get('test_micro_f1'))}"
        else:
            score = f"accuracy {_pct(metrics.get('test_accuracy'))}"
        where = f"{metrics.get('folds', 0)} folds" if folds else "test split"
        baseline = metrics.get("baseline", {})
        open_set = metrics.get("open_set") or {}
        answer = "-"
        if open_set:
            kept = (open_set.get("test") or {}).get("recognised")
            answer = f"{_pct(open_set['negatives']['rejected'])} / {_pct(kept)}"
        table.add_row(result.phase, str(len(metrics.get("per_class", {}))), where, score,
                      _pct(baseline.get("test_accuracy")) if baseline.get("applicable") else "-", answer,
                      f"{metrics.get('train_seconds', 0):.0f}")
    console.print(table)
    for result in results:
        console.print(f"{result.phase}: report {result.report}")


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def contact_sheet(workspace, rows, path: Path, columns: int = 8, cell: int = 96) -> None:
    """A grid of thumbnails of `rows` (kept frames), written as one PNG."""
    import numpy as np
    from PIL import Image

    rows = rows[: columns * 6]
    lines = max(1, (len(rows) + columns - 1) // columns)
    sheet = Image.new("RGB", (columns * cell, lines * cell), (235, 235, 235))
    for index, row in enumerate(rows):
        try:
            with Image.open(workspace.absolute(row["path"])) as image:
                image = image.convert("RGBA")
                image.thumbnail((cell - 4, cell - 4))
        except OSError:
            continue
        checker = Image.new("RGBA", image.size, (200, 200, 200, 255))
        checker.alpha_composite(image)
        sheet.paste(checker.convert("RGB"), ((index % columns) * cell + 2, (index // columns) * cell + 2))
    from .manifest import atomic_write_bytes
    import io

    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def dataset_report(workspace) -> tuple[Path, str]:
    """Counts per phase/character/split, imbalance warnings, background mix per
    character, the share of its frames that comes from its largest source (a
    warning when that is over DOMINANT_SOURCE_SHARE with several sources), and a
    contact sheet per phase and character. Returns (report path, text)."""
    if not workspace.manifest.exists():
        raise WorkspaceError(f"no manifest at {workspace.manifest}; run `ocpipe ingest` first")
    manifest = read_table(workspace.manifest)
    sources = read_table(workspace.sources)
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for row in manifest:
        groups[(row["phase"], row["labels"])].append(row)
    lines = ["# ocpipe dataset report", "",
             "| phase | characters | sources | train | val | test | backgrounds | largest source |",
             "|---|---|---|---|---|---|---|---|"]
    warnings = []
    names = {row["source_id"]: row["source_path"].rsplit("/", 1)[-1] for row in sources}
    for (phase, labels), rows in sorted(groups.items()):
        splits = Counter(row["split"] for row in rows)
        kinds = Counter(row.get("background", "") for row in rows)
        n_sources = sum(1 for s in sources if s["phase"] == phase and s["labels"] == labels)
        mix = ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
        per_source = Counter(row["source_id"] for row in rows)
        largest, count = per_source.most_common(1)[0]
        share = count / len(rows)
        name = names.get(largest, largest[:8])
        lines.append(f"| {phase} | {labels.replace(';', '+')} | {n_sources} | {splits['train']} | {splits['val']} | {splits['test']} | {mix} "
                     f"| {share:.0%} ({name}) |")
        if len(per_source) >= 2 and share > DOMINANT_SOURCE_SHARE:
            warnings.append(f"{phase}/{labels.replace(';', '+')}: {count} of its {len(rows)} frames ({share:.0%}) come from one animation, "
                            f"{name}; the model may learn that clip rather than the character. Add other animations of it, "
                            "or lower --max-frames-per-source when ingesting such clips")
        detailed = kinds.get("detailed", 0) / len(rows)
        if detailed >= DETAILED_SHARE and phase != "multi":
            warnings.append(f"{phase}/{labels.replace(';', '+')}: {detailed:.0%} of its frames have a detailed background "
                            "(a scene, or a crop with no plain border) that ocpipe can't take apart from the drawing, so "
                            "training can't show it over other backgrounds as it does transparent and plain ones, and the "
                            "model may learn what is behind it; add animations of it exported with a transparent or "
                            "plain background, or over other scenes")
        sheet = workspace.reports / f"{phase}_{labels.replace(';', '+')}.png"
        contact_sheet(workspace, rows, sheet)
    from .others import find_sources

    others = {phase: len(find_sources(workspace, phase)) for phase in sorted({phase for phase, _ in groups})}
    lines += ["", "Not-mine examples, learnt as 'none of them' by `ocpipe train` (data/others/<phase>/): "
              + ", ".join(f"{phase} {count} file{'s' if count != 1 else ''}" for phase, count in others.items())]
    from .train import choose_regime

    per_phase: dict[str, Counter] = defaultdict(Counter)
    learnt_from: dict[str, str] = {}
    for phase in sorted({phase for phase, _ in groups}):
        rows = [row for row in manifest if row["phase"] == phase]
        # Under cross-validation (auto's choice for few animations) the model learns from every frame.
        regime, _ = choose_regime(rows, phase == "multi", DEFAULT_BACKBONE)
        learnt_from[phase] = "frames" if regime == "cross-validation" else "training frames"
        for row in rows:
            per_phase[phase][row["labels"]] += regime == "cross-validation" or row["split"] == "train"
    for phase, counts in sorted(per_phase.items()):
        largest = max(counts.values())
        for labels, count in sorted(counts.items()):
            if count == 0 or largest / count >= IMBALANCE_RATIO:
                warnings.append(f"{phase}/{labels.replace(';', '+')}: {count} {learnt_from[phase]} vs {largest} for the most "
                                "drawn character; class weights compensate, but more animations of it help most")
    from .ingest import Dataset, split_warnings

    warnings += split_warnings(Dataset(workspace, manifest, [], sources))
    lines += ["", "## Warnings", ""] + ([f"- {w}" for w in warnings] or ["- none"])
    lines += ["", f"Contact sheets: {workspace.reports / '<phase>_<Character>.png'}"]
    text = "\n".join(lines) + "\n"
    path = workspace.reports / "dataset.md"
    from .manifest import atomic_write_bytes

    atomic_write_bytes(path, text.encode())
    return path, text
