"""Series assembly: which mails form which posting (series version).

Roots are cover letters (``0/M``), patch ``1/M`` of a coverless set, and standalone
patches; a pull request and a bare thread-starting mail whose author threads numbered
patches under it act as covers. Numbered patches join a root through
In-Reply-To/References (shallow or deep threading), else through a fallback for broken
threading: same sender, same markers, posted within a few hours of the root. Patches
whose root never reached the list (AUTOSEL and stable-review sets, partial cross-posts)
group by the missing id they reply to. Families (all versions of one series) are built
in :mod:`.families`.

The rules follow what patchwork's series tests expect (``peer-mail/series``): a new
version threaded to the old one is its own version; a numbered patch never joins a
series that already has its number or carries another version; an unnumbered mail with
a diff that is not a reply is a standalone patch even inside another thread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from kvmsearch.indexer.series.asked import link_changes
from kvmsearch.indexer.series.changelog import own_entries
from kvmsearch.indexer.series.cover import parse_cover, parse_patch_notes
from kvmsearch.indexer.series.families import build_families, earlier_version_ids, pull_tag
from kvmsearch.indexer.series.landing import ReplyTo, landing_of
from kvmsearch.indexer.series.review import (
    given_trailers,
    ledger,
    patch_postings,
    review_notes,
    review_text,
)
from kvmsearch.indexer.text.diffs import commit_message
from kvmsearch.indexer.text.subjects import normalise_title, parse_subject
from kvmsearch.models.records import (
    CoverFields,
    Family,
    Message,
    ParseReport,
    ParseResult,
    PatchInfo,
    SeriesVersion,
    Skip,
    SubjectInfo,
)

__all__ = ["assemble", "FALLBACK_WINDOW", "NO_PATCH_MARKER", "STABLE_NOTICE"]

#: how far after its root a patch with broken threading may arrive and still join it
FALLBACK_WINDOW = timedelta(hours=6)
#: a root may carry a later Date than its patches (clock skew, slow cover writing)
_SKEW = timedelta(minutes=10)
#: how close a cover and a patch replying to it are when one command sent both
_SAME_SENDING = timedelta(minutes=30)
#: report.other reason for non-reply mail that is neither a patch nor a cover
NO_PATCH_MARKER = "no-patch-marker"
#: report.other reason for stable-tree notices ('Patch "x" has been added to ...')
STABLE_NOTICE = "stable-notice"


@dataclass(eq=False, slots=True)
class _Mail:
    msg: Message
    info: SubjectInfo
    t: float  # POSIX time, +inf when undated
    order: int
    group: _Group | None = None
    state: int = 0  # numbered patches: 0 new, 1 on the placing stack, 2 placed


@dataclass(eq=False, slots=True)
class _Group:
    """One series version while it is being assembled."""

    anchor: _Mail  # the mail that opened it: cover, standalone patch or first patch seen
    version: int
    total: int | None
    cover: _Mail | None = None
    patches: dict[int, _Mail] = field(default_factory=dict)  # n -> patch
    standalone: bool = False

    def root(self) -> _Mail:
        if self.cover is not None:
            return self.cover
        if self.standalone or not self.patches:
            return self.anchor
        return self.patches[min(self.patches)]

    def add(self, mail: _Mail) -> None:
        assert mail.info.index is not None
        if mail.info.total is not None and (self.total is None or not self.patches):
            # a cover whose count disagrees with the patches sent with it counts what
            # was sent (see _Assembler._fits)
            self.total = mail.info.total
        self.patches[mail.info.index] = mail
        mail.group = self


def _time(msg: Message) -> float:
    return msg.date.timestamp() if msg.date is not None else math.inf


def _ancestors(msg: Message) -> list[str]:
    """Message-IDs this mail answers, nearest first."""
    out: list[str] = []
    if msg.in_reply_to:
        out.append(msg.in_reply_to)
    for ref in reversed(msg.references):
        if ref not in out and ref != msg.message_id:
            out.append(ref)
    return out


def _thread_parent(msg: Message) -> str | None:
    """The id a mail was sent in reply to (thread top first), for grouping orphans."""
    if msg.references:
        return msg.references[0]
    return msg.in_reply_to


def _strict_key(mail: _Mail) -> tuple:
    i = mail.info
    return (mail.msg.from_addr, i.version, i.total, i.rfc, i.tree, i.kind)


class _Assembler:
    def __init__(self, messages: Iterable[Message]) -> None:
        subject_cache: dict[str, SubjectInfo] = {}
        self.mails: list[_Mail] = []
        for n, msg in enumerate(messages):
            info = subject_cache.get(msg.subject)
            if info is None:
                info = subject_cache[msg.subject] = parse_subject(msg.subject)
            if msg.reply_unmarked:
                # quotes what it answers: a reply, whatever its subject says
                info = replace(info, is_reply=True)
            self.mails.append(_Mail(msg, info, _time(msg), n))
        self.by_id = {m.msg.message_id: m for m in self.mails}
        # cover id -> the numbered patches its sender sent with it in answer to it, for
        # covers whose count was not edited (see _fits)
        self.sent_with_cover: dict[str, list[_Mail]] = {}
        for m in self.mails:
            parent = self.by_id.get(m.msg.in_reply_to or "")
            if (
                parent is not None
                and m.info.index not in (None, 0)
                and not m.info.is_reply
                and parent.info.index == 0
                and parent.msg.from_addr == m.msg.from_addr
                and abs(m.t - parent.t) <= _SAME_SENDING.total_seconds()
            ):
                self.sent_with_cover.setdefault(parent.msg.message_id, []).append(m)
        self.groups: list[_Group] = []
        # strict marker key -> groups opened by a cover or a first patch, for the fallback
        self.roots_by_key: dict[tuple, list[_Group]] = {}
        # (missing thread parent, sender, version, total, kind) -> group, for orphans
        self.orphans: dict[tuple, _Group] = {}
        self.replies = 0
        self.other: dict[str, int] = {}
        self.attached = 0
        self.by_subject = 0
        self.unattached: dict[str, int] = {}

    # ------------------------------------------------------------------ passes

    def run(self) -> list[_Group]:
        numbered: list[_Mail] = []
        unmarked: list[_Mail] = []
        for mail in sorted(self.mails, key=lambda m: (m.t, m.order)):
            info = mail.info
            if info.is_reply:
                self.replies += 1
            elif info.index == 0 and info.total is not None:
                self._open(mail, cover=True)
            elif info.index is not None:
                numbered.append(mail)
            elif info.kind == "stable" and not info.is_patch:
                self._count(STABLE_NOTICE)
            elif info.kind == "pull":
                # A pull request is the cover of the patches its sender threads under
                # it ("[GIT PULL] KVM/arm64 fixes" followed by "[PATCH 1/5] ...").
                self._open(mail, cover=True)
            elif info.is_patch or mail.msg.has_diff:
                # A non-reply with a diff and no n/M is a patch of its own, even when
                # threaded under another series (patchwork's "unnumbered" case).
                self._open(mail, standalone=True)
            else:
                unmarked.append(mail)
        self._resolve_all(numbered)
        for mail in numbered:
            if mail.group is None:
                self._place_orphan(mail)
        for mail in unmarked:
            if mail.group is None:
                self._count(NO_PATCH_MARKER)
        return self.groups

    def _count(self, reason: str) -> None:
        self.other[reason] = self.other.get(reason, 0) + 1

    def _open(self, mail: _Mail, *, cover: bool = False, standalone: bool = False) -> _Group:
        info = mail.info
        g = _Group(anchor=mail, version=info.version, total=info.total, standalone=standalone)
        mail.group = g
        if cover:
            g.cover = mail
        elif not standalone:
            g.add(mail)
        self.groups.append(g)
        if not standalone:
            self.roots_by_key.setdefault(_strict_key(mail), []).append(g)
            parent = _thread_parent(mail.msg)
            if parent is not None and parent not in self.by_id:
                self.orphans.setdefault(self._orphan_key(mail, parent), g)
        return g

    def _resolve_all(self, numbered: list[_Mail]) -> None:
        """Place numbered patches by threading, each after the unplaced numbered patches
        it replies to (a deep-threaded chain dated backwards comes out the same). An
        explicit stack rather than recursion: chains can be thousands long."""
        for first in numbered:
            stack = [first]
            while stack:
                mail = stack[-1]
                if mail.state == 2:
                    stack.pop()
                    continue
                mail.state = 1  # on the stack
                pending = self._unplaced_ancestor(mail)
                if pending is not None:
                    stack.append(pending)
                    continue
                self._place_threaded(mail)
                mail.state = 2
                stack.pop()

    def _unplaced_ancestor(self, mail: _Mail) -> _Mail | None:
        for aid in _ancestors(mail.msg):
            anc = self.by_id.get(aid)
            if (
                anc is not None
                and anc.state == 0
                and anc.group is None
                and anc.info.index not in (None, 0)
                and not anc.info.is_reply
            ):
                return anc
        return None

    def _place_threaded(self, mail: _Mail) -> None:
        """Join the nearest series up the thread that this patch fits; a patch 1 that
        fits none opens a series (joining a cover by the fallback first)."""
        for aid in _ancestors(mail.msg):
            anc = self.by_id.get(aid)
            if anc is None or anc is mail:
                continue
            g = anc.group
            if g is None and self._adoptable(anc, mail):
                g = self._adopt(anc, mail)
            if g is not None and self._fits(g, mail):
                g.add(mail)
                return
        if mail.info.index == 1:
            g = self._fallback(mail, covers_only=True)
            if g is not None:
                g.add(mail)
            else:
                self._open(mail)

    def _place_orphan(self, mail: _Mail) -> None:
        """A numbered patch whose threading leads to no series it fits."""
        parent = _thread_parent(mail.msg)
        if parent is not None and parent not in self.by_id:
            g = self.orphans.get(self._orphan_key(mail, parent))
            if g is not None and mail.info.index not in g.patches:
                g.add(mail)
                return
        g = self._fallback(mail, covers_only=False)
        if g is not None:
            g.add(mail)
            return
        self._open(mail)

    # ------------------------------------------------------------------ rules

    @staticmethod
    def _orphan_key(mail: _Mail, parent: str) -> tuple:
        i = mail.info
        return (parent, mail.msg.from_addr, i.version, i.total, i.kind)

    def _fits(self, g: _Group, mail: _Mail) -> bool:
        """Can a patch threaded under ``g`` belong to it?"""
        if g.standalone:
            return False
        info = mail.info
        total = g.total
        if total is None and g.cover is not None and not g.patches:
            # a pull request's patch count comes from its first patch
            if g.cover.msg.from_addr != mail.msg.from_addr:
                return False
            total = info.total
        if info.index in g.patches:
            return False
        if info.total != total:
            # A cover whose count was not edited ("[PATCH 00/18]" sent with "[PATCH v3
            # 01/19]" ...): when every patch its sender sent with it carries one other
            # count, they are its patches (add() takes their count).
            sent = self.sent_with_cover.get(g.cover.msg.message_id, []) if g.cover else []
            return mail in sent and {m.info.total for m in sent} == {info.total}
        # An unlabelled patch under a labelled cover is that cover's patch (git
        # format-patch --cover-letter -v3 with hand-edited subjects); another label is
        # another version sent in reply to this one ...
        if info.version == g.version or info.version == 1:
            return True
        # ... unless it answers the cover itself, sent with it: the cover's label was
        # not bumped ("[PATCH v3 0/1]" over "[PATCH v4 1/1]").
        return _sent_with_cover(g, mail)

    def _fallback(self, mail: _Mail, *, covers_only: bool) -> _Group | None:
        """Broken threading: the latest root from the same sender with the same markers,
        opened at most FALLBACK_WINDOW before the patch, that lacks this patch's n."""
        if mail.t == math.inf:
            return None
        best: _Group | None = None
        for g in self.roots_by_key.get(_strict_key(mail), ()):
            if g is mail.group or (covers_only and g.cover is None):
                continue
            t = g.anchor.t
            if t > mail.t + _SKEW.total_seconds() or t < mail.t - FALLBACK_WINDOW.total_seconds():
                continue
            if mail.info.index in g.patches:
                continue
            if best is None or t >= best.anchor.t:
                best = g
        return best

    @staticmethod
    def _adoptable(anc: _Mail, mail: _Mail) -> bool:
        """A thread-starting mail without markers, from the patch's author, whose
        patches reply to it, is that series' cover (some people send covers bare)."""
        return (
            anc.group is None
            and anc.info.index is None
            and anc.info.kind == "series"
            and not anc.info.is_reply
            and not anc.info.is_patch
            and not anc.msg.has_diff
            and anc.msg.from_addr == mail.msg.from_addr
            and not anc.msg.in_reply_to
            and not anc.msg.references
        )

    def _adopt(self, anc: _Mail, mail: _Mail) -> _Group:
        g = _Group(anchor=anc, version=mail.info.version, total=mail.info.total, cover=anc)
        anc.group = g
        self.groups.append(g)
        return g


