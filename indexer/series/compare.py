"""Two versions of a series, patch by patch (`kvmsearch diff`), without a git tree.

Patches are matched by stable patch id first (the same change, whatever moved around
it), then by subject (the same patch, changed); what is left is new in the later
version or dropped from it. A changed patch carries the interdiff of its two diffs
(``indexer.text.interdiff``). A patch is reported unchanged exactly when its patch id
is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kvmsearch.indexer.text.interdiff import interdiff
from kvmsearch.indexer.text.subjects import strip_markers
from kvmsearch.models.records import PatchChange, PatchInfo, SeriesVersion, VersionDiff

#: reads the stored diffs of Message-IDs; None when the store keeps none
DiffReader = Callable[[Iterable[str]], "dict[str, str] | None"]


def _subject_key(p: PatchInfo) -> str:
    return " ".join(strip_markers(p.subject).lower().split())


def compare_versions(old: SeriesVersion, new: SeriesVersion, read: DiffReader) -> VersionDiff:
    """``new`` against ``old``, in ``new``'s patch order, dropped patches last."""
    olds = list(old.patches)
    news = list(new.patches)
    pairs: dict[int, int] = {}  # new position -> old position
    by_id: dict[str, list[int]] = {}
    for i, p in enumerate(olds):
        if p.patch_id:
            by_id.setdefault(p.patch_id, []).append(i)
    used: set[int] = set()
    for j, p in enumerate(news):
        for i in by_id.get(p.patch_id or "", []):
            if i not in used:
                pairs[j] = i
                used.add(i)
                break
    by_subject: dict[str, list[int]] = {}
    for i, p in enumerate(olds):
        if i not in used:
            by_subject.setdefault(_subject_key(p), []).append(i)
    for j, p in enumerate(news):
        if j in pairs:
            continue
        for i in by_subject.get(_subject_key(p), []):
            if i not in used:
                pairs[j] = i
                used.add(i)
                break
    changed = [(olds[pairs[j]], news[j]) for j in range(len(news)) if j in pairs]
    want = [
        mid
        for o, n in changed
        if not (o.patch_id and o.patch_id == n.patch_id)
        for mid in (o.message_id, n.message_id)
    ]
    diffs = read(want) if want else {}
    out: list[PatchChange] = []
    for j, n in enumerate(news):
        subject = strip_markers(n.subject)
        if j not in pairs:
            out.append(PatchChange("new", subject, new_index=n.index, new_message_id=n.message_id))
            continue
        o = olds[pairs[j]]
        base = PatchChange(
            "unchanged",
            subject,
            old_index=o.index,
            new_index=n.index,
            old_message_id=o.message_id,
            new_message_id=n.message_id,
        )
        if o.patch_id and o.patch_id == n.patch_id:
            out.append(base)
            continue
        a, b = (diffs or {}).get(o.message_id), (diffs or {}).get(n.message_id)
        if a is None or b is None:
            out.append(_with(base, "changed", None, 0, 0))
        else:
            text, added, removed = interdiff(a, b)
            out.append(_with(base, "changed", text, added, removed))
    for i, o in enumerate(olds):
        if i not in used:
            out.append(
                PatchChange(
                    "dropped",
                    strip_markers(o.subject),
                    old_index=o.index,
                    old_message_id=o.message_id,
                )
            )
    return VersionDiff(
        title=new.title,
        family=new.family,
        old_version=old.version,
        new_version=new.version,
        old_message_id=old.message_id,
        new_message_id=new.message_id,
        patches=tuple(out),
        diffs_stored=diffs is not None,
    )


def _with(p: PatchChange, status: str, text: str | None, added: int, removed: int) -> PatchChange:
    from dataclasses import replace

    return replace(p, status=status, interdiff=text, added=added, removed=removed)
