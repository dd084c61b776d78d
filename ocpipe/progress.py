"""The progress hook long library calls report through; the CLI passes one that
draws a bar with the time left. The default is silent."""

from __future__ import annotations


class Progress:
    """start(label, total) a task, advance(n) it, finish() it. Silent by default."""

    def start(self, label: str, total: int | None) -> None: ...

    def advance(self, amount: int = 1) -> None: ...

    def finish(self) -> None: ...