def _sent_with_cover(g: _Group, mail: _Mail) -> bool:
    """Whether ``mail`` answers ``g``'s cover itself and was sent with it."""
    cover = g.cover
    return (
        cover is not None
        and mail.msg.in_reply_to == cover.msg.message_id
        and abs(mail.t - cover.t) <= _SAME_SENDING.total_seconds()
    )


# ---------------------------------------------------------------------- records


def _author(msg: Message) -> str:
    if msg.from_name and msg.from_addr:
        return f"{msg.from_name} <{msg.from_addr}>"
    return msg.from_name or msg.from_addr


def _patch_files(patches: Sequence[_Mail]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for p in patches:
        for f in p.msg.diff_files:
            out.setdefault(f)
    return tuple(out)


def _order_like(files: tuple[str, ...], stat: tuple[str, ...]) -> tuple[str, ...]:
    """``files`` in the cover diffstat's order where it lists them, the rest after."""
    if not stat:
        return files
    wanted = set(files)
    head = [f for f in dict.fromkeys(stat) if f in wanted]
    seen = set(head)
    return tuple(head + [f for f in files if f not in seen])


def _fields(g: _Group, root: _Mail, patches: Sequence[_Mail]) -> CoverFields:
    pfiles = _patch_files(patches)
    if g.cover is not None:
        titles = [p.info.title for p in patches]
        fields = parse_cover(root.msg.body, patch_files=pfiles, patch_titles=titles)
        if not fields.shortlog and titles:
            fields = replace(fields, shortlog=tuple(titles))
    else:
        fields = parse_patch_notes(root.msg.body, diff_files=root.msg.diff_files)
    # The diffs are the truth about which files a series touches; a diffstat can be
    # truncated ("arch/arm64/.../foo.c") or belong to an older version.
    if pfiles:
        files = _order_like(pfiles, fields.files)
        if files != fields.files:
            fields = replace(fields, files=files)
    return fields


def _version_record(g: _Group) -> SeriesVersion:
    root = g.root()
    patches = [g.patches[n] for n in sorted(g.patches)]
    if g.standalone:
        patches = [g.anchor]
    info = root.info
    members = ([g.cover] if g.cover is not None else []) + patches
    lists: dict[str, None] = {}
    for m in members:
        for name in m.msg.lists:
            lists.setdefault(name)
    tree = info.tree or next((p.info.tree for p in patches if p.info.tree), None)
    total = g.total
    complete = True
    if total:
        complete = all(n in g.patches for n in range(1, total + 1))
    return SeriesVersion(
        message_id=root.msg.message_id,
        family=root.msg.message_id,  # set by build_families
        kind=info.kind,
        # the patches' label wins over a cover whose label was not bumped
        version=max([g.version, *(p.info.version for p in patches)]),
        rfc=info.rfc,
        resend=info.resend,
        tree=tree,
        # a cover sent as bare "[PATCH 0/5]" is named by its first titled patch, as
        # a reader of the thread would name it
        title=info.title.strip() or next((t for p in patches if (t := p.info.title.strip())), ""),
        subject=root.msg.subject,
        tags=info.tags,
        author=_author(root.msg),
        author_addr=root.msg.from_addr,
        date=root.msg.date,
        lists=tuple(lists),
        has_cover=g.cover is not None,
        patch_ids=tuple(p.msg.message_id for p in patches),
        n_patches=total,
        cover=_fields(g, root, patches),
        patches=tuple(
            PatchInfo(
                message_id=p.msg.message_id,
                subject=p.msg.subject,
                index=p.info.index,
                commit_message=commit_message(p.msg.body)[0],
                files=p.msg.diff_files,
                patch_id=p.msg.patch_id,
                patch_lines=p.msg.patch_lines,
            )
            for p in patches
        ),
        complete=complete,
    )


#: how long after a patch a reply with broken threading may come and still be joined
#: to it by its subject (review usually comes within days; a late "Applied" too)
REPLY_BY_SUBJECT_WINDOW = timedelta(days=60)

#: (normalised title, version, n of n/M) -> (sent, group index, patch n) of every
#: series mail with that subject, for joining replies by subject
_BySubject = dict[tuple[str, int, int | None], list[tuple[float, int, int | None]]]


def _replies_by_group(asm: _Assembler, groups: Sequence[_Group]) -> list[list[ReplyTo]]:
    """The replies in each version's thread, each with the mail it answers (the
    nearest ancestor that belongs to a version: a v2 threaded under v1 keeps its own
    replies). A reply whose In-Reply-To/References name nothing that was read, or
    nothing at all, is joined by its subject instead: ``Re: [PATCH v2 3/5] title``
    answers patch 3 of the v2 of that title sent shortly before it."""
    owner: dict[str, tuple[int, int | None]] = {}
    by_subject: _BySubject = {}
    for gi, g in enumerate(groups):
        if g.cover is not None:
            owner[g.cover.msg.message_id] = (gi, None)
        if g.standalone:
            owner[g.anchor.msg.message_id] = (gi, None)
        for n, m in g.patches.items():
            owner[m.msg.message_id] = (gi, n)
        if g.cover is None and g.patches:
            # a coverless set is answered as a whole under its patch 1
            owner[g.patches[min(g.patches)].msg.message_id] = (gi, None)
        members: list[_Mail | None] = [g.cover, g.anchor if g.standalone else None]
        for mm in (*members, *g.patches.values()):
            if mm is not None:
                key = (normalise_title(mm.info.title), mm.info.version, mm.info.index)
                by_subject.setdefault(key, []).append((mm.t, gi, owner[mm.msg.message_id][1]))
    out: list[list[ReplyTo]] = [[] for _ in groups]
    for mail in asm.mails:
        if mail.group is not None:
            continue
        threaded = bool(mail.msg.in_reply_to or mail.msg.references)
        if not threaded and not mail.info.is_reply:
            continue
        ancestors = _ancestors(mail.msg)
        hit = next((owner[mid] for mid in ancestors if mid in owner), None)
        if hit is not None:
            out[hit[0]].append(ReplyTo(mail.msg, hit[1]))
            asm.attached += 1
            continue
        read = any(mid in asm.by_id for mid in ancestors)
        joined = None if read else _by_subject(mail, by_subject)
        if joined is not None:
            out[joined[0]].append(ReplyTo(mail.msg, joined[1], by_subject=True))
            asm.attached += 1
            asm.by_subject += 1
        elif threaded:
            why = "discussion" if read else "thread outside the archive"
            asm.unattached[why] = asm.unattached.get(why, 0) + 1
    return out


def _by_subject(mail: _Mail, by_subject: _BySubject) -> tuple[int, int | None] | None:
    """The version (and patch) a reply with broken threading answers, by the markers
    and title of its ``Re:`` subject: the latest such mail sent before it, within
    :data:`REPLY_BY_SUBJECT_WINDOW`."""
    info = mail.info
    if not (info.is_reply and info.is_patch) or math.isinf(mail.t):
        return None
    window = REPLY_BY_SUBJECT_WINDOW.total_seconds()
    best: tuple[float, int, int | None] | None = None
    for t, gi, n in by_subject.get((normalise_title(info.title), info.version, info.index), ()):
        if t <= mail.t + _SKEW.total_seconds() and mail.t - t <= window:
            if best is None or t > best[0]:
                best = (t, gi, n)
    return None if best is None else (best[1], best[2])


def _with_ledgers(versions: list[SeriesVersion], families: Sequence[Family]) -> list[SeriesVersion]:
    """Each version's review ledger, worked out along its family, oldest first."""
    index = {v.message_id: i for i, v in enumerate(versions)}
    out = list(versions)
    elsewhere = patch_postings(versions)
    for fam in families:
        members = [versions[index[mid]] for mid in fam.version_ids]
        for v, entries in zip(members, ledger(members, elsewhere), strict=True):
            out[index[v.message_id]] = replace(v, trailers=entries)
    return out


def _with_asked(
    versions: list[SeriesVersion],
    families: Sequence[Family],
    replies: dict[str, list[ReplyTo]],
) -> list[SeriesVersion]:
    """Each version's own changelog bullets linked to the replies to the version of
    its series before it that asked for them (see ``indexer.series.asked``)."""
    index = {v.message_id: i for i, v in enumerate(versions)}
    out = list(versions)
    for fam in families:
        last: dict[str, SeriesVersion] = {}
        for mid in fam.version_ids:
            v = versions[index[mid]]
            prev = last.get(v.series or v.family)
            last[v.series or v.family] = v
            if prev is None or not v.cover.changelog or not replies.get(prev.message_id):
                continue
            own = own_entries(v.cover.changelog, prev.cover.changelog)
            links = link_changes(own, replies[prev.message_id], v.author_addr)
            if links:
                out[index[mid]] = replace(v, asked=links)
    return out


def assemble(messages: Iterable[Message], skips: Sequence[Skip] = ()) -> ParseResult:
    """Group deduplicated messages into series versions and families.

    Every message lands in exactly one bucket of the report: a series version (as its
    root or one of its patches), ``replies``, ``other[reason]``; ``skips`` are passed
    through. ``messages_read`` counts messages plus skips (the caller adds duplicates).
    """
    asm = _Assembler(messages)
    groups = asm.run()
    versions = [_version_record(g) for g in groups]
    replies = _replies_by_group(asm, groups)
    versions = [
        replace(
            v,
            landing=landing_of(
                replies[i], version=v.version, n_patches=v.n_patches, standalone=g.standalone
            )
            if replies[i]
            else v.landing,
            trailers=tuple(given_trailers(v, replies[i])),
            reviews=review_notes(replies[i]),
        )
        for i, (g, v) in enumerate(zip(groups, versions, strict=True))
    ]
    # what each version's reviewers wrote, for the lexical review field (not kept in
    # the record: it stays small)
    texts = {v.message_id: review_text(replies[i], v.author_addr) for i, v in enumerate(versions)}
    threads = [tuple(_ancestors(g.root().msg)) for g in groups]
    priors = [
        earlier_version_ids(g.root().msg.body, v.cover.prior_ids) if v.cover.prior_ids else ()
        for g, v in zip(groups, versions, strict=True)
    ]
    tags = [
        pull_tag(g.root().msg.body) if v.kind == "pull" else None
        for g, v in zip(groups, versions, strict=True)
    ]
    versions, families = build_families(versions, threads, priors, tags)
    versions = _with_ledgers(versions, families)
    by_root = {g.root().msg.message_id: r for g, r in zip(groups, replies, strict=True)}
    versions = _with_asked(versions, families, by_root)

    report = ParseReport()
    report.messages_read = len(asm.mails) + len(skips)
    report.replies = asm.replies
    report.replies_attached = asm.attached
    report.replies_unattached = dict(asm.unattached)
    report.replies_by_subject = asm.by_subject
    report.other = dict(asm.other)
    report.in_series = sum(
        (1 if g.cover is not None else 0) + (1 if g.standalone else len(g.patches)) for g in groups
    )
    report.series_versions = len(versions)
    report.families = len(families)
    for v in versions:
        report.kinds[v.kind] = report.kinds.get(v.kind, 0) + 1
    report.skips = list(skips)
    report.problems = [
        Skip(
            where=m.msg.message_id,
            reason="decoded with a problem",
            detail="; ".join(m.msg.warnings),
        )
        for m in asm.mails
        if m.msg.warnings
    ]
    return ParseResult(
        versions=tuple(versions),
        families=tuple(families),
        report=report,
        review_text={k: t for k, t in texts.items() if t},
    )
