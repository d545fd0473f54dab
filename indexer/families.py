"""Families: the versions of one series (v1, v2, RFC, RESEND ...) grouped together.

Union-find over series versions. Two versions are one family when
- they have the same normalised title and the same sender address;
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

from kvmsearch.models.records import Family, SeriesVersion

from .subjects import normalise_title

__all__ = ["build_families", "earlier_version_ids"]

# Words that make a link a link to an earlier posting of the same work: "v1:",
# "[v2] https://...", "Changes from v2: https://...", "- Link to v3: ...",
# "previous version: ...". A bare "[1] https://..." reference is not enough: covers cite
# the series they build on in the same way.
_VERSION_WORD = re.compile(
    r"(?<![\w.-])(?:v\d+(?:\.\d+)?|rfc|version|revision|iteration|previous|earlier|prior)(?![\w-])",
    re.IGNORECASE,
)
_BULLET_ONLY = re.compile(r"^[\s\-*>]*(?:\[\d+\]:?)?[\s\-*]*(?:https?://\S*)?$")
_MAX_LABEL = 60


def _label_before(body: str, pos: int) -> str:
    """The text that introduces the link at ``pos``: the start of its own line, or the
    previous non-blank line when the link stands alone ("v1:" then the URL)."""
    start = body.rfind("\n", 0, pos) + 1
    own = body[start:pos]
    if not _BULLET_ONLY.match(own):
        return own[-_MAX_LABEL:]
    end = start - 1
    while end > 0:
        prev_start = body.rfind("\n", 0, end) + 1
        line = body[prev_start:end].strip()
        if line:
            return line if len(line) <= _MAX_LABEL else ""
        end = prev_start - 1
    return ""


def earlier_version_ids(body: str, prior_ids: Sequence[str]) -> tuple[str, ...]:
    """Those of ``prior_ids`` that ``body`` introduces as an earlier version."""
    out: list[str] = []
    for mid in prior_ids:
        for form in (mid, quote(mid, safe=""), mid.replace("@", "%40")):
            pos = body.find(form)
            while pos >= 0:
                if _VERSION_WORD.search(_label_before(body, pos)):
                    out.append(mid)
                    break
                pos = body.find(form, pos + len(form))
            if out and out[-1] == mid:
                break
    return tuple(out)


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

    first: dict[tuple, int] = {}
    for i, v in enumerate(versions):
        title = normalise_title(v.title)
        keys = []
        if title:
            keys.append(("title", v.kind, title, v.author_addr))
        if v.cover.change_id:
            keys.append(("change-id", v.kind, v.cover.change_id))
        for key in keys:
            j = first.setdefault(key, i)
            if j != i:
                uf.union(i, j)

    for i, v in enumerate(versions):
        for mid in thread_links[i]:
            j = owner.get(mid)
            if (
                j is not None
                and j != i
                and versions[j].kind == v.kind
                and versions[j].author_addr == v.author_addr
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
