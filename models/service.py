"""Records of the resident service (`kvmsearch serve`): what the CLI sends a running
server and what comes back, and the JSON API's envelope version.

The CLI's fast path (``kvmsearch.client``) speaks this over a Unix socket or loopback
HTTP without importing the rest of kvmsearch, so these stay plain dataclasses with a
JSON shape fixed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .records import ChangeLink, ChangelogEntry, ReviewNote, SeriesVersion

#: version of every JSON envelope the server writes (``{"format": 1, ...}``); bumped
#: when a field changes meaning or goes away, not when one is added
API_FORMAT = 1

#: the largest request body the server reads (a CLI call or an API query); a search is
#: a few hundred bytes
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class CliCall:
    """A CLI invocation forwarded to a server: the words after ``kvmsearch``, the index
    the caller resolved (absolute), whether its stdout takes colour, and the lore base
    it would link to."""

    argv: tuple[str, ...]
    index: str
    color: bool = False
    lore_url: str = ""


@dataclass(frozen=True)
class CliReply:
    """What a command prints and how it exits: the same bytes whichever process ran it.
    ``fallback`` (non-empty) means "run it yourself", with the reason: the server does
    not answer commands that write, read local files, or fail to parse."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    fallback: str = ""


@dataclass(frozen=True)
class LedgerLine:
    """One line of a version's review ledger: a person's trailer of one kind and
    status, on which patches ("all" for the cover), and the earlier version it was
    carried from or dropped since."""

    status: str
    label: str
    kind: str
    who: str
    patches: str
    earlier: str = ""


@dataclass(frozen=True)
class VersionView:
    """One version of the `show` timeline as every front end prints it (text, the
    web page, the MCP tool): its patch list numbered ``n/M``, its own changelog
    delta (with the review that asked for each bullet, where known), its review
    ledger, the reviewers' replies, its landing line, and the next older version
    number (for a diff link)."""

    version: SeriesVersion
    patches: tuple[tuple[str, str], ...]  # ("2/5", subject without markers)
    changes: tuple[ChangelogEntry, ...]
    ledger: tuple[LedgerLine, ...]
    landing: str
    previous: int | None = None
    #: changelog bullet (as written) -> the reply that asked for it
    asked: dict[str, ChangeLink] | None = None
    #: the replies of others than the author, oldest first: (patch label, the reply)
    reviews: tuple[tuple[str, ReviewNote], ...] = ()
