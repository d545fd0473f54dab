"""Typed records that cross module boundaries.

Frozen dataclasses, so a stage cannot quietly mutate what an earlier stage produced.
Pipeline: RawMail (sources) -> Message (messages) -> SubjectInfo + CoverFields
(subjects, cover) -> SeriesVersion / Family (series) -> documents and hits (index, query).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: a decoded JSON value, as json.loads gives it (the record holding it documents its
#: shape); Any because JSON nests and callers read it by key
JsonValue = Any
JsonObject = dict[str, JsonValue]

# --------------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class RawMail:
    """One undecoded message as a source yielded it."""

    data: bytes
    #: the source it came from (a path, as given)
    source: str
    #: where in the source, for error reports: "byte 1234", "commit abc123", "file cur/x"
    position: str
    #: list the source belongs to when the mail itself does not say (from the file name)
    default_list: str | None = None
    #: the mail's full size when it was over the size cap: ``data`` then holds only
    #: its first bytes (enough for the headers), and the mail is reported as skipped
    too_large: int | None = None


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """How far a source was read, so a later run continues from there.

    ``kind`` is one of ``mbox``, ``maildir``, ``public-inbox``, ``patchwork``.
    ``state`` is kind-specific and JSON-serialisable: for mbox the byte offset in the
    decompressed stream plus the size/mtime/head hash that prove the file was only
    appended to; for public-inbox the last commit per epoch; for Maildir and patchwork
    exports the names and mtimes of the files read.
    """

    source: str
    kind: str
    state: JsonObject


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded mail, trimmed to what kvmsearch needs.

    Diff bodies are not kept: ``diff_files`` holds the paths they touch, ``patch_id``
    what they change, and ``body`` stops where the first diff starts (so a patch keeps
    its commit message, the notes after ``---`` and the diffstat). A reply keeps what
    its sender wrote (quotes and signature dropped, see ``indexer.text.quotes``).
    """

    message_id: str  # without angle brackets
    #: True when the mail had no usable Message-ID and one was made from a content hash
    synthetic_id: bool
    subject: str  # decoded, whitespace folded
    from_name: str
    from_addr: str  # lower-cased; the real sender where list software rewrote it
    date: datetime | None  # timezone-aware
    in_reply_to: str | None
    references: tuple[str, ...]
    lists: tuple[str, ...]  # list ids, e.g. "kvmarm.lists.cs.columbia.edu"
    body: str
    #: files touched by the diffs in the mail (both sides of renames), in order
    diff_files: tuple[str, ...] = ()
    has_diff: bool = False
    #: where it was first read, for reports
    source: str = ""
    position: str = ""
    #: problems that were worked around while decoding (bad charset, ...)
    warnings: tuple[str, ...] = ()
    #: see indexer.text.patchid; None without a diff that changes a line
    patch_id: str | None = None
    #: changed lines the patch id covers (a one-line diff proves little)
    patch_lines: int = 0
    #: the diff itself, zlib-compressed (a patch's diff is a quarter of its size that
    #: way, and a rebuild holds every read message at once); b"" without one. Kept by
    #: the message store beside the record, never in it, so assembly never reads it:
    #: `kvmsearch diff` does (``MessageStore.diffs``).
    diff_z: bytes = b""
    #: a reply's answers: the quoted line each of its own paragraphs follows (a hunk
    #: line or a sentence of the mail it answers), see ``indexer.text.quotes``
    answers: tuple[str, ...] = ()
    #: a reply though its subject has no "Re:": it quotes the mail it answers
    #: (``indexer.text.quotes.reads_as_reply``); a "Re:" subject says so by itself
    reply_unmarked: bool = False


# --------------------------------------------------------------------------- subjects


