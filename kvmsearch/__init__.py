"""kvmsearch: which KVM patch series touched X, and why.

The library never prints or exits; it raises :class:`KvmsearchError` subclasses.

The names below load on first use (PEP 562): ``import kvmsearch`` costs nothing, so the
CLI's fast path to a running server (``kvmsearch.client``) starts in milliseconds.
"""

from __future__ import annotations

import os

# typing alone costs 2 ms of the CLI's fast path; mypy reads this name as True
TYPE_CHECKING = False
if TYPE_CHECKING:
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

    from .index import Index

#: public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(
        (
            "DiskFullError FileSystemError IndexFormatError IndexNotFoundError IndexPathError "
            "KvmsearchError LockHeldError MailParseError ModelError NotFoundError QueryError "
            "SourceError SourceGoneError"
        ).split(),
        "kvmsearch.models.errors",
    ),
    **dict.fromkeys(("MODES", "Filters", "SearchRequest"), "kvmsearch.models.query"),
    **dict.fromkeys(
        (
            "BuildOutcome ChangelogEntry CoverFields Family Hit IndexStatus Message "
            "ParseReport ParseResult PatchInfo SeriesVersion Skip SourceFailure SourceStatus "
            "VerifyProblem VerifyReport VersionRef"
        ).split(),
        "kvmsearch.models.records",
    ),
    "Index": "kvmsearch.index",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kvmsearch' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
