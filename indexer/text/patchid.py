"""Patch ids: one hash per patch that survives what changes between two postings of
the same change.

The idea is ``git patch-id --stable``'s: hash what the diff changes, not where.
Whitespace and line numbers are ignored, and each file's part is hashed alone, the
parts then combined in sorted order, so file order does not matter. Unlike git's,
context lines are left out too: a v2 rebased onto a newer tree keeps its patch ids
when its own changes are the same. So this is not byte-compatible with git's ids; the
git linker computes these ids from ``git show`` output with this same function.

Pure functions over text; linear in the diff's size.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["PatchId", "diff_patch_id"]

# A file's part starts at its "diff --git" line, or at a "--- a/x" + "+++ b/y" pair in
# a plain unified diff.
_FILE_START = re.compile(r"^(?:diff --git [^\n]*|--- [^\n]*\n\+\+\+ [^\n]*)$", re.M)
_NEW_PATH = re.compile(r"^\+\+\+ (?:b/)?(\S+)", re.M)
_OLD_PATH = re.compile(r"^--- (?:a/)?(\S+)", re.M)
_SPACE = re.compile(r"\s+")


class PatchId(str):
    """A patch id with the count of changed lines it covers (tiny diffs prove little)."""

    changed: int

    def __new__(cls, value: str, changed: int) -> PatchId:
        obj = super().__new__(cls, value)
        obj.changed = changed
        return obj


def _file_part(part: str) -> tuple[str, int] | None:
    """(hash of one file's changes, changed lines), None when it changes nothing."""
    m = _NEW_PATH.search(part)
    if m is None or m.group(1) == "/dev/null":
        m = _OLD_PATH.search(part)  # a deleted file
    path = m.group(1) if m is not None else ""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(path.encode("utf-8", "surrogatepass"))
    changed = 0
    in_hunk = False
    for line in part.split("\n"):
        if line.startswith("@@"):
            in_hunk = True
            continue
        if not in_hunk or not line:
            continue
        first = line[0]
        if first in "+-":
            text = _SPACE.sub("", line[1:])
            h.update(first.encode() + text.encode("utf-8", "surrogatepass") + b"\n")
            changed += 1
        elif first not in " \\":
            # the end of the hunks (a signature "-- " starts with "-" but has a space)
            in_hunk = False
    if not changed:
        return None
    return h.hexdigest(), changed


def diff_patch_id(diff: str) -> PatchId | None:
    """The patch id of ``diff`` (a mail's diff part, from its first file header on);
    None when no hunk changes a line (a binary-only or mode-only change, a mangled
    mail): such a diff cannot be told from another.
    """
    # a trailing mail signature is not part of the diff
    sig = diff.find("\n-- \n")
    if sig >= 0:
        diff = diff[:sig]
    starts = [m.start() for m in _FILE_START.finditer(diff)] or [0]
    starts.append(len(diff))
    parts: list[str] = []
    changed = 0
    for a, b in zip(starts, starts[1:], strict=False):
        got = _file_part(diff[a:b])
        if got is not None:
            parts.append(got[0])
            changed += got[1]
    if not parts:
        return None
    combined = hashlib.sha1("\n".join(sorted(parts)).encode(), usedforsecurity=False)
    return PatchId(combined.hexdigest()[:20], changed)