@dataclass(frozen=True, slots=True)
class SubjectInfo:
    """What the bracketed markers of a subject say."""

    title: str  # markers, "Re:" and list tags stripped; subsystem tags kept
    is_reply: bool  # "Re:", "Fwd:", "AW:" ...
    is_patch: bool  # a PATCH / RFC / PULL marker was present
    version: int  # 1 when not given
    rfc: bool
    resend: bool
    index: int | None  # n of n/M
    total: int | None  # M of n/M
    tree: str | None  # kvm-unit-tests, kvmtool, qemu, net-next, ...
    kind: str  # "series", "pull" or "stable"
    tags: tuple[str, ...]  # subsystem tags: ("KVM", "arm64", "vgic")


# --------------------------------------------------------------------------- covers


@dataclass(frozen=True, slots=True)
class ChangelogEntry:
    """One per-version block of a cover letter's changelog."""

    #: the version this entry describes, e.g. "v3" for "v2 -> v3" or "Changes in v3"
    version: str
    text: str
    items: tuple[str, ...] = ()  # the bullets, one string each
    credits: tuple[str, ...] = ()  # reviewers credited like "(Marc)"


@dataclass(frozen=True, slots=True)
class CoverFields:
    """A cover letter (or a lone patch's commit message) split into fields."""

    motivation: str
    changelog: tuple[ChangelogEntry, ...] = ()
    shortlog: tuple[str, ...] = ()  # patch titles
    shortlog_authors: tuple[str, ...] = ()  # the "Name (N):" lines
    files: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    base_commit: str | None = None
    change_id: str | None = None
    #: referenced earlier versions (Message-IDs found in lore links etc.)
    prior_ids: tuple[str, ...] = ()


# --------------------------------------------------------------------------- series


@dataclass(frozen=True, slots=True)
class PatchInfo:
    """One patch mail of a series: the supporting 'commit messages' field."""

    message_id: str
    subject: str
    index: int | None
    commit_message: str  # body before the '---' line
    files: tuple[str, ...]
    #: content hash of the diff (see indexer.text.patchid), None when it has no diff
    patch_id: str | None = None
    patch_lines: int = 0


@dataclass(frozen=True, slots=True)
class LandingEvidence:
    """One reply that says a version (or some of its patches) was applied."""

    message_id: str  # the reply
    sentence: str  # the line that says so, as written
    by: str  # "Name <addr>" of the reply's sender
    date: datetime | None
    where: str = ""  # the tree or branch it names ("kvmarm/next", "powerpc topic/ppc-kvm")
    patches: tuple[int, ...] = ()  # patch numbers it applies; empty: the whole version
    commits: tuple[str, ...] = ()  # commit ids it lists (b4 "commit:" lines, git URLs)


#: landing status values: applied (every patch), partial (some), none (no reply says so)
LANDING_STATUSES = ("applied", "partial", "none")


@dataclass(frozen=True, slots=True)
class Landing:
    """What the archive says became of one series version."""

    status: str = "none"  # one of LANDING_STATUSES
    by: str = ""
    where: str = ""
    date: datetime | None = None
    commits: tuple[str, ...] = ()
    patches: tuple[int, ...] = ()  # the patch numbers applied (all of them when applied)
    evidence: tuple[LandingEvidence, ...] = ()

    def summary(self, n_patches: int | None = None) -> str:
        """One line: "applied to kvmarm/next by Marc Zyngier, 2021-06-22, 3/3 patches"."""
        if self.status == "none":
            return "no reply in the archive says it was applied"
        parts = [self.status + (f" to {self.where}" if self.where else "")]
        who = self.by.split("<", 1)[0].strip() or self.by
        if who:
            parts[0] += f" by {who}"
        if self.date is not None:
            parts.append(self.date.strftime("%Y-%m-%d"))
        total = n_patches or len(self.patches)
        if total and total > 1 or self.status == "partial":
            parts.append(f"{len(self.patches)}/{total or '?'} patches")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class LineageLink:
    """Why two postings are versions of one series (the earlier one, the reason)."""

    earlier: str  # root Message-ID of the earlier version
    later: str  # root Message-ID of the later version
    #: "change-id", "cover-links", "threaded", "same-pull-tag", "patch-id", "shortlog",
    #: "renamed", "same-title" (same address), "same-title-person" (same full name or
    #: in-body author under another address), "first-patch"
    reason: str
    #: "explicit" (the mail says so), "content" (same patches), "title" (same title
    #: and the same person)
    strength: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TrailerEntry:
    """One review trailer of a version, in the review ledger."""

    kind: str  # "reviewed-by", "acked-by", "tested-by", "reported-by", "suggested-by"
    who: str  # "Name <addr>" as written
    patch: int | None  # the patch number; None for the whole version (a cover reply)
    #: the reply that gave it (Message-ID), or "" when it is in the patch's own body
    source: str
    #: "given" (in a reply to this version), "in-patch" (in the body, first seen here),
    #: "carried" (in the body, given on an earlier version: see ``earlier``),
    #: "dropped" (given on the previous version, gone from this one's body)
    status: str
    #: where the carried or dropped trailer was given: "vN <Message-ID>" ("vN in-patch")
    earlier: str = ""
    #: for carried and dropped ones: did the patch change since (its patch id differs)
    changed: bool | None = None


