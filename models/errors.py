"""The one exception tree of kvmsearch.

Library code raises these; only the CLI turns them into one-line messages and exit
codes. Every message says what went wrong *and* what to do next.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class KvmsearchError(Exception):
    """Base of every error kvmsearch raises on purpose."""

    #: process exit code the CLI uses for this kind of error
    exit_code: int = 1


class SourceError(KvmsearchError):
    """A path that does not exist or is not an archive kvmsearch can read."""

    exit_code = 2


class SourceGoneError(SourceError):
    """A registered source vanished or moved since the last update."""


class MailParseError(KvmsearchError):
    """One message could not be decoded. Carried in the skip report, never fatal."""

    def __init__(self, reason: str, *, where: str = "") -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.where = where


class IndexError_(KvmsearchError):
    """Base for problems with an on-disk index (named to avoid the builtin)."""


class IndexNotFoundError(IndexError_):
    exit_code = 3


class IndexFormatError(IndexError_):
    """The index was written by an incompatible kvmsearch; rebuild it."""

    exit_code = 3


class LockHeldError(KvmsearchError):
    """Another update holds the index lock."""

    exit_code = 4


class ModelError(KvmsearchError):
    """The embedding model is missing, or its checksum does not match."""

    exit_code = 5


class QueryError(KvmsearchError):
    """A query or filter the user wrote cannot be understood."""

    exit_code = 2


class NotFoundError(KvmsearchError):
    """A Message-ID or family id that the index does not know."""

    exit_code = 1


__all__ = [
    "KvmsearchError",
    "SourceError",
    "SourceGoneError",
    "MailParseError",
    "IndexError_",
    "IndexNotFoundError",
    "IndexFormatError",
    "LockHeldError",
    "ModelError",
    "QueryError",
    "NotFoundError",
]


class IndexPathError(KvmsearchError):
    """The index directory cannot be used: a file, unreadable, or not writable."""

    exit_code = 2


class FileSystemError(KvmsearchError):
    """Reading or writing a file failed (disk full, permissions, I/O error)."""

    exit_code = 7


class DiskFullError(FileSystemError):
    """A build ran out of disk space; the serving generation is untouched."""


@contextmanager
def damaged_part(what: str, where: Path) -> Iterator[None]:
    """Reading one on-disk part of an index: whatever its reader raises for a damaged
    file (EOFError, a pickle or faiss error, a numpy ValueError ...) becomes one
    IndexFormatError naming the part and the way back. Errors of our own pass."""
    try:
        yield
    except KvmsearchError:
        raise
    except Exception as e:  # a damaged file surfaces as whatever its library raises
        detail = " ".join(str(e).split())[:160]
        raise IndexFormatError(
            f"the {what} in {where} is damaged ({type(e).__name__}: {detail}); "
            "rebuild it with `kvmsearch rebuild`"
        ) from e
