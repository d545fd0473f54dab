"""Cover letters (and lone patches) split into fields: motivation, changelog, shortlog,
files, links, base-commit, change-id and the Message-IDs of earlier versions.

One pass over the lines with a small state machine: every line is either structure
(diffstat, shortlog, trailers, b4 footer, changelog, greetings and sign-offs, list
footers) or prose, and the prose is the motivation. It runs on every cover of every
build, so it stays regex-only and linear.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kvmsearch.indexer.series.changelog import Header, build_entry, is_bullet, parse_header
from kvmsearch.indexer.text.diffstat import StatLine, match_stat_line, resolve_files
from kvmsearch.indexer.text.links import find_links, find_prior_ids, is_link_line
from kvmsearch.indexer.text.trailers import is_trailer
from kvmsearch.models.records import ChangelogEntry, CoverFields

__all__ = ["parse_cover", "parse_patch_notes", "find_links", "find_prior_ids"]

# -- line classes --------------------------------------------------------------------------

# Mailman's footer and what follows it belong to the list, not to the author.
_LIST_FOOTER = re.compile(r"^_{20,}\s*$")
_META = re.compile(
    r"^(base-commit|change-id|prerequisite-patch-id|prerequisite-change-id"
    r"|prerequisite-message-id|prerequisite-base-commit)\s*:\s*(\S+)",
    re.IGNORECASE,
)
_AUTHOR = re.compile(r"^(\S.*?) \((\d+)\):\s*$")
_SEP = re.compile(r"^\s*(?:-{3,}|={3,}|\*{3,}|#{3,}|~{3,}|-*\s*(?:>8|8<)\s*-*)\s*$")
_SEP_START = frozenset("-=*#~8>dD")
_PULL_START = frozenset({"the", "are", "for"})
_SIG = re.compile(r"^--\s?$")
# git's template placeholders and a lone "Diffstat:" label over the diffstat.
_PLACEHOLDER = re.compile(
    r"^\s*(?:\*\*\* (?:BLURB|SUBJECT) HERE \*\*\*|diffstat\s*:?)\s*$", re.IGNORECASE
)
_PULL = re.compile(
    r"^(?:the following changes since commit [0-9a-f]+|are available in the git repository at"
    r"|for you to fetch changes up to [0-9a-f]+)\b",
    re.IGNORECASE,
)
# "Hi all,", "Hello Marc, Oliver,", "Dear maintainers:" - short, no sentence in it.
_GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|dear|greetings|good\s+(?:morning|afternoon|evening))\b[^.?]{0,40}"
    r"|all\s*[,:!])$",
    re.IGNORECASE,
)
# "Paolo, Radim," opening a pull request.
_ADDRESSEES = re.compile(r"^[A-Z][\w'-]*(?:\s*(?:,|\band\b|&)\s*[A-Z][\w'-]*)*\s*[,!]$")
_SIGNOFF = re.compile(
    r"^(?:(?:many\s+|big\s+)?thanks(?:\s+(?:a\s+lot|in\s+advance|for\s+\w+(?:\s+\w+)?))?"
    r"|thank\s+you|thx|tia|(?:best|kind|warm|warmest)?\s*regards|best\s+wishes|cheers|best"
    r"|br|sincerely|yours|ciao|enjoy)[\s,.!~]*(?:[-–—]+\s*\S.{0,30})?$",
    re.IGNORECASE,
)
_PLEASE = re.compile(
    r"^(?:please\s+(?:review|comment|consider|take\s+a\s+look|have\s+a\s+look|let\s+me\s+know"
    r"|give\s+(?:it|this)|apply|provide|share|pull|merge|queue|consider)\b[^.!?]{0,80}"
    r"|(?:any\s+)?(?:comments?|feedbacks?|reviews?|suggestions?|thoughts?|inputs?)"
    r"(?:\s*(?:,|and|or|/)\s*\w+)*\s+(?:are|is)?\s*(?:very\s+|most\s+|highly\s+)?"
    r"(?:welcome[d]?|appreciated)[^.!?]{0,40}"
    r"|looking\s+forward\s+to\s+(?:your\s+)?(?:comments?|feedback|reviews?)[^.!?]{0,40})"
    r"[.!]*$",
    re.IGNORECASE,
)
# A line that is a name and nothing else: "Nick", "M.", "Jean-Philippe", "Paolo Bonzini",
# "-- Marc", "Rob Herring <robh@kernel.org>". Capitalised words only, so a short
# sentence ("Tested on FVP.") is not taken for a name.
_END_NAME = re.compile(
    r"^(?:[-/]+\s*)?[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*){0,3}(?:\s*<[^<>\s]+@[^<>\s]+>)?$"
)
# A footnote marker alone on its line, its URL on the next: "[1]".
_REF_ONLY = re.compile(r"^\[\d+\]:?$")
# In-body headers git format-patch puts first when the author is not the sender.
_INBODY = re.compile(r"^(?:from|date|subject|message-id|content-type)\s*:\s", re.IGNORECASE)
# "2.34.1", "2.20.1.windows.1", "2.35.1.1021.g381101b075-goog": git's signature.
_GIT_VERSION = re.compile(r"^\d+\.\d+[\w.+-]*$")


@dataclass(slots=True)
class _Split:
    prose: list[str] = field(default_factory=list)
    entries: list[ChangelogEntry] = field(default_factory=list)
    shortlog: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    stat_paths: list[str] = field(default_factory=list)
    full_paths: list[str] = field(default_factory=list)
    has_stat: bool = False
    meta: dict[str, str] = field(default_factory=dict)


def _cut_footer(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if _LIST_FOOTER.match(line) and any(
            "mailing list" in x.lower() for x in lines[i + 1 : i + 3]
        ):
            return lines[:i]
    return lines


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


class _Splitter:
    """The state machine. ``mode`` is one of normal, changelog, shortlog, signature, pull."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.out = _Split()
        self.mode = "normal"
        self.header: Header | None = None
        self.body: list[str] = []
        self.gap = False
        self.title_indent = 0
        self.titles_left = 0

    # changelog entries
    def _open(self, header: Header) -> None:
        self._close()
        self.header, self.body, self.gap = header, [], False
        self.mode = "changelog"

    def _close(self) -> None:
        if self.header is not None:
            entry = build_entry(self.header, self.body)
            if entry is not None:
                self.out.entries.append(entry)
        self.header, self.body = None, []
        if self.mode == "changelog":
            self.mode = "normal"

    def _entry_has_content(self) -> bool:
        return bool(self.header and (self.header.inline or any(x.strip() for x in self.body)))

    def run(self) -> _Split:
        lines = self.lines
        n = len(lines)
        i = 0
        while i < n:
            line = lines[i]
            i += 1
            if not line.strip():
                if self.mode == "changelog":
                    self.body.append("")
                    self.gap = True
                elif self.mode == "shortlog":
                    self.mode = "normal"
                elif self.mode == "normal":
                    self.out.prose.append("")
                continue
            nxt = lines[i] if i < n else ""
            self._line(line, nxt)
        self._close()
        return self.out

    def _structure(self, line: str, nxt: str) -> str | None:
        """The structural class of a line, independent of the mode."""
        # Cheap character tests guard each regex: this runs on every line of every cover.
        s = line.strip()
        colon = ":" in s
        if colon:
            m = _META.match(s)
            if m:
                self.out.meta.setdefault(m.group(1).lower(), m.group(2))
                return "meta"
            if line[0] != " " and is_trailer(s):
                return "trailer"
        stat = match_stat_line(line)
        if stat is not None:
            self._stat(stat)
            return "stat"
        if colon and s[-1] == ":" and line[0] != " ":
            m = _AUTHOR.match(line)
            if m and nxt.strip() and not match_stat_line(nxt):
                self.out.authors.append(m.group(1).strip())
                self.title_indent = _indent(nxt)
                self.titles_left = int(m.group(2))
                return "author"
        if s[0] in _SEP_START and (_SEP.match(line) or _PLACEHOLDER.match(line)):
            return "sep"
        if s[:3].lower() in _PULL_START and _PULL.match(s):
            return "pull"
        return None

    def _stat(self, stat: StatLine) -> None:
        self.out.has_stat = True
        (self.out.full_paths if stat.full else self.out.stat_paths).extend(stat.paths)

    def _line(self, line: str, nxt: str) -> None:
        s = line.strip()
        if self.mode == "shortlog":
            # Titles are indented; some mailers strip that, so the "(N)" count decides.
            if (_indent(line) > 0 or self.titles_left > 0) and not match_stat_line(line):
                if _indent(line) > self.title_indent and self.out.shortlog:
                    self.out.shortlog[-1] += " " + s
                else:
                    self.out.shortlog.append(s)
                    self.titles_left -= 1
                return
            self.mode = "normal"
        kind = self._structure(line, nxt)
        header = parse_header(line, nxt) if kind is None else None
        if self.mode == "changelog":
            if kind == "sep" and not self._entry_has_content():
                return  # "Changelog:\n---\nv1->v2:" frames the block, it does not end it
            if kind is None and header is None and not _SIGNOFF.match(s):
                loose = _indent(line) == 0 and not is_bullet(line)
                if not (
                    self.gap
                    and loose
                    and (
                        self._entry_has_content() or self.header is None or not self.header.version
                    )
                ):
                    self.body.append(line)
                    self.gap = False
                    return
            self._close()
        if self.mode == "pull":
            if kind is None and header is None and (_indent(line) > 0 or s.startswith("git")):
                return
            self.mode = "normal"
        if kind == "author":
            self.mode = "shortlog"
            return
        if kind == "pull":
            self.mode = "pull"
            return
        if kind is not None:
            if kind == "sep" and self.mode == "signature":
                self.mode = "normal"
            return
        if header is not None:
            self._open(header)
            return
        # After "Thanks,", "Please review." or "-- " come names, not prose.
        if _SIG.match(line) or _SIGNOFF.match(s) or (len(s) < 140 and _PLEASE.match(s)):
            self.mode = "signature"
            return
        if self.mode == "signature":
            # A lone word may be a lower-case nick ("fuad"); longer lines must be names.
            if len(s) <= 60 and (
                _END_NAME.match(s) or _GIT_VERSION.match(s) or (" " not in s and len(s) <= 20)
            ):
                return
            self.mode = "normal"
        self.out.prose.append(line.rstrip())


