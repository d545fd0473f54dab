"""Families: the versions of one series (v1, v2, RFC, RESEND ...) grouped together.

Union-find over series versions; every join is a :class:`LineageLink` recorded on the
later version with its reason and strength:

- explicit: a shared b4 ``change-id``; a cover that names the earlier version (a lore
  link, "v1: <id>"); a new version threaded under the older one by the same person;
  a pull resent with the same tag;
- content: at least half their patches have the same patch id
  (:mod:`kvmsearch.indexer.text.patchid`), or, by the same person, at least half the
  patch titles are shared (a series renamed between versions);
- title: the same normalised title by the same person (one address, or one full name:
  the corpus is the mailmap; a repost keeps its in-body ``From:`` author), unless the
  content disagrees (no file in common, or no patch in common years apart); a coverless
  version whose patch 1 is titled like a covered version's.

Pulls and stable backports never join on titles: every pull of a tree and every stable
release repeats them. Families never mix kinds (a pull request is not a version of a
series). The family id is the root Message-ID of the earliest version.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from urllib.parse import quote

from kvmsearch.indexer.text.people import inbody_author, person_key
from kvmsearch.indexer.text.subjects import normalise_title, parse_subject
from kvmsearch.models.records import Family, LineageLink, SeriesVersion

__all__ = ["build_families", "earlier_version_ids", "pull_tag"]

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


def _name(author: str) -> str:
    return author.split("<", 1)[0].strip().strip('"') if "<" in author else ""


def _identities(v: SeriesVersion) -> set[tuple[str, str]]:
    """Who a version is by: the sender (address and name), and the in-body ``From:``
    author of its patches when someone else sent them (a repost keeps its author)."""
    out: set[tuple[str, str]] = {("addr", v.author_addr)}
    if (key := person_key(_name(v.author))) is not None:
        out.add(("name", key))
    for p in v.patches[:3]:
        found = inbody_author(p.commit_message)
        if found is not None:
            out.add(("addr", found[1]))
            if (key := person_key(found[0])) is not None:
                out.add(("name", key))
    return out


def _patch_title(subject: str) -> str:
    return normalise_title(parse_subject(subject).title)


# A pull asks to pull a tag or branch up to a commit; two pulls are one posting only
# when that commit is the same (a resend), or the same signed tag when no commit is
# named. "for you to fetch changes up to 0caecf5b0019...:" /
# "  git://git.kernel.org/.../kvmarm.git tags/kvmarm-fixes-5.8-1"
_PULL_TIP = re.compile(r"^\s*for you to fetch changes up to ([0-9a-f]{12,40})", re.MULTILINE)
_PULL_TAG = re.compile(
    r"^\s*(?P<url>(?:git|https?|ssh)://\S+|\S+@\S+:\S+)\s+(?P<ref>tags/[\w./+-]+)\s*$",
    re.MULTILINE,
)

#: patch ids that cover fewer changed lines prove nothing (a one-line Kconfig select)
_MIN_PATCH_LINES = 3


def pull_tag(body: str) -> str | None:
    """What a pull request asks to pull, from its body: "up to COMMIT", else "URL
    tags/TAG"; None when it names neither (a branch alone says nothing)."""
    if m := _PULL_TIP.search(body):
        return f"up to {m.group(1)}"
    if m := _PULL_TAG.search(body):
        return f"{m.group('url')} {m.group('ref')}"
    return None


#: the reasons that make two postings one *series* (one search hit): the mail says so,
#: or the title is the same from the same person. Content links (same patches under
#: another title) join the *lineage* only: each title stays its own hit, marked as
#: the same lineage, so a search still shows both the renamed series and its
#: ancestor when both answer the question.
SERIES_REASONS = frozenset(
    {"change-id", "cover-links", "threaded", "same-pull-tag", "same-title", "first-patch"}
)


