"""Where a series version landed, read from the replies in its thread.

A maintainer confirms an application in a reply: "Applied to next, thanks!", "Queued,
thanks.", "Thanks, applied to my kvm-ppc-next branch.", b4's thank-you list
(``[1/3] subject`` + ``commit: sha``), "Applied to arm64 (for-next/errata)" with a
git.kernel.org commit URL, patchwork-bot's "This series was applied to X by NAME",
pr-tracker-bot's "has been merged into torvalds/linux.git". Per-patch replies and
"Queued 1-20 and 22-28" apply part of a version.

What does not count (see the tests): a quoted line (``>``), a question ("Applied?"),
a tester's "applied it on top of X and tested", a bot's boilerplate ("If your patch
is applied to the wrong git tree"), intent without confirmation ("I'll queue them once
-rc1 happens", "will apply"), a reply that names another version ("applied v3" under
v2), and an application its author later withdraws ("I've dropped this patch").

Only unquoted text above the signature is read; every rule is line-anchored and
linear in the reply's length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from kvmsearch.indexer.text.quotes import own_text
from kvmsearch.models.records import Landing, LandingEvidence, Message

__all__ = ["ReplyTo", "confirmations", "landing_of"]

_VERB = r"(?:applied|queued(?:\s+up)?|pushed|picked(?:\s+up)?|merged|taken|pulled)"
# The line that confirms: it starts with the verb, optionally after "Thanks,", "OK,",
# "I've", "Now", or a patch list ("Patches 1-3 applied ..."). Capitalised, so a
# sentence that merely wraps onto a line starting "applied ..." is not one.
_CONFIRM = re.compile(
    r"^(?:(?:thanks|thank\s+you|ok(?:ay)?|great|nice)[,!.]?\s+)?"
    r"(?:(?:i(?:'ve|\s+have)|we(?:'ve|\s+have))\s+(?:now\s+|just\s+|also\s+|finally\s+)?)?"
    r"(?:now\s+)?"
    r"(?:(?P<lead>patch(?:es)?\s+[\d,\s\-and&]+)\s+(?:(?:are|is|have\s+been|has\s+been)\s+)?)?"
    rf"(?P<verb>{_VERB})\b(?P<rest>.*)$",
    re.IGNORECASE,
)
_BOT_APPLIED = re.compile(
    r"^This\s+(?:series|patch(?:\s+set)?|patchset)\s+was\s+applied\s+to\s+(?P<where>\S+)"
    r"(?:\s+\((?P<branch>[^)]+)\))?(?:\s+by\s+(?P<by>[^:]+?))?:?\s*$",
    re.IGNORECASE,
)
_PR_MERGED = re.compile(r"has\s+been\s+merged\s+into\s+(?P<where>\S+?):?\s*$", re.IGNORECASE)
# A tester or reviewer who applied the patches to try them, not to a tree.
_TESTED = re.compile(
    r"\b(?:test(?:ed|ing)?|on\s+top\s+of|locally|cleanly|and\s+(?:ran|run|boot(?:ed)?|built)"
    r"|verif(?:y|ied)|tried|reproduc|build|compil|works\b|fine|but\b|however|conflict)",
    re.IGNORECASE,
)
# "pushed a branch for you to test", "pushed the updated version": not an application
_NOT_A_TREE = re.compile(
    r"^\s*(?:out\s+)?(?:a|an|this|the|my)\s+(?:\w+\s+)?(?:branch|version|v\d|series|respin)\b"
    r"|^\s*(?:out\s+)?v\d",
    re.IGNORECASE,
)
_WHERE = re.compile(
    r"^\s*(?:it\s+|them\s+|this(?:\s+one)?\s+|these\s+|both\s+|all\s+|"
    r"the\s+(?:whole\s+|full\s+|first\s+\w+\s+)?(?:series|patch(?:es|set)?|set|lot)\s+)?"
    r"(?:to|in|into|onto|on|via|through)\s+(?:the\s+|my\s+)?"
    r"(?P<where>[A-Za-z0-9][\w./+-]*(?:\s+\([\w./+ -]+\))?(?:\s+(?!branch|tree)[\w-]*/[\w./+-]+)?"
    r"(?:\s+(?:next|fixes|queue|master|main))?)"
)
_NUMS = re.compile(r"(\d+)(?:\s*-\s*(\d+))?")
_PATCH_LIST = re.compile(
    r"^\s*(?:patch(?:es)?\s+)?(?P<nums>\d+(?:\s*-\s*\d+)?(?:\s*(?:,|and|&)\s*\d+(?:\s*-\s*\d+)?)*)"
    r"(?=\s|,|\.|$)",
    re.IGNORECASE,
)
_B4_ITEM = re.compile(r"^\[(?P<n>\d+)/(?P<m>\d+)\]\s+\S")
_COMMIT_LINE = re.compile(r"^\s*commit:\s+(?P<sha>[0-9a-f]{7,40})\b")
_COMMIT_URL = re.compile(r"https?://git\.kernel\.org/\S*?/c/(?P<sha>[0-9a-f]{7,40})\b")
_OTHER_VERSION = re.compile(r"\bv(\d+)\b", re.IGNORECASE)
_WITHDRAWN = re.compile(
    r"\b(?:(?:i(?:'ve|\s+have|'ll|\s+will)|we(?:'ve|'ll))\s+(?:now\s+|just\s+)?)?"
    r"(?:dropped|drop(?:ping)?|unqueued?|reverted|revert(?:ing)?|removed)\s+"
    r"(?:it|them|this|these|your|the|that|patch|series|\d)",
    re.IGNORECASE,
)
# "I'll drop this patch in the next posting": the author's plan, not a withdrawal
_NEXT_POSTING = re.compile(r"\bnext\s+(?:version|posting|spin|revision|round)\b", re.I)
_BOT_SENDER = re.compile(
    r"(?:^lkp@|robot|syzbot|syzkaller|^noreply|no-reply|checkpatch|^ci[@-])", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """A reply in a version's thread and what it answers: the cover (``index`` None)
    or patch ``index``."""

    msg: Message
    index: int | None
    #: joined by its subject and date, its In-Reply-To/References naming nothing read
    by_subject: bool = False


def _own_lines(body: str) -> list[str]:
    """The reply's own lines (the store keeps only those; read again for safety)."""
    return own_text(body).split("\n")


