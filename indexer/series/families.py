"""Families: the versions of one series (v1, v2, RFC, RESEND ...) grouped together.

Union-find over series versions. Two versions are one family when
- they have the same normalised title and the same sender address;
- one has no cover and its patch 1 is titled like the other's patch 1 (same sender,
  same number of patches);
- they share a b4 ``change-id``;
- the later one links to the earlier: its cover names a Message-ID of the earlier
  version (a lore link, "v1: <id>"), or its root was sent in reply to the earlier
  version's cover or one of its patches (by the same sender).
Families never mix kinds (a pull request is not a version of a series).
The family id is the root Message-ID of the earliest version.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import quote

from kvmsearch.indexer.text.subjects import normalise_title, parse_subject
from kvmsearch.models.records import Family, SeriesVersion

__all__ = ["build_families", "earlier_version_ids"]

# Words that make a link a link to an earlier posting of the same work: "v1:",
# "[v2] https://...", "Changes from v2: https://...", "- Link to v3: ...",
# "previous version: ...". A bare "[1] https://..." reference is not enough: covers cite
# the series they build on in the same way.
_VERSION_WORD = re.compile(
    r"(?<![\w.-])(?:v\d+(?:\.\d+)?|rfc|version|revision|iteration|previous|earlier|prior)(?![\w-])",
    re.IGNORECASE,
)
# ... unless the label (or the line before it) says the link is something this work
# builds on, or quotes another posting's subject ("[v4 0/5] Other series").
_BUILDS_ON = re.compile(
    r"on\s+top|appl(?:y|ies|ied)|depend|based\s+on|prerequisite|requires?|needs?|rebased"
    r"|\d+\s*/\s*\d+\]",
    re.IGNORECASE,
)
_BULLET_ONLY = re.compile(r"^[\s\-*>]*(?:\[\d+\]:?)?[\s\-*]*(?:https?://\S*)?$")
_MAX_LABEL = 60


def _lines_before(body: str, start: int, n: int) -> list[str]:
    """Up to ``n`` non-blank lines ending before offset ``start``, nearest first."""
    out: list[str] = []
    end = start - 1
    while end > 0 and len(out) < n:
        line_start = body.rfind("\n", 0, end) + 1
        line = body[line_start:end].strip()
        if line:
            out.append(line)
        end = line_start - 1
    return out


def _introduces_version(body: str, pos: int) -> bool:
    """Does the text introducing the link at ``pos`` call it an earlier version? The
    label is the start of the link's own line, or the previous non-blank line when the
    link stands alone ("v1:" and the URL below it)."""
    start = body.rfind("\n", 0, pos) + 1
    own = body[start:pos]
    if _BULLET_ONLY.match(own):
        before = _lines_before(body, start, 2)
        if not before or len(before[0]) > _MAX_LABEL:
            return False
        label, context = before[0], " ".join(before)
    else:
        label = own[-_MAX_LABEL:]
        context = " ".join([label, *_lines_before(body, start, 1)])
    return bool(_VERSION_WORD.search(label)) and not _BUILDS_ON.search(context)


def earlier_version_ids(body: str, prior_ids: Sequence[str]) -> tuple[str, ...]:
    """Those of ``prior_ids`` that ``body`` introduces as an earlier version."""
    out: list[str] = []
    for mid in prior_ids:
        forms = dict.fromkeys((mid, quote(mid, safe=""), mid.replace("@", "%40")))
        if any(_found_as_version(body, form) for form in forms):
            out.append(mid)
    return tuple(out)


def _found_as_version(body: str, form: str) -> bool:
    pos = body.find(form)
    while pos >= 0:
        if _introduces_version(body, pos):
            return True
        pos = body.find(form, pos + len(form))
    return False


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _age(v: SeriesVersion, i: int) -> tuple[float, int, int]:
    """Sort key: date, then version number, then input order."""
    t = v.date.timestamp() if v.date is not None else math.inf
    return (t, v.version, i)


def build_families(
    versions: Sequence[SeriesVersion],
    thread_links: Sequence[Sequence[str]],
    prior_links: Sequence[Sequence[str]],
) -> tuple[list[SeriesVersion], list[Family]]:
    """Group ``versions`` into families and set each version's ``family``.

    ``thread_links[i]`` are the Message-IDs the root of ``versions[i]`` was sent in
    reply to; ``prior_links[i]`` the Message-IDs its cover names as earlier versions
    (see :func:`earlier_version_ids`). Returns the versions (family set, input order
    kept) and the families, oldest first.
    """
    n = len(versions)
    uf = _UnionFind(n)
    ages = [_age(v, i) for i, v in enumerate(versions)]
    owner: dict[str, int] = {}
    for i, v in enumerate(versions):
        owner.setdefault(v.message_id, i)
        for pid in v.patch_ids:
            owner.setdefault(pid, i)

    first: dict[tuple[str, ...], int] = {}
    for i, v in enumerate(versions):
        title = normalise_title(v.title)
        keys: list[tuple[str, ...]] = []
        if title:
            keys.append(("title", v.kind, title, v.author_addr))
        if v.cover.change_id:
            keys.append(("change-id", v.kind, v.cover.change_id))
        for key in keys:
            earliest = first.setdefault(key, i)
            if earliest != i:
                uf.union(i, earliest)

    # A version posted without its cover (or whose cover missed the list) is titled by
    # its patch 1; it belongs with the covered versions whose patch 1 has that title,
    # from the same sender, with as many patches.
    by_first_patch: dict[tuple[object, ...], int] = {}
    for i, v in enumerate(versions):
        if v.has_cover and v.patches and v.patches[0].index == 1:
            title = normalise_title(parse_subject(v.patches[0].subject).title)
            by_first_patch.setdefault((v.kind, title, v.author_addr, v.n_patches), i)
    for i, v in enumerate(versions):
        if not v.has_cover and v.n_patches and v.patches and v.patches[0].index == 1:
            j = by_first_patch.get((v.kind, normalise_title(v.title), v.author_addr, v.n_patches))
            if j is not None:
                uf.union(i, j)

    for i, v in enumerate(versions):
        # A newer version sent in reply to the older one. Same tree, so a QEMU or
        # kvmtool counterpart threaded under the kernel series stays its own family,
        # and a higher version, so a follow-up fix posted in the thread does too.
        for mid in thread_links[i]:
            j = owner.get(mid)
            if j is None or j == i:
                continue
            w = versions[j]
            if (
                w.kind == v.kind
                and w.author_addr == v.author_addr
                and w.tree == v.tree
                and w.version < v.version
                and ages[j] < ages[i]
            ):
                uf.union(i, j)
        for mid in prior_links[i]:
            j = owner.get(mid)
            if j is not None and j != i and versions[j].kind == v.kind and ages[j] < ages[i]:
                uf.union(i, j)

    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(uf.find(i), []).append(i)
    family_of: list[str] = [""] * n
    families: list[Family] = []
    for idxs in members.values():
        idxs.sort(key=lambda i: ages[i])
        fid = versions[idxs[0]].message_id
        for i in idxs:
            family_of[i] = fid
        families.append(Family(fid, tuple(versions[i].message_id for i in idxs)))
    families.sort(key=lambda f: ages[owner[f.family_id]])
    out = [
        v if v.family == family_of[i] else replace(v, family=family_of[i])
        for i, v in enumerate(versions)
    ]
    return out, families