@dataclass(frozen=True, slots=True)
class ChangeLink:
    """A changelog bullet of a version and the reply to the previous version that
    asked for it (see ``indexer.series.asked``)."""

    item: str  # the bullet, as written
    message_id: str  # the reply
    who: str  # "Name <addr>" of its sender
    how: str  # "credited" (the bullet names them) or "words" (the reply's words match)


@dataclass(frozen=True, slots=True)
class ReviewNote:
    """One reply in a version's thread: who answered which patch, when, the start of
    what they wrote, and the quoted lines they answered."""

    message_id: str
    patch: int | None  # the patch number it answers; None for the cover / whole set
    who: str  # "Name <addr>"
    date: datetime | None
    excerpt: str  # its first own words (attribution, greetings and trailers left out)
    answers: tuple[str, ...] = ()  # the quoted lines it answers, at most a few
    #: joined by its subject ("Re: [PATCH v2 3/5] ...") because its threading is broken
    by_subject: bool = False


@dataclass(frozen=True, slots=True)
class SeriesVersion:
    """One posting of a series: a cover with its patches, a coverless set, or one patch."""

    message_id: str  # the root: cover letter, else patch 1/N, else the patch itself
    family: str  # root Message-ID of the family's earliest version
    kind: str  # "series", "pull" or "stable"
    version: int
    rfc: bool
    resend: bool
    tree: str | None
    title: str
    subject: str  # the root's subject as sent
    tags: tuple[str, ...]
    author: str  # "Name <addr>"
    author_addr: str
    date: datetime | None
    lists: tuple[str, ...]
    has_cover: bool
    patch_ids: tuple[str, ...]  # patch mails only, in n order; not the cover
    n_patches: int | None  # M from the marker
    cover: CoverFields
    patches: tuple[PatchInfo, ...] = ()
    #: True when every patch 1..M of the marker is present
    complete: bool = True
    #: what the archive's replies say became of this version
    landing: Landing = Landing()
    #: the links that joined this version to earlier ones of its family
    lineage: tuple[LineageLink, ...] = ()
    #: the review ledger: trailers given, carried forward and dropped
    trailers: tuple[TrailerEntry, ...] = ()
    #: the replies in its thread, oldest first (see :class:`ReviewNote`)
    reviews: tuple[ReviewNote, ...] = ()
    #: its own changelog bullets linked to the review that asked for them
    asked: tuple[ChangeLink, ...] = ()
    #: root Message-ID of its series within the family: the versions joined by an
    #: explicit link or the same title (see indexer.series.families.SERIES_REASONS);
    #: one search hit each. "" for records made before it existed (then: the family)
    series: str = ""

    @property
    def all_files(self) -> tuple[str, ...]:
        """Every file the version touches: the cover's file list (its diffstat), then
        the files the patches' diffs touch that it lacks, first seen first. What file
        filters, path queries and answers use."""
        seen = dict.fromkeys(self.cover.files)
        for p in self.patches:
            seen.update(dict.fromkeys(f for f in p.files if f not in seen))
        return tuple(seen)

    @property
    def motivation(self) -> str:
        return self.cover.motivation