def _patch_numbers(text: str) -> tuple[int, ...]:
    m = _PATCH_LIST.match(text)
    if m is None:
        return ()
    out: set[int] = set()
    for a, b in _NUMS.findall(m.group("nums")):
        lo, hi = int(a), int(b) if b else int(a)
        if hi < lo or hi - lo > 500:
            continue
        out.update(range(lo, hi + 1))
    return tuple(sorted(out))


def _clean_where(where: str) -> str:
    where = where.strip().rstrip(".,;:!")
    return re.sub(r"\s+(?:branch|tree)$", "", where)


def _sender(msg: Message) -> str:
    return f"{msg.from_name} <{msg.from_addr}>" if msg.from_name else msg.from_addr


def confirmations(reply: ReplyTo, version: int) -> list[LandingEvidence]:
    """What one reply confirms was applied of a version numbered ``version``."""
    msg = reply.msg
    lines = _own_lines(msg.body)
    out: list[LandingEvidence] = []
    bot = bool(_BOT_SENDER.search(msg.from_addr) or _BOT_SENDER.search(msg.from_name))
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        if m := _BOT_APPLIED.match(line):
            where = m.group("where").removesuffix(".git")
            if m.group("branch"):
                where = f"{where} ({m.group('branch')})"
            by = (m.group("by") or "").strip() or _sender(msg)
            out.append(_evidence(msg, line, lines, i, where=where, by=by, patches=()))
            continue
        if m := _PR_MERGED.search(line):
            out.append(_evidence(msg, line, lines, i, where=m.group("where"), patches=()))
            continue
        if bot or not line[0].isupper():
            continue
        m = _CONFIRM.match(line)
        if m is None:
            continue
        rest = m.group("rest")
        if rest.lstrip().startswith("?") or _TESTED.search(rest):
            continue
        if m.group("verb").lower() == "pushed" and _NOT_A_TREE.match(rest):
            continue
        named = {int(v) for v in _OTHER_VERSION.findall(rest)}
        if named and version not in named:
            continue  # "Applied v3" in the thread of another version
        patches = _patch_numbers(m.group("lead") or "") or _patch_numbers(rest)
        where = ""
        w = _WHERE.match(_after_numbers(rest))
        if w is None and rest.strip().lower() in ("to", "to:") and i + 1 < len(lines):
            w = _WHERE.match("to " + lines[i + 1].strip())
        if w is not None:
            where = _clean_where(w.group("where"))
        if reply.index is not None and not patches:
            patches = (reply.index,)
        out.append(_evidence(msg, line, lines, i, where=where, patches=patches))
    return out


