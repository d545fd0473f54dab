"""Trailers: the ``Key: value`` lines that close a commit message or a cover letter
(Signed-off-by:, Reviewed-by:, Cc:, Link:, Fixes: ...).

One rule decides what a trailer line is, for the cover parser (which sets them apart
from prose), the lexical index and the embedded chunks (which leave them out: they name
people and URLs, not the change). They differ in one point, on purpose: the lexical index
keeps the *reference* trailers (``Fixes:``, ``Closes:``), whose value quotes the subject
of the commit being fixed, so that searching for that subject finds the fix; embedded
chunks and *why* evidence drop them, since they say what was broken, not why this
change was made.
"""

from __future__ import annotations

import re

# Any "<word(s)>-by:" trailer (Signed-off-by, Reported-and-tested-by, Co-developed-by ...)
# and the others kernel and QEMU mail uses.
_KEY = (
    r"(?:[a-z]+(?:-[a-z]+)*-by|cc|to|fixes|link|closes|message-id|change-id|bug"
    r"|based-on)"
)
#: a trailer line's start, for callers that fold it into a larger line pattern
#: (case-insensitive)
TRAILER_PATTERN = rf"[ \t]*{_KEY}[ \t]*:[ \t]*\S"
_LINE = re.compile(rf"^[ \t]*({_KEY})[ \t]*:[ \t]*\S", re.IGNORECASE)
_LINES = re.compile(rf"^[ \t]*({_KEY})[ \t]*:[ \t]*\S[^\n]*$", re.IGNORECASE | re.MULTILINE)

#: trailers whose value describes a change (the fixed commit's subject)
REFERENCE_TRAILERS = frozenset({"fixes", "closes"})


def trailer_key(line: str) -> str | None:
    """The lower-cased key when ``line`` is a trailer (``Reviewed-by``), else None."""
    m = _LINE.match(line)
    return m.group(1).lower() if m else None


def is_trailer(line: str) -> bool:
    return _LINE.match(line) is not None


def drop_trailer_lines(text: str, *, keep: frozenset[str] = frozenset()) -> str:
    """``text`` without its trailer lines, wherever they stand (keys in ``keep`` stay)."""
    if not keep:
        return _LINES.sub("", text)
    return _LINES.sub(lambda m: m.group(0) if m.group(1).lower() in keep else "", text)


def strip_trailer_block(message: str) -> str:
    """A commit message without its closing block of trailers and blank lines."""
    lines = message.replace("\r\n", "\n").rstrip().split("\n")
    while lines and (not lines[-1].strip() or is_trailer(lines[-1])):
        lines.pop()
    return "\n".join(lines)


#: the trailers that record a review, test or credit (the review ledger's kinds)
REVIEW_TRAILERS = ("reviewed-by", "acked-by", "tested-by", "reported-by", "suggested-by")
_REVIEW = re.compile(
    r"^[ \t]*(reviewed-by|acked-by|tested-by|reported-by|suggested-by)[ \t]*:[ \t]*"
    r"(?P<who>[^\n<]*?(?:<[^<>\n]+>)?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def review_trailers(text: str) -> list[tuple[str, str]]:
    """(kind, "Name <addr>") of every review trailer line in ``text``, in order (the
    caller passes only what its author wrote: a reply's quotes are already gone)."""
    out: list[tuple[str, str]] = []
    for m in _REVIEW.finditer(text):
        who = " ".join(m.group("who").split())
        if who:
            out.append((m.group(1).lower(), who))
    return out


__all__ = [
    "REFERENCE_TRAILERS",
    "REVIEW_TRAILERS",
    "review_trailers",
    "drop_trailer_lines",
    "is_trailer",
    "strip_trailer_block",
    "trailer_key",
]