class _Linker:
    """Union-find over versions that records, for each join, why it was made."""

    def __init__(self, versions: Sequence[SeriesVersion]) -> None:
        self.versions = versions
        self.uf = _UnionFind(len(versions))
        self.series = _UnionFind(len(versions))
        self.ages = [_age(v, i) for i, v in enumerate(versions)]
        self.links: list[list[LineageLink]] = [[] for _ in versions]
        self._pairs: set[tuple[int, int]] = set()

    def link(self, a: int, b: int, reason: str, strength: str, detail: str = "") -> None:
        if a == b:
            return
        if reason in SERIES_REASONS:
            self.series.union(a, b)
        early, late = (a, b) if self.ages[a] < self.ages[b] else (b, a)
        if (early, late) in self._pairs or self.uf.find(a) == self.uf.find(b):
            return  # one link per join: the strongest reason, found first
        self._pairs.add((early, late))
        v, w = self.versions[early], self.versions[late]
        self.links[late].append(LineageLink(v.message_id, w.message_id, reason, strength, detail))
        self.uf.union(a, b)


def _content_disagrees(v: SeriesVersion, w: SeriesVersion) -> bool:
    """Same title, different work: the later one does not call itself a newer version,
    and the patches touch no file in common, or share no patch and were posted more
    than two years apart ("KVM: arm64: Fix comment typo" once a year)."""
    if v.version != w.version:
        return False  # v2 after v1: a rewrite may well touch other files
    fv, fw = set(v.all_files), set(w.all_files)
    if fv and fw and not fv & fw:
        return True
    pv = {p.patch_id for p in v.patches if p.patch_id}
    pw = {p.patch_id for p in w.patches if p.patch_id}
    if pv and pw and not pv & pw and v.date and w.date:
        return abs((v.date - w.date).days) > 730
    return False


def _own_address_first(ids: set[tuple[str, str]], addr: str) -> list[tuple[str, str]]:
    """The sender's own address first: a join by it makes one series, by another
    identity only one lineage, and the first join found is the one recorded."""
    return sorted(ids, key=lambda x: (x != ("addr", addr), x))


def _overlaps(
    keys: Sequence[set[str]],
    index: dict[str, list[int]],
    ages: Sequence[tuple[float, int, int]],
    *,
    least: int = 1,
) -> Iterator[tuple[int, list[tuple[int, int]]]]:
    """For each version (oldest first) with at least ``least`` keys: the earlier
    versions sharing keys with it, with how many, nearest earlier first."""
    for i in sorted(range(len(keys)), key=lambda k: ages[k]):
        if len(keys[i]) < least:
            continue
        shared: dict[int, int] = {}
        for key in keys[i]:
            for j in index[key]:
                if j != i and ages[j] < ages[i]:
                    shared[j] = shared.get(j, 0) + 1
        yield i, sorted(shared.items(), key=lambda jk: ages[jk[0]], reverse=True)


def _title_words(title: str) -> set[str]:
    return {w for w in normalise_title(title).split() if len(w) > 2}


def _within(w: SeriesVersion, v: SeriesVersion, *, days: int) -> bool:
    return w.date is not None and v.date is not None and abs((v.date - w.date).days) <= days


def _renamed(w: SeriesVersion, v: SeriesVersion, words: set[str]) -> bool:
    """Is ``v`` plausibly ``w`` under a changed title? Most title words shared and most
    files shared (the content agrees)."""
    other = _title_words(w.title)
    if not words or not other or len(words & other) / len(words | other) < 0.6:
        return False
    fv, fw = set(v.all_files), set(w.all_files)
    return bool(fv and fw) and len(fv & fw) / min(len(fv), len(fw)) >= 0.5