@dataclass(frozen=True, slots=True)
class Family:
    """All versions of one series."""

    family_id: str
    version_ids: tuple[str, ...]  # root ids, oldest first


@dataclass(frozen=True, slots=True)
class Skip:
    """A message that could not be used, and why."""

    where: str  # Message-ID when known, else "source @ position"
    reason: str  # a short category, e.g. "undecodable", "no-headers"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SourceFailure:
    """A registered source that could not be read this time, and why."""

    source: str
    error: str


@dataclass(slots=True)
class ParseReport:
    """Counts of one parse run; every message lands in exactly one bucket."""

    messages_read: int = 0
    duplicates: int = 0
    replies: int = 0
    #: non-reply messages that are neither a series root nor part of a series
    #: (discussion mail without a patch marker, orphan patches ...), by reason
    other: dict[str, int] = field(default_factory=dict)
    in_series: int = 0
    series_versions: int = 0
    families: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    skips: list[Skip] = field(default_factory=list)
    #: mails decoded with a problem worked around (a charset that is not one, a date
    #: that cannot be read, a body cut at the size limit): where, and what
    problems: list[Skip] = field(default_factory=list)
    #: archives that broke off part-way (the mails before the break were read)
    source_errors: list[SourceFailure] = field(default_factory=list)
    #: replies attached to the series version (and patch) they answer
    replies_attached: int = 0
    #: replies not attached, by reason: "thread outside the archive" (no message they
    #: name was read), "discussion" (they answer mail that is no series)
    replies_unattached: dict[str, int] = field(default_factory=dict)
    #: of the attached: those joined by their subject, their threading being broken
    replies_by_subject: int = 0

    def skip_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.skips:
            out[s.reason] = out.get(s.reason, 0) + 1
        return out


@dataclass(frozen=True, slots=True)
class ParseResult:
    versions: tuple[SeriesVersion, ...]
    families: tuple[Family, ...]
    report: ParseReport
    #: per version (Message-ID): its replies' own text, for the lexical ``review``
    #: field; not kept in the version record, which stays small
    review_text: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class VersionRef:
    """One version of a hit's family, as listed in an answer."""

    version: int
    rfc: bool
    resend: bool
    message_id: str
    date: datetime | None
    subject: str
    n_patches: int | None = None
    #: this version's landing status (see :class:`Landing`)
    landing: str = "none"


@dataclass(frozen=True, slots=True)
class PatchChange:
    """One patch across two versions (``kvmsearch diff``): ``status`` is "unchanged"
    (the same stable patch id), "changed" (matched by subject, another patch id),
    "new" (only in the later version) or "dropped" (only in the earlier one)."""

    status: str
    subject: str
    old_index: int | None = None
    new_index: int | None = None
    old_message_id: str = ""
    new_message_id: str = ""
    #: for "changed": the change between the two diffs, index lines and hunk offsets
    #: masked; None when a diff is not in the message store
    interdiff: str | None = None
    #: lines the interdiff adds and removes
    added: int = 0
    removed: int = 0


@dataclass(frozen=True, slots=True)
class MboxExport:
    """One series version written out as an mbox (`show --mbox`)."""

    message_id: str  # the version's root
    version: int
    mails: int  # cover and patches written
    data: bytes  # the mboxrd file
    #: what could not be written whole ("patch 3/5: no stored diff ..."), for a warning
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VersionDiff:
    """Two versions of a series compared patch by patch, the later one's order first."""

    title: str
    family: str
    old_version: int
    new_version: int
    old_message_id: str
    new_message_id: str
    patches: tuple[PatchChange, ...]
    #: False when the message store predates stored diffs (`kvmsearch rebuild` fixes it)
    diffs_stored: bool = True

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in ("unchanged", "changed", "new", "dropped")}
        for p in self.patches:
            out[p.status] += 1
        return out


