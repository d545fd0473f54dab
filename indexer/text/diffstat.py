"""The diffstat of a cover letter or patch: which files it names.

git prints ``path | 12 +-`` lines, a ``N files changed`` summary and, with
``--summary``, ``create mode``/``delete mode``/``rename``/``mode change`` lines. Paths
may be renames (``a/{x => y}/f.c``, ``old => new``) or truncated to fit the terminal
width (``.../kvm/vgic/vgic-its.c``); truncated ones are resolved against full paths
known from elsewhere (the series' diffs, the summary lines), or dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["StatLine", "match_stat_line", "expand_rename", "resolve_files"]

# The part after the "|" of a diffstat line (``| 12 ++--``, ``| Bin 0 -> 1 bytes``).
# Lines are taken apart with str methods first and every pattern is anchored with no
# two adjacent parts that can match the same characters, so each runs in time linear
# in the line: mail text is hostile, and a backtracking pattern over a run of 20,000
# spaces took seconds.
_STAT_TAIL = re.compile(r"(?:\d+(?:\s+(?P<graph>[+-]+))?|Bin(?:\s+\d+\s+->\s+\d+\s+bytes)?)")
_SUMMARY = re.compile(
    r"^\s*\d+ files? changed(?:, \d+ insertions?\(\+\))?(?:, \d+ deletions?\(-\))?\s*$"
)
# Applied to the stripped line: no trailing \s* after a lazy group.
_MODE = re.compile(
    r"(?:(?:create|delete) mode \d{6} (?P<a>.+)"
    r"|(?:rename|copy|rewrite) (?P<b>.+) \(\d+%\)"
    r"|mode change \d{6} => \d{6} (?P<c>.+))"
)
_BRACES = re.compile(r"^(?P<pre>.*)\{(?P<old>.*) => (?P<new>.*)\}(?P<post>.*)$")
# Paths are what git prints: no spaces except around "=>", nothing table-like.
_PATHISH = re.compile(r"^[\w.@+,~{}/=> -]+$")


class StatLine:
    """What one diffstat-ish line holds: ``paths`` (as printed) and whether it is the
    ``N files changed`` summary. ``full`` marks paths that git never truncates."""

    __slots__ = ("paths", "summary", "full")

    def __init__(self, paths: tuple[str, ...], *, summary: bool = False, full: bool = False):
        self.paths = paths
        self.summary = summary
        self.full = full


def match_stat_line(line: str) -> StatLine | None:
    """The diffstat content of ``line``, or None when it is not part of a diffstat."""
    if "|" in line:
        # "<path> | <stat>": the path is everything before the first " | " that is
        # followed by a stat (a path holding " | " is not worth a quadratic search)
        head, sep, tail = line.partition("|")
        path = head.strip()
        m = _STAT_TAIL.fullmatch(tail.strip())
        if not sep or not path or not m or not head[-1:].isspace() or not tail[:1].isspace():
            return None
        if not _PATHISH.match(path):
            return None
        # A bare word with no graph is more likely a table cell ("vcpus | 12").
        if "/" not in path and "." not in path and not m.group("graph"):
            return None
        return StatLine((path,))
    if "changed" in line and _SUMMARY.match(line):
        return StatLine((), summary=True)
    if "mode" in line or "%)" in line:
        m = _MODE.fullmatch(line.strip())
        if m:
            return StatLine((m.group("a") or m.group("b") or m.group("c"),), full=True)
    return None


def expand_rename(path: str) -> tuple[str, ...]:
    """``a/{x => y}/f.c`` -> (``a/x/f.c``, ``a/y/f.c``); ``old => new`` -> both."""
    m = _BRACES.match(path)
    if m:
        pre, post = m.group("pre"), m.group("post")
        return tuple(
            (pre + side + post).replace("//", "/").strip("/")
            for side in (m.group("old"), m.group("new"))
        )
    if " => " in path:
        old, _, new = path.partition(" => ")
        return (old.strip(), new.strip())
    return (path,)


def resolve_files(printed: Iterable[str], known: Sequence[str]) -> tuple[str, ...]:
    """Expand renames and resolve ``.../`` truncated paths against ``known`` full paths
    by unique suffix; unresolvable truncated paths are dropped. Order kept, deduped."""
    out: dict[str, None] = {}
    known_set = tuple(dict.fromkeys(known))
    for p in printed:
        for path in expand_rename(p):
            if path.startswith("..."):
                tail = path[3:]
                # ".../" keeps the slash; "...foo.c" (no slash to cut at) does not.
                hits = [k for k in known_set if k.endswith(tail) and len(k) > len(tail)]
                if len(hits) == 1:
                    out.setdefault(hits[0])
            elif path:
                out.setdefault(path)
    return tuple(out)
