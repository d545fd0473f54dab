"""The change between two diffs of one patch, as a reviewer reads an interdiff.

Two postings of the same patch differ in their ``index`` lines (blob hashes) and hunk
offsets whenever anything else in the tree moved; neither is a change to the patch.
Both are masked before the two diffs are compared, and so is whitespace inside a
line (a mail client that turned tabs into spaces changed nothing; the stable patch id
ignores it too), so only changed lines show.
"""

from __future__ import annotations

import difflib
import re

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?")
_DROP = re.compile(r"^(?:index [0-9a-f]+\.\.[0-9a-f]+|similarity index |dissimilarity index )")


def masked(diff: str) -> list[str]:
    """The diff's lines up to the mail signature, without index lines, hunk headers
    without their offsets (the function context after ``@@`` stays), and whitespace
    inside changed and context lines folded."""
    out = []
    for line in diff.splitlines():
        if line in ("-- ", "--"):
            break  # git's signature ("-- " then the version) and list footers after it
        if _DROP.match(line):
            continue
        m = _HUNK.match(line)
        if not line:
            out.append(" ")  # a blank context line whose space a mailer ate
        elif m:
            out.append("@@ " + line[m.end() :])
        elif line[:1] in ("+", "-", " ") and not line.startswith(("+++", "---")):
            out.append(line[0] + " ".join(line[1:].split()))
        else:
            out.append(line)
    return out


def interdiff(old: str, new: str, *, context: int = 2) -> tuple[str, int, int]:
    """(the unified diff of the two masked diffs, lines added, lines removed); an
    empty text when they differ only in what the mask hides."""
    lines = list(
        difflib.unified_diff(masked(old), masked(new), "v-old", "v-new", n=context, lineterm="")
    )
    added = sum(1 for x in lines[2:] if x.startswith("+"))
    removed = sum(1 for x in lines[2:] if x.startswith("-"))
    return "\n".join(lines), added, removed
