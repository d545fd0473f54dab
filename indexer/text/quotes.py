"""What a reply's author wrote: quoted lines and the signature left out.

Replies keep only this text (the store would otherwise hold every thread's quotes
many times over), and landing rules read only this text, so an "Applied" that is only
quoted never counts. One home for the rule.
"""

from __future__ import annotations

import re

from kvmsearch.indexer.text.trailers import is_trailer

__all__ = ["MAX_REPLY_CHARS", "answered_quotes", "own_text", "reads_as_reply", "review_excerpt"]

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


#: at most this many answered quotes per reply, each cut to this length: they point at
#: what was answered, the mail itself is one click away
MAX_ANSWERS = 4
_ANSWER_CHARS = 160
_QUOTE_MARKS = re.compile(r"^(?:[ \t]*>)+[ \t]?")
# "On Tue, 3 May 2022 at 10:01, Marc Zyngier <maz@kernel.org> wrote:", "Quoting X (date):"
_ATTRIBUTION = re.compile(
    r"(?:\bwrote|\bwrites|\bsaid|schrieb|a \u00e9crit)\s*:\s*$|^quoting\b.*:\s*$|^on\s.*[,:]\s*$",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|thanks|thank you|ok|okay|yes|no)\b[\w ,.!]{0,30}[,.!]?\s*$",
    re.IGNORECASE,
)


def reads_as_reply(body: str) -> bool:
    """Whether ``body`` answers a mail it quotes: an attribution line ("On ..., X
    wrote:") followed by quoted lines, and more quoted lines than its own. Some mail
    clients send a reply under the original subject without "Re:"; a cover letter or a
    patch never opens a quote of this size."""
    cut = body.find(_SIGNATURE)
    if cut >= 0:
        body = body[:cut]
    quoted = own = 0
    attributed = expecting = False
    for line in body.split("\n"):
        s = line.strip()
        if not s:
            continue
        if s.startswith(">"):
            quoted += 1
            attributed = attributed or expecting
            continue
        own += 1
        expecting = bool(_ATTRIBUTION.search(s))
    return attributed and quoted > own


def answered_quotes(body: str) -> tuple[str, ...]:
    """The quoted line each of the reply's own paragraphs follows (the last non-blank
    quoted line before it, markers stripped): the hunk line or sentence it answers.
    At most :data:`MAX_ANSWERS`, in order, each cut short."""
    cut = body.find(_SIGNATURE)
    if cut >= 0:
        body = body[:cut]
    out: list[str] = []
    last = ""
    for line in body.split("\n"):
        if line.lstrip().startswith(">"):
            text = _QUOTE_MARKS.sub("", line).rstrip()
            if text.strip() and not _ATTRIBUTION.search(text):
                last = text
            continue
        if not line.strip() or not last:
            continue
        own = line.strip()
        if _ATTRIBUTION.search(own):
            last = ""
            continue
        if _GREETING.match(own) or is_trailer(own):
            continue  # "Thanks," or a Reviewed-by under a quote answers nothing in it
        answer = last[:_ANSWER_CHARS]
        if answer not in out:
            out.append(answer)
            if len(out) >= MAX_ANSWERS:
                break
        last = ""
    return tuple(out)


def review_excerpt(own: str, *, limit: int = 240) -> str:
    """The start of what a replier wrote (``own``: :func:`own_text`), with the
    attribution line, greetings, trailers and sign-off names left out, on one line."""
    words: list[str] = []
    size = 0
    for line in own.split("\n"):
        s = line.strip()
        if not s or _ATTRIBUTION.search(s) or _GREETING.match(s) or is_trailer(s):
            continue
        if not words and len(s.split()) <= 2 and (s.endswith(",") or s.istitle()):
            continue  # a bare name or "Marc," before the text
        words.append(s)
        size += len(s) + 1
        if size >= limit:
            break
    text = " ".join(" ".join(words).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"
