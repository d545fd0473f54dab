"""Acronyms the corpus defines, learned at build time.

Kernel prose introduces its acronyms: "Performance Monitoring Unit (PMU)", "Statistical
Profiling Extension (SPE)". A question that paraphrases instead of naming the acronym
("performance-monitor registers") then misses every series that only says "PMU". The
table mined here lets the query side add the acronym when a question spells out its
expansion. Only pairs whose initials match and that several documents define are kept,
so the table is data, not a hand-kept word list.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

ACRONYMS_FILE = "acronyms.json"

#: a pair counts once per document; this many documents must define it
MIN_DOCS = 2

# The acronym in parentheses after a word: 2-8 characters, starting with a capital and
# holding at least two (so "(e.g." or "(see" never qualify); a plural "s" ("Virtual
# Functions (VFs)") is allowed. The words before it are read separately: a regex that
# matched them too would retry at every word of the corpus.
_DEF_RE = re.compile(r"(?<=[A-Za-z0-9])\s\(([A-Z][a-z0-9]*[A-Z][A-Za-z0-9]{0,6}?)s?\)")
_WORDS_BEFORE_RE = re.compile(r"(?:[A-Za-z][A-Za-z0-9'-]*\s+){1,8}$")
#: characters before the parenthesis that can hold the expansion
_LOOKBACK = 160
_JOINERS = frozenset("of and the for a an to in on with".split())


def _expansion(words: list[str], acronym: str) -> str | None:
    """The words before ``(ACRONYM)`` whose initials spell it (hyphenated words give
    one initial per part, joiners like "of" may sit between), or None."""
    letters = [c.lower() for c in acronym if c.isalpha()]
    i = len(letters)
    taken: list[str] = []
    for w in reversed(words):
        if i == 0:
            break
        initials = [p[0].lower() for p in w.split("-") if p]
        if initials and len(initials) <= i and letters[i - len(initials) : i] == initials:
            taken.append(w)
            i -= len(initials)
        elif taken and w.lower() in _JOINERS:
            taken.append(w)
        else:
            return None
    if i:
        return None
    while taken and taken[-1].lower() in _JOINERS:  # leading joiner (reversed list)
        taken.pop()
    return " ".join(reversed(taken)).lower()


def mine_acronyms(texts: Iterable[str]) -> Counter[tuple[str, str]]:
    """``(ACRONYM, expansion)`` -> number of texts defining it."""
    out: Counter[tuple[str, str]] = Counter()
    for text in texts:
        seen: set[tuple[str, str]] = set()
        for m in _DEF_RE.finditer(text):
            acronym = m.group(1)
            before = _WORDS_BEFORE_RE.search(text, max(0, m.start() - _LOOKBACK), m.start() + 1)
            if before is None:
                continue
            exp = _expansion(before.group().split(), acronym)
            if exp:
                seen.add((acronym, exp))
        out.update(seen)
    return out


def write_acronyms(dirpath: Path, counts: Counter[tuple[str, str]]) -> None:
    """Store the counts (all of them, so an update can add to them) in ``dirpath``."""
    rows = sorted([a, e, n] for (a, e), n in counts.items())
    (Path(dirpath) / ACRONYMS_FILE).write_text(json.dumps({"pairs": rows}))


def read_acronyms(dirpath: Path) -> Counter[tuple[str, str]]:
    """The stored counts; empty when the index predates the table or it is unreadable
    (the table only adds recall, a query never fails for want of it)."""
    try:
        rows = json.loads((Path(dirpath) / ACRONYMS_FILE).read_text())["pairs"]
        return Counter({(str(a), str(e)): int(n) for a, e, n in rows})
    except (OSError, ValueError, KeyError, TypeError):
        return Counter()


__all__ = ["ACRONYMS_FILE", "MIN_DOCS", "mine_acronyms", "read_acronyms", "write_acronyms"]