# -- motivation ------------------------------------------------------------------------------


def _paragraphs(prose: Sequence[str]) -> list[list[str]]:
    paras: list[list[str]] = []
    cur: list[str] = []
    for line in prose:
        if line.strip():
            cur.append(line)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    return paras


def _motivation(prose: Sequence[str]) -> str:
    kept: list[str] = []
    first = True
    after_link = False
    for line in prose:
        s = line.strip()
        if not s:
            kept.append("")
            after_link = False
            continue
        if first and len(s) <= 60 and (_GREETING.match(s) or _ADDRESSEES.match(s)):
            first = False
            continue
        first = False
        if (("://" in s or "@" in s) and is_link_line(s)) or _REF_ONLY.match(s):
            # "This series can be found at:" says nothing once its link is gone.
            label = kept[-1].strip() if kept else ""
            if label.endswith(":") and len(label) <= 60 and (len(kept) < 2 or not kept[-2]):
                kept.pop()
            after_link = True
            continue
        # The rest of a URL the mailer wrapped: "commit/?h=kvm/hvc&id=125ea89e".
        if after_link and " " not in s and "/" in s:
            continue
        after_link = False
        kept.append(line)
    paras = _paragraphs(kept)
    # Names left alone at the end ("Nick", "M.", "Paolo") after the sign-off was eaten.
    while paras and len(paras[-1]) <= 2 and all(_END_NAME.match(x.strip()) for x in paras[-1]):
        paras.pop()
    return "\n\n".join(_dedent(p) for p in paras)


