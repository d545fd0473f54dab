"""Links: URLs a cover letter cites (lore, lkml, patchwork, git trees) and the
Message-IDs they and bare ``vN: <msgid>`` lines name, and Message-IDs as users paste
them. The cover parser, lineage and the CLI's ``show ID`` all read links here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import unquote

from kvmsearch.models.query import clean_text

_URL = re.compile(r"https?://[^\s<>\"'`\]]+")
_LINK_HOST = re.compile(
    r"^https?://(?:[\w-]+\.)*(?:lore\.kernel\.org|lkml\.kernel\.org|lkml\.org|lkml\.iu\.edu"
    r"|marc\.info|github\.com|gitlab\.com|git\.kernel\.org|msgid\.link"
    r"|[\w.-]*patchwork[\w.-]*)(?:[:/?#]|$)",
    re.IGNORECASE,
)
_MSGID_HOST = re.compile(
    r"^https?://(?:lore\.kernel\.org|lkml\.kernel\.org|patch\.msgid\.link|msgid\.link"
    r"|[\w.-]*patchwork[\w.-]*)/",
    re.IGNORECASE,
)
# "v1: <20200101.123-1-foo@bar.com>" — a bare Message-ID naming an older posting; the
# label before it is what tells it from a person's address.
_ANGLE_ID = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_BARE_LABEL = re.compile(
    r"\s*(?:[-*]\s*)?(?:\[?(?:(?:rfc|patch|resend)\s*)?v\d+\]?|rfc|previous(?:\s+\w+)?"
    r"|message-id|msg-?id|link|\[\d+\])\s*[:=]?\s*",
    re.IGNORECASE,
)


def _clean_url(url: str) -> str:
    while url and url[-1] in ".,;:!?)>}'\"":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def find_links(text: str) -> tuple[str, ...]:
    """lore, lkml, patchwork, marc.info, GitHub/GitLab and git.kernel.org URLs in
    ``text``, trailing punctuation stripped, in order, deduplicated."""
    out: dict[str, None] = {}
    for m in _URL.finditer(text):
        url = _clean_url(m.group(0))
        if _LINK_HOST.match(url):
            out.setdefault(url)
    return tuple(out)


def message_id_of_url(url: str, *, any_host: bool = False) -> str | None:
    """The Message-ID a lore/lkml/msgid.link/patchwork URL names (``any_host``: any
    http(s) URL with a ``local@domain`` path segment, as users paste them)."""
    if not any_host and not _MSGID_HOST.match(url):
        return None
    rest = url.split("://", 1)[1].split("/", 1)
    if len(rest) < 2:
        return None  # a host alone names no message
    path = rest[1]
    path = path.split("#", 1)[0].split("?", 1)[0]
    for seg in path.split("/"):
        seg = unquote(seg).strip("<>")
        if "@" in seg and " " not in seg and not seg.startswith("@"):
            return seg
    return None


def find_prior_ids(text: str, links: Sequence[str] = ()) -> tuple[str, ...]:
    """Message-IDs named by lore/lkml/msgid.link/patchwork ``links`` and by bare
    ``vN: <msgid>`` lines of ``text``, without brackets, URL-decoded, deduplicated."""
    out: dict[str, None] = {}
    for url in links:
        mid = message_id_of_url(url)
        if mid:
            out.setdefault(mid)
    for m in _ANGLE_ID.finditer(text):
        start = text.rfind("\n", 0, m.start()) + 1
        if _BARE_LABEL.fullmatch(text, start, m.start()):
            out.setdefault(m.group(1))
    return tuple(out)


def message_id_from_user(arg: str) -> str:
    """A Message-ID from what users paste: ``<id>``, ``id:...``/``mid:...`` (notmuch,
    mutt), or a lore or patchwork link to the message (``/T/``, ``/raw``, ``#anchor``)."""
    arg = clean_text(arg).strip()
    if arg.startswith(("http://", "https://")):
        mid = message_id_of_url(arg, any_host=True)
        if mid:
            return mid.strip()
    elif arg.startswith(("id:", "mid:")):
        arg = arg.split(":", 1)[1]
    return arg.strip().strip("<>")


# One token of a link line: a URL or a <Message-ID>, with optional brackets around it.
_LINK_TOKEN = re.compile(r"\(?(?:(?:https?|git)://\S+|<[^<>\s]+@[^<>\s]+>)\)?")
_WORD_TOKEN = re.compile(r"[\w./-]+")
_BRACKET_LABEL = re.compile(r"\[[^\]]{1,20}\]:?")


def _links_only(rest: str) -> bool:
    """Whether ``rest`` is one or more links (each optionally followed by one word, a
    branch name after a git URL), separated by spaces, commas or full stops."""
    tokens = rest.split()
    i, seen = 0, False
    while i < len(tokens):
        tok = tokens[i].strip(",.")
        if not _LINK_TOKEN.fullmatch(tok):
            return False
        seen = True
        i += 1
        word = tokens[i].strip(",.)") if i < len(tokens) else ""
        if "://" in tok and _WORD_TOKEN.fullmatch(word) and not _LINK_TOKEN.fullmatch(word):
            i += 1
    return seen


def is_link_line(line: str) -> bool:
    """Whether a cover line is only links, maybe behind a bullet and a short label:
    ``[1] https://lore...``, ``v2: <msgid@x>``, ``Link to v1 - https://...``,
    ``git://git.kernel.org/... kvm-next``.

    Token by token in time linear in the line (a backtracking pattern took 19 s on a URL
    followed by 20,000 commas); a label is at most 41 characters without a colon.
    """
    s = line.strip()
    if s[:1] in ("-", "*"):
        s = s[1:].lstrip()
    if not s:
        return False
    if _links_only(s):
        return True
    m = _BRACKET_LABEL.match(s)
    if m and _links_only(s[m.end() :]):
        return True
    if s[0].isspace() or s[0] == ":":
        return False
    # "<label>:", "<label> -" or "<label>=" with the label 1-41 characters and no colon
    head = s[:44]
    for i, ch in enumerate(head):
        if i == 0:
            continue
        if ch == ":" or ch == "=" or (ch == "-" and head[i - 1].isspace()):
            if i > 42:
                break
            if _links_only(s[i + 1 :]):
                return True
        if ch == ":":
            break  # a label holds no colon
    return False


__all__ = [
    "is_link_line",
    "find_links",
    "find_prior_ids",
    "message_id_from_user",
    "message_id_of_url",
]
