"""kvmsearch: which KVM patch series touched X, and why.

The library never prints or exits; it raises :class:`KvmsearchError` subclasses.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from kvmsearch.models.errors import (
    DiskFullError,
    FileSystemError,
    IndexFormatError,
    IndexNotFoundError,
    IndexPathError,
    KvmsearchError,
    LockHeldError,
    MailParseError,
    ModelError,
    NotFoundError,
    QueryError,
    SourceError,
    SourceGoneError,
)
from kvmsearch.models.query import MODES, Filters, SearchRequest
from kvmsearch.models.records import (
    BuildOutcome,
    ChangelogEntry,
    CoverFields,
    Family,
    Hit,
    IndexStatus,
    Message,
    ParseReport,
    ParseResult,
    PatchInfo,
    SeriesVersion,
    Skip,
    SourceFailure,
    SourceStatus,
    VerifyProblem,
    VerifyReport,
    VersionRef,
)

# The Index facade imports nothing heavy at module level: search parts load on first use.
from .index import Index

__version__ = "0.1.0"


def parse(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, workers: int | None = None
) -> ParseResult:
    """Read archives (mbox/.gz/.xz, Maildir, public-inbox git, patchwork exports) and
    return their series versions, families and a parse report. Never prints.

    Raises :class:`SourceError` for a path that is missing or not a supported archive.
    """
    from kvmsearch.indexer.series.pipeline import parse_paths

    if isinstance(paths, (str, os.PathLike)):
        return parse_paths([paths], workers=workers)
    return parse_paths(list(paths), workers=workers)


__all__ = [
    "__version__",
    "parse",
    "Index",
    # errors
    "KvmsearchError",
    "SourceError",
    "SourceGoneError",
    "MailParseError",
    "IndexNotFoundError",
    "IndexPathError",
    "DiskFullError",
    "FileSystemError",
    "IndexFormatError",
    "LockHeldError",
    "ModelError",
    "QueryError",
    "NotFoundError",
    # the query contract
    "MODES",
    "Filters",
    "SearchRequest",
    # records
    "BuildOutcome",
    "IndexStatus",
    "SourceFailure",
    "SourceStatus",
    "VerifyProblem",
    "VerifyReport",
    "ChangelogEntry",
    "CoverFields",
    "Family",
    "Message",
    "ParseReport",
    "ParseResult",
    "PatchInfo",
    "SeriesVersion",
    "Skip",
    "Hit",
    "VersionRef",
]
