"""The review ledger: who reviewed, acked, tested or is credited on each patch, where
they said so, and what became of it in the next version.

Trailers come from two places: the patch's own body (the author collected them) and
the replies in the version's thread (what the reviewer wrote; quotes are gone, see
``indexer.text.quotes``). Across the versions of a family, oldest first, a trailer in a
patch body is *carried* when the same person gave the same kind on an earlier version
of that patch (matched by patch id, else by patch title), else it first appears *in
the patch*; one given on the previous version and missing from this version's body is
*dropped*, with whether the patch changed in between (its patch id differs).

Patches also move between series (a fix picked into a larger series, a series split or
taken over by someone else under a new title). A trailer not found along the family is
looked for on the same patch (the same patch id) posted earlier in another series.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from kvmsearch.indexer.series.landing import ReplyTo
from kvmsearch.indexer.text.people import person_key
from kvmsearch.indexer.text.quotes import review_excerpt
from kvmsearch.indexer.text.subjects import normalise_title, parse_subject
from kvmsearch.indexer.text.trailers import review_trailers
from kvmsearch.models.records import PatchInfo, ReviewNote, SeriesVersion, TrailerEntry

__all__ = [
    "MAX_REVIEW_TEXT",
    "PatchPostings",
    "given_trailers",
    "ledger",
    "patch_postings",
    "person_of",
    "review_notes",
    "review_text",
]

#: patch id -> every (version, patch) that posted it, for trailers carried across series
PatchPostings = Mapping[str, Sequence[tuple[SeriesVersion, PatchInfo]]]

#: kinds whose disappearance means something (a credit is not withdrawn by omission)
_DROPPABLE = ("reviewed-by", "acked-by", "tested-by")
_ADDR = re.compile(r"<([^<>\s]+)>")


def person_of(who: str) -> str:
    """The key two trailers' people are compared by (the name, else the address)."""
    m = _ADDR.search(who)
    name = who[: m.start()] if m else who
    return person_key(name) or (m.group(1).lower() if m else who.strip().lower())


def _number(p: PatchInfo) -> int:
    return p.index or 1


def given_trailers(v: SeriesVersion, replies: Sequence[ReplyTo]) -> list[TrailerEntry]:
    """The trailers of one version: in its patches' bodies, and given in its replies."""
    out: list[TrailerEntry] = []
    for p in v.patches:
        for kind, who in review_trailers(p.commit_message):
            out.append(TrailerEntry(kind, who, _number(p), "", "in-patch"))
    for r in replies:
        for kind, who in review_trailers(r.msg.body):
            out.append(TrailerEntry(kind, who, r.index, r.msg.message_id, "given"))
    return out


def review_notes(replies: Sequence[ReplyTo]) -> tuple[ReviewNote, ...]:
    """The version's replies as the review record keeps them, oldest first."""
    notes = [
        ReviewNote(
            r.msg.message_id,
            r.index,
            f"{r.msg.from_name} <{r.msg.from_addr}>" if r.msg.from_name else r.msg.from_addr,
            r.msg.date,
            review_excerpt(r.msg.body),
            r.msg.answers,
            r.by_subject,
        )
        for r in replies
    ]
    notes.sort(key=lambda n: (n.date is None, n.date.timestamp() if n.date else 0.0))
    return tuple(notes)


#: a version's review text for the lexical index is cut here: the first reviews say
#: what reviewers asked; a long thread must not outweigh the cover letter's account
MAX_REVIEW_TEXT = 4 * 1024


def review_text(replies: Sequence[ReplyTo], author_addr: str) -> str:
    """What the reviewers wrote, oldest first, for the ``review`` field: the author's
    own answers left out (they restate the series), and trailers, attribution lines
    and greetings with them."""
    parts: list[str] = []
    size = 0
    for r in sorted(replies, key=lambda r: r.msg.date.timestamp() if r.msg.date else 0.0):
        if r.msg.from_addr == author_addr:
            continue
        text = review_excerpt(r.msg.body, limit=MAX_REVIEW_TEXT)
        if text:
            parts.append(text)
            size += len(text)
            if size >= MAX_REVIEW_TEXT:
                break
    return "\n\n".join(parts)[:MAX_REVIEW_TEXT]


def _patch_key(p: PatchInfo) -> str:
    return normalise_title(parse_subject(p.subject).title)


def _matching(p: PatchInfo, w: SeriesVersion) -> PatchInfo | None:
    """The patch of ``w`` that ``p`` is a later version of."""
    if p.patch_id:
        for q in w.patches:
            if q.patch_id == p.patch_id:
                return q
    key = _patch_key(p)
    same = next((q for q in w.patches if _patch_key(q) == key), None)
    if same is not None:
        return same
    # a retitled patch ("Fix X" -> "Fix X for Y"): the one with most title words shared
    words = set(key.split())
    best, score = None, 0.5
    for q in w.patches:
        other = set(_patch_key(q).split())
        if words and other:
            j = len(words & other) / len(words | other)
            if j >= score:
                best, score = q, j
    return best


