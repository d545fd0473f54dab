"""kvmsearch: which KVM patch series touched X, and why.

The library never prints or exits; it raises :class:`KvmsearchError` subclasses.
"""

from __future__ import annotations

from kvmsearch.models.errors import (
    IndexFormatError,
    IndexNotFoundError,
    KvmsearchError,
    LockHeldError,
    MailParseError,
    ModelError,
    NotFoundError,
    QueryError,
    SourceError,
    SourceGoneError,
)
from kvmsearch.models.records import (
    ChangelogEntry,
    CoverFields,
    Family,
    Message,
    ParseReport,
    ParseResult,
    PatchInfo,
    SeriesVersion,
    Skip,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # errors
    "KvmsearchError",
    "SourceError",
    "SourceGoneError",
    "MailParseError",
    "IndexNotFoundError",
    "IndexFormatError",
    "LockHeldError",
    "ModelError",
    "QueryError",
    "NotFoundError",
    # records
    "ChangelogEntry",
    "CoverFields",
    "Family",
    "Message",
    "ParseReport",
    "ParseResult",
    "PatchInfo",
    "SeriesVersion",
    "Skip",
]