def _dedent(para: list[str]) -> str:
    cut = min(_indent(x) for x in para)
    return "\n".join(x[cut:].rstrip() for x in para)


# -- public ----------------------------------------------------------------------------------


def _split(body: str) -> tuple[_Split, str]:
    text = body.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8)
    lines = _cut_footer(text.split("\n"))
    start = 0
    while start < len(lines) and (not lines[start].strip() or _INBODY.match(lines[start])):
        start += 1
    lines = lines[start:]
    return _Splitter(lines).run(), "\n".join(lines)


def _fields(
    parts: _Split, text: str, fallback_files: Sequence[str], extra_entries: tuple = ()
) -> CoverFields:
    if parts.has_stat:
        known = list(fallback_files) + parts.full_paths
        files = resolve_files(parts.stat_paths + parts.full_paths, known)
    else:
        files = tuple(dict.fromkeys(fallback_files))
    links = find_links(text)
    return CoverFields(
        motivation=_motivation(parts.prose),
        changelog=tuple(parts.entries) + extra_entries,
        shortlog=tuple(parts.shortlog),
        shortlog_authors=tuple(parts.authors),
        files=files,
        links=links,
        base_commit=parts.meta.get("base-commit"),
        change_id=parts.meta.get("change-id"),
        prior_ids=find_prior_ids(text, links),
    )


