"""Human-readable output: ingest summaries, the dataset report, training tables."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from .config import IMBALANCE_RATIO, SPLITS
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

    table = Table(title="Test results (animations never seen in training)")
    for column in ("phase", "classes", "test score", "val score", "baseline (test)", "epochs"):
        table.add_column(column)
    for result in results:
        metrics = result.metrics
        if "test_micro_f1" in metrics:
            test = f"micro-F1 {_pct(metrics.get('test_micro_f1'))}"
            val = f"micro-F1 {_pct(metrics.get('val_micro_f1'))}"
        else:
            test, val = f"accuracy {_pct(metrics.get('test_accuracy'))}", f"accuracy {_pct(metrics.get('val_accuracy'))}"
        baseline = metrics.get("baseline", {})
        table.add_row(result.phase, str(len(metrics.get("per_class", {}))), test, val,
                      _pct(baseline.get("test_accuracy")) if baseline.get("applicable") else "-", str(metrics.get("epochs_run")))
    console.print(table)
    for result in results:
        console.print(f"{result.phase}: report {result.report}")


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"