def build_families(
    versions: Sequence[SeriesVersion],
    thread_links: Sequence[Sequence[str]],
    prior_links: Sequence[Sequence[str]],
    pull_tags: Sequence[str | None] | None = None,
) -> tuple[list[SeriesVersion], list[Family]]:
    """Group ``versions`` into families, set each version's ``family`` and ``lineage``.

    ``thread_links[i]`` are the Message-IDs the root of ``versions[i]`` was sent in
    reply to; ``prior_links[i]`` the Message-IDs its cover names as earlier versions
    (see :func:`earlier_version_ids`); ``pull_tags[i]`` what a pull asks to pull
    (:func:`pull_tag`). Returns the versions (input order kept) and the families,
    oldest first.
    """
    n = len(versions)
    lk = _Linker(versions)
    ages = lk.ages
    owner: dict[str, int] = {}
    for i, v in enumerate(versions):
        owner.setdefault(v.message_id, i)
        for pid in v.patch_ids:
            owner.setdefault(pid, i)
    idents = [_identities(v) for v in versions]
    titles = [normalise_title(v.title) for v in versions]

    # --- explicit: the mail says so
    by_change_id: dict[tuple[str, str], int] = {}
    by_pull_tag: dict[str, int] = {}
    for i, v in enumerate(versions):
        if v.cover.change_id:
            first = by_change_id.setdefault((v.kind, v.cover.change_id), i)
            lk.link(first, i, "change-id", "explicit", v.cover.change_id)
        tag = pull_tags[i] if pull_tags is not None else None
        if v.kind == "pull" and tag is not None:
            first = by_pull_tag.setdefault(tag, i)
            lk.link(first, i, "same-pull-tag", "explicit", tag)
    for i, v in enumerate(versions):
        for mid in sorted(prior_links[i], key=lambda m: -ages[owner[m]][0] if m in owner else 0):
            j = owner.get(mid)
            if j is not None and j != i and versions[j].kind == v.kind and ages[j] < ages[i]:
                lk.link(j, i, "cover-links", "explicit", mid)
        # A newer version sent in reply to the older one. Same tree, so a QEMU or
        # kvmtool counterpart threaded under the kernel series stays its own family,
        # and a higher version, so a follow-up fix posted in the thread does too.
        for mid in thread_links[i]:
            j = owner.get(mid)
            if j is None or j == i:
                continue
            w = versions[j]
            if (
                w.kind == v.kind == "series"
                and w.author_addr == v.author_addr
                and w.tree == v.tree
                and w.version < v.version
                and ages[j] < ages[i]
            ):
                lk.link(j, i, "threaded", "explicit", mid)

    # --- content: the same patches (a renamed series, a repost by someone else)
    by_pid: dict[str, list[int]] = {}
    pids: list[set[str]] = []
    for i, v in enumerate(versions):
        mine = {
            p.patch_id
            for p in v.patches
            if p.patch_id and p.patch_lines >= _MIN_PATCH_LINES and v.kind == "series"
        }
        pids.append(mine)
        for pid in mine:
            by_pid.setdefault(pid, []).append(i)
    for i, shared in _overlaps(pids, by_pid, ages):
        # nearest earlier version first, so v3 links to v2 rather than v1.
        # More than half of the larger version's patches: a series that carries some
        # patches of another (prerequisites it was split from, a fix it builds on) is
        # not a version of it. Two people posting the same one-line-ish fix on their
        # own are not one series either: one patch in common counts only from the same
        # person (or an in-body author) or under the same title.
        for j, k in shared:
            big = max(len(pids[i]), len(pids[j]))
            if k / big <= 0.5:
                continue
            if k >= 2 or idents[i] & idents[j] or titles[i] == titles[j]:
                lk.link(j, i, "patch-id", "content", f"{k} of {big} patches identical")

    # shortlog: half the patch titles or more shared, by the same person (a renamed
    # cover)
    by_ptitle: dict[str, list[int]] = {}
    ptitles: list[set[str]] = []
    for i, v in enumerate(versions):
        mine = set()
        if v.kind == "series" and len(v.patches) >= 2:
            mine = {t for p in v.patches if (t := _patch_title(p.subject))}
        ptitles.append(mine)
        for t in mine:
            by_ptitle.setdefault(t, []).append(i)
    for i, shared in _overlaps(ptitles, by_ptitle, ages, least=2):
        for j, k in shared:
            big = max(len(ptitles[i]), len(ptitles[j]))
            if k >= 2 and k / big >= 0.5 and idents[i] & idents[j]:
                lk.link(j, i, "shortlog", "content", f"{k} of {big} patch titles shared")

    # renamed: a later version number, by the same person within a year, whose title
    # is mostly the same words and whose patches touch mostly the same files
    by_person: dict[tuple[str, str], list[int]] = {}
    for i in sorted(range(n), key=lambda k: ages[k]):
        v = versions[i]
        if v.kind != "series":
            continue
        words = _title_words(v.title)
        seen: set[int] = set()
        for ident in _own_address_first(idents[i], v.author_addr):
            posted = by_person.setdefault(ident, [])
            if v.version > 1 or v.resend:
                for j in reversed(posted):
                    w = versions[j]
                    if j in seen or not _within(w, v, days=365):
                        continue
                    seen.add(j)
                    if w.version < v.version or (v.resend and w.version == v.version):
                        if _renamed(w, v, words):
                            lk.link(j, i, "renamed", "content", f"was: {w.title[:80]}")
                            break
            posted.append(i)

    # --- title: the same title by the same person (an address or a full name), unless
    # the content says it is other work. Never for pulls or stable backports, whose
    # titles repeat for every pull and every stable release.
    by_title: dict[tuple[str, str, str], list[int]] = {}
    for i in sorted(range(n), key=lambda k: ages[k]):
        v = versions[i]
        title = normalise_title(v.title)
        if not title or v.kind != "series":
            continue
        done: set[int] = set()
        for ident in _own_address_first(idents[i], v.author_addr):
            titled = by_title.setdefault((title, *ident), [])
            for j in reversed(titled):
                if j in done:
                    continue
                if not _content_disagrees(versions[j], v):
                    # the same address is one series; the same person under another
                    # address (a new employer, a repost keeping the author) is one
                    # lineage, its own hit
                    reason = (
                        "same-title"
                        if ident[0] == "addr"
                        and ident[1] == v.author_addr
                        and ident[1] == versions[j].author_addr
                        else "same-title-person"
                    )
                    lk.link(j, i, reason, "title", f"same {ident[0]}: {ident[1]}")
                    done.add(j)
                    break
            titled.append(i)

    # A version posted without its cover (or whose cover missed the list) is titled by
    # its patch 1; it belongs with the covered versions whose patch 1 has that title,
    # from the same sender, with as many patches.
    by_first_patch: dict[tuple[object, ...], int] = {}
    for i, v in enumerate(versions):
        if v.has_cover and v.patches and v.patches[0].index == 1:
            title = _patch_title(v.patches[0].subject)
            by_first_patch.setdefault((v.kind, title, v.author_addr, v.n_patches), i)
    for i, v in enumerate(versions):
        if not v.has_cover and v.n_patches and v.patches and v.patches[0].index == 1:
            j = by_first_patch.get((v.kind, normalise_title(v.title), v.author_addr, v.n_patches))
            if j is not None:
                lk.link(j, i, "first-patch", "title", "patch 1 titled like the other's")

    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(lk.uf.find(i), []).append(i)
    family_of: list[str] = [""] * n
    families: list[Family] = []
    for idxs in members.values():
        idxs.sort(key=lambda i: ages[i])
        fid = versions[idxs[0]].message_id
        for i in idxs:
            family_of[i] = fid
        families.append(Family(fid, tuple(versions[i].message_id for i in idxs)))
    families.sort(key=lambda f: ages[owner[f.family_id]])
    series_root: dict[int, int] = {}
    for i in sorted(range(n), key=lambda k: ages[k]):
        series_root.setdefault(lk.series.find(i), i)
    series_of = [versions[series_root[lk.series.find(i)]].message_id for i in range(n)]
    out = [
        v
        if v.family == family_of[i] and v.lineage == tuple(lk.links[i]) and v.series == series_of[i]
        else replace(v, family=family_of[i], lineage=tuple(lk.links[i]), series=series_of[i])
        for i, v in enumerate(versions)
    ]
    return out, families