def _after_numbers(rest: str) -> str:
    m = _PATCH_LIST.match(rest)
    return rest[m.end() :] if m else rest


def _evidence(
    msg: Message,
    line: str,
    lines: Sequence[str],
    i: int,
    *,
    where: str,
    patches: tuple[int, ...],
    by: str = "",
) -> LandingEvidence:
    """The confirmation, with the b4 list and commit ids that follow it."""
    commits: list[str] = []
    listed: list[int] = []
    for url in _COMMIT_URL.finditer(line):
        commits.append(url.group("sha"))
    for nxt in lines[i + 1 : i + 400]:
        s = nxt.strip()
        if item := _B4_ITEM.match(s):
            listed.append(int(item.group("n")))
        elif c := _COMMIT_LINE.match(s):
            commits.append(c.group("sha"))
        else:
            commits.extend(u.group("sha") for u in _COMMIT_URL.finditer(s))
    if listed and not patches:
        patches = tuple(sorted(set(listed)))
    return LandingEvidence(
        message_id=msg.message_id,
        sentence=line[:200],
        by=by or _sender(msg),
        date=msg.date,
        where=where,
        patches=patches,
        commits=tuple(dict.fromkeys(commits)),
    )


def _withdrawn_after(replies: Iterable[ReplyTo], by_addr: str, when: datetime | None) -> bool:
    """Did the one who applied it later say it was dropped or reverted?"""
    for r in replies:
        m = r.msg
        if m.from_addr != by_addr:
            continue
        if when is not None and m.date is not None and m.date <= when:
            continue
        for line in _own_lines(m.body):
            if _WITHDRAWN.search(line) and not re.search(
                r"\bnext\s+(?:version|posting|spin)\b", line, re.I
            ):
                return True
    return False


def _addr(by: str) -> str:
    m = re.search(r"<([^>]+)>", by)
    return (m.group(1) if m else by).lower()


def landing_of(
    replies: Sequence[ReplyTo], *, version: int, n_patches: int | None, standalone: bool
) -> Landing:
    """The landing of one version from the replies in its thread."""
    found: list[LandingEvidence] = []
    for r in replies:
        for ev in confirmations(r, version):
            if _withdrawn_after(replies, _addr(ev.by), ev.date):
                continue
            found.append(ev)
    if not found:
        return Landing()
    found.sort(key=lambda e: (e.date is None, e.date or datetime.min))
    total = 1 if standalone else (n_patches or 0)
    applied: set[int] = set()
    whole = False
    for ev in found:
        if ev.patches:
            applied.update(p for p in ev.patches if not total or 1 <= p <= total)
        else:
            whole = True
    if whole or (total and applied >= set(range(1, total + 1))):
        status = "applied"
        patches = tuple(range(1, total + 1)) if total else tuple(sorted(applied))
    else:
        status = "partial"
        patches = tuple(sorted(applied))
    first = next((e for e in found if not e.patches), found[0])
    where = first.where or next((e.where for e in found if e.where), "")
    commits = tuple(dict.fromkeys(c for e in found for c in e.commits))
    return Landing(
        status=status,
        by=first.by,
        where=where,
        date=first.date,
        commits=commits,
        patches=patches,
        evidence=tuple(found),
    )