def parse_cover(
    body: str, *, patch_files: Sequence[str] = (), patch_titles: Sequence[str] = ()
) -> CoverFields:
    """A cover letter body (0/M mail, text before any diff) -> fields.

    ``patch_files``: files the series' patch diffs touch, used to resolve ``.../``
    truncated diffstat paths and as the file list when the cover has no diffstat.
    ``patch_titles``: the series' patch titles; a run of them pasted into the prose
    (a shortlog without the ``Name (N):`` line) is kept out of the motivation.
    """
    parts, text = _split(body)
    if patch_titles:
        parts.prose = _drop_title_runs(parts.prose, patch_titles)
    return _fields(parts, text, patch_files)


_TITLE_PREFIX = re.compile(r"^(?:[-*]\s+|\[[^\]]*\]\s*|\d+/\d+:?\s+|\d+[.)]\s+)+")


def _drop_title_runs(prose: list[str], titles: Sequence[str]) -> list[str]:
    wanted = {" ".join(t.split()).lower() for t in titles if t.strip()}

    def is_title(line: str) -> bool:
        s = _TITLE_PREFIX.sub("", line.strip())
        return " ".join(s.split()).lower() in wanted

    out: list[str] = []
    i = 0
    while i < len(prose):
        j = i
        while j < len(prose) and prose[j].strip() and is_title(prose[j]):
            j += 1
        if j - i >= 2:  # one matching line may be prose naming a patch; a run is a list
            i = j
            continue
        out.append(prose[i])
        i += 1
    return out


def parse_patch_notes(body: str, *, diff_files: Sequence[str] = ()) -> CoverFields:
    """A coverless series' patch 1/N or a standalone patch -> fields.

    The commit message (without trailers like Signed-off-by) is the motivation; the
    notes after ``---`` (before the diffstat) are the changelog, as entries when they
    have version headers, else as one entry with an empty version; files come from the
    diffstat, else from ``diff_files``.
    """
    from kvmsearch.indexer.text.diffs import commit_message

    message, notes = commit_message(body)
    msg_parts, _ = _split(message)
    note_parts, _ = _split(notes)
    text = body.replace("\r\n", "\n")
    extra: tuple[ChangelogEntry, ...] = ()
    if not note_parts.entries:
        loose = build_entry(Header(""), _paragraph_lines(note_parts.prose))
        if loose is not None:
            extra = (loose,)
        note_parts.prose = []
    msg_parts.entries = msg_parts.entries + note_parts.entries
    msg_parts.stat_paths = note_parts.stat_paths + msg_parts.stat_paths
    msg_parts.full_paths = note_parts.full_paths + msg_parts.full_paths
    msg_parts.has_stat = note_parts.has_stat or msg_parts.has_stat
    for k, v in note_parts.meta.items():
        msg_parts.meta.setdefault(k, v)
    return _fields(msg_parts, text, diff_files, extra)


def _paragraph_lines(prose: Sequence[str]) -> list[str]:
    return [line for line in prose if not is_link_line(line)]
