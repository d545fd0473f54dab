"""What a reply's author wrote: quoted lines and the signature left out.

Replies keep only this text (the store would otherwise hold every thread's quotes
many times over), and landing rules read only this text, so an "Applied" that is only
quoted never counts. One home for the rule.
"""

from __future__ import annotations

__all__ = ["MAX_REPLY_CHARS", "own_text"]

#: a reply's own text is cut here: a confirmation or a review comment is near the top,
#: and the store must not grow with pasted logs
MAX_REPLY_CHARS = 16 * 1024

_SIGNATURE = "\n-- \n"


def own_text(body: str, *, limit: int = MAX_REPLY_CHARS) -> str:
    """``body`` without its quoted lines (``>``, however indented) and signature,
    runs of blank lines folded to one, cut to ``limit`` characters."""
    cut = body.find(_SIGNATURE)
    if cut >= 0:
        body = body[:cut]
    out: list[str] = []
    size = 0
    blank = False
    for line in body.split("\n"):
        if line.lstrip().startswith(">"):
            continue
        line = line.rstrip()
        if not line:
            if blank or not out:
                continue
            blank = True
        else:
            blank = False
        out.append(line)
        size += len(line) + 1
        if size >= limit:
            break
    return "\n".join(out).rstrip()[:limit]
