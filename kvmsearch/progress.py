"""Progress display for long stages: a rich bar with ETA on a TTY, one summary line otherwise.

The library reports progress through plain callbacks; only this facade module draws.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kvmsearch.indexer.series.pipeline import Progress


class _Bar:
    def __init__(self, label: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task(label, total=None, note="")

    def update(self, done: int, total: int | None = None, note: str = "") -> None:
        self.progress.update(self.task, completed=done, total=total, note=note)


class Stage:
    """Callable progress sink for one stage (``stage(done, total, note)``)."""

    def __init__(self, label: str, bar: _Bar | None) -> None:
        self.label = label
        self.bar = bar
        self.done = 0
        self.note = ""

    def __call__(self, done: int, total: int | None = None, note: str = "") -> None:
        self.done, self.note = done, note
        if self.bar is not None:
            self.bar.update(done, total, note)


def _is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def stage(label: str, *, enabled: bool = True, unit: str = "") -> Iterator[Stage]:
    """Show a bar for a stage on a TTY; otherwise print one summary line when it ends."""
    t0 = time.monotonic()
    bar = _Bar(label) if enabled and _is_tty() else None
    st = Stage(label, bar)
    if bar is not None:
        bar.progress.start()
    try:
        yield st
    finally:
        if bar is not None:
            bar.progress.stop()
    # Only a stage that finished gets its summary line: a failure has its own message.
    if bar is None and enabled:
        took = time.monotonic() - t0
        extra = f" {st.note}" if st.note else ""
        sys.stderr.write(f"{label}: {st.done}{unit}{extra} in {took:.1f}s\n")


@contextmanager
def progress_for(label: str, *, enabled: bool = True) -> Iterator[Progress]:
    """Adapter for the reader's ``progress(messages, bytes, total_bytes)`` callback."""
    with stage(label, enabled=enabled, unit=" messages") as st:

        def cb(messages: int, done_bytes: int | None, total_bytes: int | None) -> None:
            if total_bytes and done_bytes is not None:
                # Bytes drive the bar (and its ETA); the message count rides along.
                st(
                    min(done_bytes, total_bytes) // 1_000_000,
                    total_bytes // 1_000_000,
                    f"MB, {messages} messages",
                )
                st.done = messages
                st.note = ""
            else:
                st(messages, None)

        yield cb