def _on(entries: Sequence[TrailerEntry], patch: int | None) -> list[TrailerEntry]:
    """Entries that apply to ``patch``: given on it, or on the whole version."""
    return [e for e in entries if e.patch is None or e.patch == patch]


def patch_postings(
    versions: Sequence[SeriesVersion],
) -> dict[str, list[tuple[SeriesVersion, PatchInfo]]]:
    """Where each patch id was posted, for :func:`ledger`'s look into other series."""
    out: dict[str, list[tuple[SeriesVersion, PatchInfo]]] = {}
    for v in versions:
        for p in v.patches:
            if p.patch_id:
                out.setdefault(p.patch_id, []).append((v, p))
    return out


def ledger(
    family: Sequence[SeriesVersion], elsewhere: PatchPostings | None = None
) -> list[tuple[TrailerEntry, ...]]:
    """Each version's ledger (same order as ``family``, which is oldest first), from the
    entries :func:`given_trailers` put on each version; ``elsewhere`` (from
    :func:`patch_postings`) lets a trailer be traced to the same patch in another series."""
    out: list[tuple[TrailerEntry, ...]] = []
    fam_ids = {v.message_id for v in family}
    for k, v in enumerate(family):
        own = [e for e in v.trailers if e.status in ("in-patch", "given")]
        earlier = family[:k]
        entries: list[TrailerEntry] = []
        for e in own:
            if e.status != "in-patch":
                entries.append(e)
                continue
            p = next((q for q in v.patches if _number(q) == e.patch), None)
            found = _given_before(e, p, earlier) if p is not None and earlier else None
            if found is None and p is not None and elsewhere:
                found = _given_elsewhere(e, p, v, elsewhere, fam_ids)
            if found is None:
                entries.append(e)
            else:
                where, changed = found
                entries.append(TrailerEntry(e.kind, e.who, e.patch, "", "carried", where, changed))
        if k:
            entries.extend(_dropped(v, family[k - 1], own))
        out.append(tuple(entries))
    return out


def _given_elsewhere(
    e: TrailerEntry,
    p: PatchInfo,
    v: SeriesVersion,
    elsewhere: PatchPostings,
    fam_ids: set[str],
) -> tuple[str, bool | None] | None:
    """The same person's same trailer on this very patch (same patch id), posted before
    ``v`` in another series: the latest such posting."""
    if not p.patch_id or v.date is None:
        return None
    who = person_of(e.who)
    best: tuple[SeriesVersion, TrailerEntry] | None = None
    for w, q in elsewhere.get(p.patch_id, ()):
        if w.message_id in fam_ids or w.date is None or w.date >= v.date:
            continue
        if best is not None and best[0].date is not None and w.date <= best[0].date:
            continue
        hits = [
            x
            for x in _on([x for x in w.trailers if x.status in ("in-patch", "given")], _number(q))
            if x.kind == e.kind and person_of(x.who) == who
        ]
        if hits:
            best = (w, next((x for x in hits if x.source), hits[0]))
    if best is None:
        return None
    w, x = best
    return f"v{w.version} {x.source or 'in-patch'}, in another series <{w.message_id}>", False


def _given_before(
    e: TrailerEntry, p: PatchInfo, earlier: Sequence[SeriesVersion]
) -> tuple[str, bool | None] | None:
    """Where the same person gave the same kind on an earlier version of patch ``p``
    (the latest such version; a reply beats the earlier body), and whether the patch
    changed since."""
    who = person_of(e.who)
    for w in reversed(earlier):
        q = _matching(p, w)
        if q is None:
            continue
        hits = [
            x
            for x in _on([x for x in w.trailers if x.status in ("in-patch", "given")], _number(q))
            if x.kind == e.kind and person_of(x.who) == who
        ]
        if hits:
            best = next((x for x in hits if x.source), hits[0])
            changed = None if not (p.patch_id and q.patch_id) else p.patch_id != q.patch_id
            return f"v{w.version} {best.source or 'in-patch'}", changed
    return None


def _dropped(
    v: SeriesVersion, prev: SeriesVersion, own: Sequence[TrailerEntry]
) -> list[TrailerEntry]:
    """Trailers given on ``prev`` that ``v``'s patch bodies no longer carry."""
    out: list[TrailerEntry] = []
    have = {(e.kind, person_of(e.who), e.patch) for e in own if e.status == "in-patch"}
    given_prev = [x for x in prev.trailers if x.status in ("in-patch", "given")]
    seen: set[tuple[str, str, int]] = set()
    for p in v.patches:
        q = _matching(p, prev)
        if q is None:
            continue
        for x in _on(given_prev, _number(q)):
            key = (x.kind, person_of(x.who), _number(p))
            if x.kind not in _DROPPABLE or key in have or key in seen:
                continue
            seen.add(key)
            changed = None if not (p.patch_id and q.patch_id) else p.patch_id != q.patch_id
            out.append(
                TrailerEntry(
                    x.kind,
                    x.who,
                    _number(p),
                    "",
                    "dropped",
                    f"v{prev.version} {x.source or 'in-patch'}",
                    changed,
                )
            )
    return out
