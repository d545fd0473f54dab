"""A series version written back out as mail: an mbox for ``git am`` and ``b4 am``.

The store keeps what a patch needs to be applied again: its headers that matter
(From, Date, Subject, Message-ID, In-Reply-To), its commit message with the notes and
diffstat after ``---`` (``Message.body``), and its diff (the ``diffs`` table). The
output is mboxrd, as lore and b4 write it: every body line that begins with ``From ``
after any number of ``>`` gets one more ``>``, so the reader can undo it exactly
(``git am --patch-format=mboxrd``; plain ``git am`` reads it too unless a commit
message line starts with "From ").

Header values come from hostile mail: line breaks in them are folded to spaces so a
subject can never add a header, and non-ASCII text is RFC 2047 encoded. A sender's
display name loses ``<``, ``>`` and ``@``: ``git am`` reads the first address it sees in
the decoded From, so a name such as ``Eve victim@example.org`` would make the commit's
author someone else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from email.header import Header
from email.utils import format_datetime, formataddr

from kvmsearch.models.records import Message

__all__ = ["MBOX_SEPARATOR", "version_mbox"]

#: the separator line lore's and b4's mboxrd files use (the date is not read)
MBOX_SEPARATOR = "From mboxrd@z Thu Jan  1 00:00:00 1970"
_FROM_LINE = re.compile(r"^(>*From )", re.MULTILINE)
_BREAKS = re.compile(r"[\r\n\x00]+")
_NOT_IN_NAMES = str.maketrans({"<": " ", ">": " ", "@": " "})


def _one_line(value: str) -> str:
    return _BREAKS.sub(" ", value).strip()


def _header(name: str, value: str) -> str:
    value = _one_line(value)
    if value.isascii():
        return f"{name}: {value}"
    return f"{name}: {Header(value, 'utf-8', header_name=name).encode()}"


def _mail(msg: Message, diff: str | None) -> str:
    who = " ".join(_one_line(msg.from_name).translate(_NOT_IN_NAMES).split())
    sender = formataddr((who, _one_line(msg.from_addr)), charset="utf-8")
    lines = [
        MBOX_SEPARATOR,
        f"From: {sender}",
        _header("Subject", msg.subject),
    ]
    if msg.date is not None:
        lines.append(f"Date: {format_datetime(msg.date)}")
    lines.append(f"Message-ID: <{_one_line(msg.message_id)}>")
    if msg.in_reply_to:
        lines.append(f"In-Reply-To: <{_one_line(msg.in_reply_to)}>")
    lines += [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
    ]
    body = msg.body.rstrip("\n")
    if diff:
        body += "\n\n" + diff.rstrip("\n")
    body = _FROM_LINE.sub(r">\1", body.replace("\r\n", "\n"))
    return "\n".join(lines) + "\n" + body + "\n\n"


def version_mbox(messages: Sequence[Message], diffs: Mapping[str, str]) -> bytes:
    """``messages`` (the cover, then the patches in order) as one mboxrd file; each
    patch carries its diff from ``diffs`` (by Message-ID) when the store kept it."""
    text = "".join(_mail(m, diffs.get(m.message_id)) for m in messages)
    # mail that was not valid UTF-8 keeps its bytes (see indexer.mail.messages)
    return text.encode("utf-8", "surrogateescape")