@dataclass(frozen=True, slots=True)
class Hit:
    """One answer: a series family, with the evidence of why it matches."""

    family: str
    title: str
    score: float
    versions: tuple[VersionRef, ...]  # newest first
    author: str
    lists: tuple[str, ...]
    tree: str | None
    files: tuple[str, ...]  # files matching the query, else the top directories
    why: tuple[str, ...]  # 1-3 sentences of motivation (or commit messages) that match best
    changelog: tuple[ChangelogEntry, ...] = ()  # changelog entries the query matches
    #: matched query terms, for highlighting
    terms: tuple[str, ...] = ()
    #: component scores by name (numbers, and the query kind and best version as
    #: strings), filled when an explanation was asked for
    explain: JsonObject | None = None
    #: where the series landed: its best-landed version's landing (newest first on ties)
    landing: Landing = Landing()
    #: the root Message-ID of the version ``landing`` belongs to ("" when none landed)
    landing_version: str = ""
    #: that version's M of n/M (for "3/3 patches")
    landing_patches: int | None = None
    #: the series this hit stands for within ``family`` (its earliest root)
    series: str = ""
    #: postings in the whole family, this series' and those under other titles
    #: (more than ``len(versions)`` when the series was renamed or split off)
    family_versions: int = 0
    #: version numbers the query named; output always shows those versions
    asked_versions: tuple[int, ...] = ()
    #: people who gave Reviewed-by or Acked-by on any of the versions
    reviewers: int = 0
    #: for a question that names versions: each asked version against the one before,
    #: patch by patch ("v2 -> v3: 4 patches: 2 unchanged, 1 changed, 1 new; 0 dropped")
    version_diffs: tuple[str, ...] = ()
    #: for such a question: the replies that asked for the asked versions' changes
    asked_by: tuple[ChangeLink, ...] = ()


# --------------------------------------------------------------------------- index


@dataclass
class BuildOutcome:
    """What one build or update did (filled in as the build goes)."""

    generation: str | None  # None when there was nothing new
    #: messages read: those new since the last run, or with ``rebuilt`` every one
    new_messages: int = 0
    #: a rebuild: every source was read from the start into a new message store
    rebuilt: bool = False
    versions: int = 0
    families: int = 0
    versions_changed: int = 0
    versions_deleted: int = 0
    chunks: int = 0
    chunks_embedded: int = 0
    tokens_embedded: int = 0
    source_errors: list[SourceFailure] = field(default_factory=list)
    #: seconds per build stage (read, store, assemble, docs, lexical, chunk, embed, onnx)
    timings: dict[str, float] = field(default_factory=dict)
    #: the generation's counts as the manifest records them (messages, series_versions,
    #: families, chunks, kinds: {kind: n}, skipped)
    counts: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VerifyProblem:
    """One damaged or missing part, and the command that repairs it."""

    part: str  # "generation", "query model", "model package", "message store", ...
    path: str
    what: str  # "missing", "size 12 != 34", "checksum differs", "integrity: ..."
    repair: str


@dataclass(frozen=True, slots=True)
class SourceStatus:
    path: str
    kind: str
    #: how far it was read; kind-specific JSON (see models.records.SourcePosition)
    position: JsonObject
    exists: bool


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """What `kvmsearch status` reports."""

    home: str
    generation: str
    built_at: str | None
    build_seconds: float
    kvmsearch_version: str
    format_version: int
    # The manifest's JSON objects as written (their shapes are the manifest's, see
    # indexer.index.generations.Manifest): passed through, not interpreted here.
    model: JsonObject | None
    onnx: JsonObject | None
    counts: JsonObject
    sources: tuple[SourceStatus, ...]
    generations: tuple[str, ...]
    size_bytes: int
    extra: JsonObject = field(default_factory=dict)
    #: generation files missing or of another size than built (a stat each; the
    #: checksums are `kvmsearch status --verify`'s)
    damaged: tuple[VerifyProblem, ...] = ()


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What `kvmsearch status --verify` checked."""

    generation: str
    files_checked: int
    bytes_checked: int
    seconds: float
    problems: tuple[VerifyProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems
