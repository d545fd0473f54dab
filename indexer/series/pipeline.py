"""Glue for stage 1: sources -> decoded messages -> deduplicated -> series.

The same reading/decoding/dedup step serves `parse` (everything in memory) and the
index builder (which also persists messages), so it lives here once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kvmsearch.models.errors import SourceError
from kvmsearch.models.records import (
    Message,
    ParseResult,
    RawMail,
    Skip,
    SourceFailure,
    SourcePosition,
)

#: progress(messages_so_far, bytes_so_far_or_None, total_bytes_or_None)
Progress = Callable[[int, int | None, int | None], None]


@dataclass
class ReadResult:
    """Deduplicated messages of one read, with what was skipped and where sources stopped."""

    messages: dict[str, Message]
    skips: list[Skip]
    read: int  # messages decoded or skipped, duplicates included
    duplicates: int
    #: where each source stopped; a source that broke off keeps its earlier position
    positions: list[SourcePosition]
    #: sources that broke off (a truncated archive ...): the mails before the break
    #: are in ``messages``, and the next read starts again from the earlier position
    failures: list[SourceFailure] = field(default_factory=list)


def merge_lists(old: Message, new: Message) -> Message:
    """The same Message-ID seen again (another list, another source): keep every list."""
    lists = tuple(dict.fromkeys(old.lists + new.lists))
    return old if lists == old.lists else replace(old, lists=lists)


def read_sources(
    sources: Sequence,  # Sequence[indexer.sources.Source]
    *,
    since: dict[str, SourcePosition] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ReadResult:
    """Read every source (from its last position when ``since`` has one) and decode."""
    from kvmsearch.indexer.mail.messages import decode_all

    since = since or {}
    total_bytes = _total_bytes(sources)
    done_bytes = 0

    failures: list[SourceFailure] = []
    broken: set[int] = set()

    def raws() -> Iterator[RawMail]:
        nonlocal done_bytes
        for n, src in enumerate(sources):
            # Positions are keyed by resolved path (the manifest's key); accept either.
            pos = since.get(src.path) or since.get(os.path.realpath(os.path.expanduser(src.path)))
            try:
                for raw in src.read(pos):
                    done_bytes += len(raw.data)
                    yield raw
            except SourceError as e:
                # One broken archive must not keep the others from being read.
                failures.append(SourceFailure(src.path, str(e)))
                broken.add(n)

    messages: dict[str, Message] = {}
    skips: list[Skip] = []
    read = dups = 0
    for item in decode_all(raws(), workers=workers if workers is not None else _workers()):
        read += 1
        if isinstance(item, Skip):
            skips.append(item)
        else:
            old = messages.get(item.message_id)
            if old is None:
                messages[item.message_id] = item
            else:
                dups += 1
                messages[item.message_id] = merge_lists(old, item)
        if progress is not None and read % 500 == 0:
            progress(read, done_bytes, total_bytes)
    if progress is not None:
        progress(read, done_bytes, total_bytes)
    positions = [src.position() for n, src in enumerate(sources) if n not in broken]
    return ReadResult(messages, skips, read, dups, positions, failures)


def assemble_read(rr: ReadResult, messages: Iterable[Message] | None = None) -> ParseResult:
    """Series assembly over ``messages`` (default: those of the read), with full counts."""
    from kvmsearch.indexer.series.assemble import assemble

    result = assemble(rr.messages.values() if messages is None else messages, rr.skips)
    report = result.report
    # assemble() sees deduplicated messages; duplicates are one more bucket of the read.
    report.duplicates += rr.duplicates
    report.messages_read += rr.duplicates
    return result


def parse_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ParseResult:
    """Read archives at ``paths`` and assemble their series. Raises SourceError for bad
    paths; an archive that breaks off part-way is in ``report.source_errors``, with
    the mails before the break read."""
    from kvmsearch.indexer.mail.sources import expand_paths

    sources = expand_paths(paths)
    rr = read_sources(sources, workers=workers, progress=progress)
    result = assemble_read(rr)
    result.report.source_errors = list(rr.failures)
    return result


def _workers() -> int:
    # Decoding is CPU-bound; use the cores there are, but at most 4 (returns diminish and
    # each worker holds its own email-package state).
    return max(1, min(4, os.cpu_count() or 1))


def _total_bytes(sources: Sequence) -> int | None:
    """Best-effort byte total for an ETA; compressed files are estimated."""
    total = 0
    for src in sources:
        p = Path(src.path)
        if not p.is_file():
            return None
        size = p.stat().st_size
        # Decompressed mail is ~7x its .xz (6.4x-8.1x on the corpus) and ~4x its .gz.
        if p.suffix == ".xz":
            size *= 7
        elif p.suffix == ".gz":
            size *= 4
        total += size
    return total
