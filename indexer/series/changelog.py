"""Changelog blocks of cover letters: which line starts a per-version entry, which
version it describes, its bullets and the reviewers it credits.

Authors spell the entry header in dozens of ways (``Changes since v1:``, ``v2 -> v3``,
``from v10 to v9``, ``* From v1 [1]:``, ``Changes in v2:``, ``[v2]``, ``RFC -> v1``,
``- patch v7 (assembly):`` ...). Rather than one regex per spelling, a header line is
stripped of its decoration (bullets, references, parentheses, trailing colon) and what
is left must be *entirely* a small grammar: an optional "changes"-like word, an optional
relation ("since", "in", "from ... to"), one or two version tokens and an optional
"changes"-like suffix. Requiring the whole line keeps prose such as "Rebased onto
v5.10-rc1" out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from kvmsearch.models.records import ChangelogEntry

__all__ = ["Header", "parse_header", "build_entry", "credits_in", "is_bullet", "own_entries"]

# -- header grammar ----------------------------------------------------------------------

# One version: v3, V3, "version 3", PATCH v3, RFC v2, RFCv2, RFC-V2, bare RFC.
_VER = r"(?:(?:(?:rfc|rft|patch|resend)[\s_-]*)?(?:v|version\s*)\s?\d{1,3}|rfc|rft)"
# A bare "-" or "/" separates two versions only after a number ("v1-v2"), never inside
# one token ("RFC-V2").
_ARROW = r"(?:\s*(?:-+>|=+>|→|\.{2,3}|–)\s*|\s+(?:to|vs\.?|-|/)\s+|(?<=\d)\s*[-/]\s*)"
_WORD = (
    r"(?:(?:main|major|notable|minor|other|additional|further|key|short|brief"
    r"|summary\s+of|list\s+of)\s+)?"
    r"(?:changes?|changelogs?|change[\s-]*logs?|change\s+history|history|revisions?"
    r"|revision\s+history|updates?|differences|modifications)"
    r"(?:\s+(?:overview|summary|log|list))?"
)
_SINCE = (
    r"(?:since|from|compared\s+(?:to|with)|relative\s+to|vs\.?|versus|over|against"
    r"|w\.?r\.?t\.?)"
)
_IN = r"(?:in|for|of|to)"
_SUFFIX = (
    r"(?:(?:changes?|changelog|change\s*log|updates?|notes?)(?:\s+(?:are|is|include[sd]?))?"
    r"|are|is|include[sd]?)(?:\s+(?:in\s+particular|as\s+follows|below))?"
)
_PREVIOUS = (
    r"(?:the\s+)?(?:last|previous|prior|original|earlier|first)\s+"
    r"(?:version|revision|posting|post|series|submission|iteration|spin|round|patch\s*set)"
)

_RANGE = re.compile(
    rf"(?:{_WORD}\s+)?(?:(?:{_SINCE}|between)\s+)?(?P<a>{_VER})(?:{_ARROW}|\s+and\s+)"
    rf"(?P<b>{_VER})(?:\s+{_SUFFIX})?",
    re.IGNORECASE,
)
# "Changes to v4" are the changes made to v4, i.e. v5's; a bare "to v3:" is v3's own.
_SINCE_ONE = re.compile(
    rf"(?:{_WORD}\s+{_SINCE}|{_WORD}\s+to|{_SINCE})\s+"
    rf"(?:(?:the\s+)?(?:previous|last|prior)\s+)?"
    rf"(?:(?P<a>{_VER}(?:\s*(?:&|,|\band\b)\s*{_VER})*)|(?P<prev>{_PREVIOUS}))"
    rf"(?:\s+(?:patch\s*set|patch\s+series|series|posting|version|revision|spin))?"
    rf"(?:\s+{_SUFFIX})?",
    re.IGNORECASE,
)
_VER_RE = re.compile(_VER, re.IGNORECASE)
# "Changes in this respin:", "New in this version": the posting's own, number unknown.
_CURRENT = re.compile(
    rf"(?:(?:{_WORD}|new)\s+)?in\s+this\s+(?:version|revision|respin|spin|iteration|round"
    rf"|posting|series)(?:\s+{_SUFFIX})?",
    re.IGNORECASE,
)
_IN_ONE = re.compile(rf"(?:{_WORD}\s+)?(?:{_IN}\s+)?(?P<a>{_VER})(?:\s+{_SUFFIX})?", re.IGNORECASE)
_MARKER = re.compile(_WORD, re.IGNORECASE)
_TOKEN = re.compile(r"(?:rfc|rft)?[\s_-]*(?:patch|resend)?[\s_-]*(?:v|version\s*)?\s?(\d+)?", re.I)

# Decoration around the grammar.
_LEAD = re.compile(r"^(?:[-*+•·>#=~]+\s*|o\s+)+")
_URLISH = re.compile(r"(?:https?://[^\s\])>]+|<[^<>]*>)")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_PAREN = re.compile(r"\([^()]*\)")
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_HAS_VER = re.compile(r"\b(?:v\s?\d|rfc|rft|version)", re.IGNORECASE)
_TRAIL = re.compile(r"[\s:;=~#*,.-]+$")
_WS = re.compile(r"\s+")
# Anything worth a full parse has a version or one of these words (on lower-cased text).
_CHEAP = re.compile(r"v\s?\d|rfc|rft|chang|histor|revision|update|version|this\s")
# '- Patch "v2: KVM: ..."', "[1] RFC: ...": a quoted title or a reference, no header.
_BAD_INLINE_HEAD = re.compile(r"[\"'`]|^\s*\[\d+\]")
# "RFC: KVM: arm64: Manage ..." is a patch title after its marker.
_TITLE_REST = re.compile(r"^[\w/.-]+:\s")
# "v1: https://..." and "v1: Link: ..." point at an older posting; they are no entry.
_LINKISH_REST = re.compile(r"^(?:link\s*:\s*)?(?:https?://|<[^<>\s]+@|lore\.kernel)", re.I)


@dataclass(frozen=True, slots=True)
class Header:
    """A recognised changelog header line."""

    #: normalised version ("v3", "rfc") or "" for a bare "Changelog:" marker
    version: str
    #: text after the header's colon on the same line ("v2: fixed the foo")
    inline: str = ""


def _number(tok: str) -> int | None:
    """The number of a version token; None for a bare "RFC"."""
    m = _TOKEN.fullmatch(tok.strip())
    return int(m.group(1)) if m and m.group(1) else None


def _norm(num: int | None) -> str:
    return f"v{num}" if num is not None else "rfc"


def _version_of(core: str) -> str | None:
    """The version a stripped header describes, or None when ``core`` is no header."""
    m = _RANGE.fullmatch(core)
    if m:
        na, nb = _number(m.group("a")), _number(m.group("b"))
        # "from v10 to v9": written backwards, the entry still describes the newer one.
        if na is not None and (nb is None or nb < na):
            return _norm(na)
        return _norm(nb)
    m = _SINCE_ONE.fullmatch(core)
    if m:
        if m.group("prev"):
            return ""
        # "since RFC": the next posting is the first real version; "since v4 & RFC": v5.
        n = max((_number(t) or 0) for t in _VER_RE.findall(m.group("a")))
        return f"v{n + 1}"
    m = _IN_ONE.fullmatch(core)
    if m:
        return _norm(_number(m.group("a")))
    if _CURRENT.fullmatch(core):
        return ""
    return None


def _unbracket(m: re.Match[str]) -> str:
    inner = m.group(1)
    # "[v2]" and "[PATCH v1]" carry the version; "[1]", "[link]", "[Marc]" are noise.
    return f" {inner} " if _HAS_VER.search(inner) and len(inner) < 20 else " "


def _strip(text: str) -> str:
    s = _LEAD.sub("", text.strip())
    s = _URLISH.sub(" ", s)
    s = _BRACKET.sub(_unbracket, s)
    s = _PAREN.sub(" ", s)
    s = s.replace('"', " ").replace("'", " ").replace("`", " ")
    s = _TRAIL.sub("", s)
    return _WS.sub(" ", s).strip()


def parse_header(line: str, following: str = "") -> Header | None:
    """The changelog header ``line`` is, or None.

    Also recognises ``v2: fixed the foo`` (a header with its first item inline), but
    not ``v1: https://...`` which only points at an older posting, unless indented
    lines (``following`` is the next line) list what changed in it.
    """
    s = line.strip()
    # The header part is always within the first 70 characters.
    if not s or len(s) > 160 or not _CHEAP.search(s[:70].lower()):
        return None
    # "v1: https://..." and "[v1] <msgid>" point at an older posting; a header with a
    # link ends with its colon ("v4 [https://...]:") or keeps the link in brackets.
    if not s.endswith(":") and _URLISH.search(_BRACKETED.sub(" ", s)):
        if following[:1].isspace() and following.strip():
            v = _version_of(_strip(s))
            url = _URLISH.search(s)
            if v and url:
                return Header(v, url.group(0))
        return None
    core = _strip(s)
    # A trailing full stop makes it the tail of a wrapped sentence ("... since v2.").
    if core and len(core) <= 60 and not s.endswith("."):
        v = _version_of(core)
        if v is not None:
            return Header(v)
        # A bare word needs a colon or a capital to be a heading ("Changelog").
        if _MARKER.fullmatch(core) and (s.endswith(":") or _LEAD.sub("", s)[:1].isupper()):
            return Header("")
    # Inline form: the part before the first colon is a versioned header.
    head, sep, rest = s.partition(":")
    if not sep or not rest.strip() or len(head) > 60 or _BAD_INLINE_HEAD.search(head):
        return None
    rest = rest.strip()
    if _LINKISH_REST.match(rest) or _TITLE_REST.match(rest):
        return None
    v = _version_of(_strip(head))
    if not v:
        return None
    return Header(v, rest)


# -- bullets ------------------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*+•·o.]|\d{1,2}[.)]|\(\d{1,2}\)|\([a-z]\))\s+(?=\S)")
_LINK_ITEM = re.compile(
    r"^(?:link\s+to\s+|previous\s+)?(?:\S+\s*:\s*)?(?:link\s*:\s*)?https?://\S+$"
    r"|^(?:link\s+to\s+)?v\d+\s*:\s*\S+$",
    re.IGNORECASE,
)


def is_bullet(line: str) -> bool:
    """Whether ``line`` starts with a list marker: ``-``, ``*``, ``o``, ``•``, ``1.``, ``(1)``."""
    return _BULLET.match(line) is not None


def _items(lines: Sequence[str]) -> tuple[str, ...]:
    """Bullet texts with their continuation lines joined.

    Non-bullet lines right after a bullet continue it, whatever their indent (mailers
    rewrap to column 0). After a blank line, loose lines are sub-headings ("Changes
    suggested by Jan:") and become items only when the entry has no bullets at all,
    one per paragraph.
    """
    bullets: list[list[str]] = []
    paras: list[list[str]] = []
    cur: list[str] | None = None
    gap = False
    para: list[str] | None = None
    for line in lines:
        if not line.strip():
            gap = True
            para = None
            continue
        m = _BULLET.match(line)
        if m:
            cur = [line[m.end() :].strip()]
            bullets.append(cur)
        elif cur is not None and not gap:
            cur.append(line.strip())
        else:
            cur = None
            if para is None:
                para = []
                paras.append(para)
            para.append(line.strip())
        gap = False
    chosen = bullets if bullets else paras
    out = []
    for parts in chosen:
        text = " ".join(" ".join(parts).split())
        if text and not _LINK_ITEM.match(text):
            out.append(text)
    return tuple(out)


# -- credits ------------------------------------------------------------------------------

_END_GROUP = re.compile(r"(?:\(([^()]{1,80})\)|\[([^\[\]]{1,80})\])[\s.,;]*$")
_BY = re.compile(
    r"(?i:\b(?:suggested|reported|requested|pointed\s+out|noticed|spotted|recommended)"
    r"(?:\s+and\s+\w+)?\s+by|\bthanks\s+to"
    r"|\b(?:comments?|feedback|reviews?|suggestions?|input)\s+from)\s*[:-]?\s*\[?"
    r"((?:[A-Z][^\W\d_][\w'’.-]*)(?:\s+[A-Z][^\W\d_][\w'’.-]*)?"
    r"(?:\s*(?:,|and|&)\s*[A-Z][^\W\d_][\w'’.-]*(?:\s+[A-Z][^\W\d_][\w'’.-]*)?)*)",
)
# "Marc suggested to ...", "as Sean pointed out". One word only: "Adopt Drew suggested"
# shows a preceding capital is as likely an imperative as a first name.
_NAME_VERB = re.compile(
    r"\b([A-Z][^\W\d_][\w'’-]*)\s+"
    r"(?:suggested|pointed\s+out|noticed|spotted|reported|requested|recommended)\b"
)
_VERBS = (
    "suggest",
    "report",
    "request",
    "pointed",
    "notic",
    "spotted",
    "recommend",
    "thanks",
    "comment",
    "feedback",
    "review",
    "input",
)
_FIRST_WORD = re.compile(r"[\s-]")
_SENTENCE_END = re.compile(r"\.\s")
_SPLIT_NAMES = re.compile(r"\s*(?:,|/|&|\+|;|\band\b)\s*")
_DROP_PREFIX = re.compile(
    r"^(?:(?:many\s+)?thanks(?:\s+to)?|thx|from|per|via|by|reported\s+by|suggested\s+by"
    r"|noticed\s+by|pointed\s+out\s+by|requested\s+by|spotted\s+by|reviewed\s+by"
    r"|as\s+suggested\s+by|as\s+per|feedback\s+from|comments?\s+from|review\s+from)\s+",
    re.IGNORECASE,
)
_DROP_SUFFIX = re.compile(
    r"(?:['’]s)?(?:\s+(?:review|reviews|comments?|suggestions?|feedback|noticed|reported"
    r"|request|idea))?[!.]*$",
    re.IGNORECASE,
)
_NAME = re.compile(r"[A-Z][^\W\d_][\w'’.-]*(?:\s+[A-Z][^\W\d_][\w'’.-]*){0,2}")
_NOT_NAMES = frozenset(
    """patch patches commit commits fix fixes fixed thanks see note optional rebase rebased
    linux kernel documentation series version update updated comment comments review
    reviews test tests tested new old link none nit nits typo also only the and this that
    was previous suggested reported was were no not done dropped added removed merged
    squashed split moved renamed kept tbd todo wip rfc maybe it its thx cover same hence
    see above below both all other others again since still now yes he she they we i
    which who someone somebody reviewer reviewers maintainer maintainers as kernel
    checkpatch sparse smatch coverity syzbot robot changes change changed reviewed acked
    tested signed""".split()
)


def _names(group: str) -> list[str]:
    out = []
    for part in _SPLIT_NAMES.split(group.strip()):
        part = _DROP_SUFFIX.sub("", _DROP_PREFIX.sub("", part.strip())).strip()
        # One non-name part means the group is prose ("(see patch 3)"); a lower-case
        # second letter keeps acronyms ("(ACPI)", "[GICv3]") out.
        if not part or not _NAME.fullmatch(part) or not all(w[1].islower() for w in part.split()):
            return []
        if _FIRST_WORD.split(part, 1)[0].lower() in _NOT_NAMES:
            return []
        out.append(part)
    return out


def credits_in(items: Iterable[str], text: str) -> tuple[str, ...]:
    """Reviewer names credited at bullet ends ("(Marc)", "[Sean, Oliver]") and by
    "suggested by Marc" anywhere in ``text``, in order of appearance, deduplicated."""
    found: list[str] = []
    for item in items:
        m = _END_GROUP.search(item)
        if m:
            found.extend(_names(m.group(1) or m.group(2)))
    low = text.lower()
    if any(v in low for v in _VERBS):  # a cheap test before two slow scans
        for m in _BY.finditer(text):
            # "... by Sebastian. Consequences ..." ends the name at the sentence.
            found.extend(_names(_SENTENCE_END.split(m.group(1), 1)[0]))
        for m in _NAME_VERB.finditer(text):
            found.extend(_names(m.group(1)))
    # Bracketed credits on loose lines ("Changes suggested by - [Jan Kara]") are
    # caught by _BY; parenthesised ones on their own line ("  (Connie)") by the items.
    return tuple(dict.fromkeys(found))


# -- entries ------------------------------------------------------------------------------


def build_entry(header: Header, body: Sequence[str]) -> ChangelogEntry | None:
    """One entry from its header and the body lines under it; None when empty."""
    lines = list(body)
    if header.inline:
        lines.insert(0, header.inline)
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return None
    text = _dedent(lines, inline=bool(header.inline))
    items = _items(lines)
    if not items and all(_LINK_ITEM.match(_BULLET.sub("", x).strip()) for x in lines if x.strip()):
        return None  # "v1:\n  - https://..." is a link to the old version, no change list
    return ChangelogEntry(header.version, text, items, credits_in(items, text))


def _dedent(lines: Sequence[str], *, inline: bool) -> str:
    # Inline text ("v2: fixed foo") has no indent of its own: dedent the rest by theirs.
    # Bullets set the margin: mailers rewrap continuation lines to column 0.
    rest = lines[1:] if inline else lines
    marked = [x for x in rest if _BULLET.match(x)] or [x for x in rest if x.strip()]
    cut = min((len(x) - len(x.lstrip()) for x in marked), default=0)
    out = [x[min(cut, len(x) - len(x.lstrip())) :].rstrip() for x in rest]
    if inline:
        out.insert(0, lines[0].strip())
    return "\n".join(out).strip("\n")


def _key(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def own_entries(
    entries: Sequence[ChangelogEntry], earlier: Sequence[ChangelogEntry]
) -> list[ChangelogEntry]:
    """What a version's changelog adds to the previous version's: covers repeat every
    earlier entry ("v2: ..." again in v3, v4 ...), so an entry or bullet whose text the
    previous cover already had is left out. A version's own delta, for display."""
    seen = {_key(x) for e in earlier for x in (e.items or (e.text,))}
    out: list[ChangelogEntry] = []
    for e in entries:
        if e.items:
            items = tuple(x for x in e.items if _key(x) not in seen)
            if items:
                out.append(replace(e, items=items) if items != e.items else e)
        elif _key(e.text) not in seen:
            out.append(e)
    return out
