"""Finding diffs in mail bodies: where they start, which files they touch.

Pure functions over text, no I/O. Patches on mailing lists come as git diffs
(``diff --git``, with renames, copies, mode changes and binary hunks), as plain unified
diffs (``---``/``+++`` only, from quilt or ``diff -u``) and, in older archives, as CVS/SVN
diffs that start with ``Index: path`` and a ``====`` rule.
"""

from __future__ import annotations

import re

# Where a diff starts. A `--- x` line only counts when `+++ y` follows it, so the `---`
# separator before the notes and the diffstat (and prose like "--- snip ---" followed by
# an ordinary line) never split a body.
_DIFF_START = re.compile(
    r"^(?:diff --git \S"
    r"|diff -[a-zA-Z][^\n]*\n(?:[^\n]*\n)?--- \S"
    r"|Index: \S[^\n]*\n={20,}[ \t]*$"
    r"|--- \S[^\n]*\n\+\+\+ \S)",
    re.M,
)

# The header lines of a diff that name files. `---`/`+++` are taken as a pair so that a
# removed line reading "-- foo" inside a hunk is not mistaken for a file header.
_FILE_LINES = re.compile(
    r"^(?:diff --git (?P<git>[^\n]+)"
    r"|(?P<rc>rename|copy) (?:from|to) (?P<rcpath>[^\n]+)"
    r"|--- (?P<old>[^\n]+)\n\+\+\+ (?P<new>[^\n]+)"
    r"|Index: (?P<index>\S[^\n]*)\n={20,}"
    r"|Binary files (?P<bin>[^\n]+) differ)[ \t]*$",
    re.M,
)

_DEV_NULL = "/dev/null"

_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def split_at_diff(body: str) -> tuple[str, str]:
    """Split a mail body into (text before the first diff, the diff part).

    The diff part is empty when the body holds no diff.
    """
    m = _DIFF_START.search(body)
    if m is None:
        return body, ""
    return body[: m.start()], body[m.start() :]


def diff_files(diff_text: str) -> tuple[str, ...]:
    """Paths touched by the diffs in ``diff_text``, in order of appearance, deduplicated.

    Both sides of a rename or copy are listed (old path first). ``a/``/``b/`` prefixes
    are stripped, ``/dev/null`` is ignored, quoted git paths are unquoted.
    """
    seen: dict[str, None] = {}

    def add(path: str | None) -> None:
        if path and path != _DEV_NULL:
            seen.setdefault(path, None)

    for m in _FILE_LINES.finditer(diff_text):
        if m["git"] is not None:
            for path in _git_header_paths(m["git"]):
                add(path)
        elif m["rc"] is not None:
            add(_unquote(m["rcpath"].strip()))
        elif m["old"] is not None:
            for path in _unified_pair(_header_path(m["old"]), _header_path(m["new"])):
                add(path)
        elif m["index"] is not None:
            add(m["index"].strip())
        elif m["bin"] is not None:
            old, sep, new = m["bin"].partition(" and ")
            if sep:
                for path in _unified_pair(_header_path(old), _header_path(new)):
                    add(path)
    return tuple(seen)


def commit_message(body: str) -> tuple[str, str]:
    """Split a patch body at the first line that is exactly ``---``.

    Returns (commit message, notes after the dashes). Without such a line, everything
    is the commit message and the notes are empty.
    """
    m = re.search(r"^---[ \t]*$", body, re.M)
    if m is None:
        return body.rstrip(), ""
    notes = body[m.end() :]
    return body[: m.start()].rstrip(), notes[1:] if notes.startswith("\n") else notes


# --------------------------------------------------------------------------- helpers


def _git_header_paths(rest: str) -> tuple[str, ...]:
    """The two paths of a ``diff --git`` line (prefixes stripped)."""
    rest = rest.strip()
    if rest.startswith('"'):
        old, tail = _take_quoted(rest)
        tail = tail.strip()
        new = _unquote(tail) if tail.startswith('"') else tail
        return tuple(_strip_prefix(p) for p in (old, new) if p)
    if rest.endswith('"'):
        idx = rest.rfind(' "')
        if idx > 0:
            return (_strip_prefix(rest[:idx]), _strip_prefix(_unquote(rest[idx + 1 :])))
    # Unquoted paths may hold spaces, so "a/X b/Y" is ambiguous; git only writes such a
    # line when X == Y or when rename/copy lines follow with the exact paths, so taking
    # the line apart in the middle is right whenever it matters.
    half = (len(rest) - 1) // 2
    if len(rest) % 2 == 1 and rest[half] == " ":
        old, new = rest[:half], rest[half + 1 :]
        if _strip_prefix(old) == _strip_prefix(new):
            return (_strip_prefix(old),)
    for sep in (" b/", " "):
        old, found, new = rest.partition(sep)
        if found:
            new = ("b/" + new) if sep == " b/" else new
            return (_strip_prefix(old), _strip_prefix(new))
    return (_strip_prefix(rest),)


def _header_path(text: str) -> str:
    """The path of a ``---``/``+++`` line: quoted, or up to the tab before a timestamp."""
    text = text.strip()
    if text.startswith('"'):
        return _take_quoted(text)[0]
    text = text.split("\t", 1)[0]
    # "diff -u" writes "path  2011-12-05 20:15:49.000000000 +0100" when no tab is used.
    text = re.sub(r"\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [+-]\d{4})?$", "", text)
    return text.strip()


def _unified_pair(old: str, new: str) -> tuple[str, ...]:
    """Paths named by a ``---``/``+++`` pair, with the -p1 level guessed like patch does."""
    if old == _DEV_NULL or new == _DEV_NULL:
        other = new if old == _DEV_NULL else old
        return (_strip_prefix(other),)
    if old == new:
        return (old,)
    old_parts, new_parts = old.split("/", 1), new.split("/", 1)
    if len(old_parts) == 2 and len(new_parts) == 2 and old_parts[1] == new_parts[1]:
        # linux.orig/x vs linux/x, a/x vs b/x: the first component is the tree name.
        return (old_parts[1],)
    return (_strip_prefix(old), _strip_prefix(new))


def _strip_prefix(path: str) -> str:
    if path.startswith(("a/", "b/")):
        return path[2:]
    return path


def _take_quoted(text: str) -> tuple[str, str]:
    """Split a leading C-quoted string off ``text``: (unquoted value, rest)."""
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return _unquote(text[: i + 1]), text[i + 1 :]
        i += 1
    return _unquote(text), ""


def _unquote(text: str) -> str:
    """Undo git's C-style path quoting (octal escapes are UTF-8 bytes)."""
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return text
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "0123" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            if nxt in _C_ESCAPES:
                out.append(_C_ESCAPES[nxt])
                i += 2
                continue
        out += ch.encode("utf-8")
        i += 1
    return out.decode("utf-8", "replace")
