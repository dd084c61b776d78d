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
