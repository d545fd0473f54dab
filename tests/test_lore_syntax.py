"""What people type into lore works here: f: s: b: dfn: l: d:, -word, quoted phrases.

The parser is tested on its own, the filter resolver against named fakes, and the whole
path on a small real index (whoosh, the fake embedder).
"""

from __future__ import annotations

from datetime import date

import pytest
from sample_index import build_index, open_index

from kvmsearch.index import Index
from kvmsearch.models.errors import NotFoundError, QueryError
from kvmsearch.models.query import Filters, TextCondition, period
from kvmsearch.query.filters import FilterResolver
from kvmsearch.query.understand import understand

# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("lore", "ours"),
    [
        ("f:maz", "author:maz"),
        ("dfn:arch/arm64/kvm/mmu.c", "file:arch/arm64/kvm/mmu.c"),
        ("l:kvm.vger.kernel.org", "list:kvm.vger.kernel.org"),
        ("d:20210101..20211231", "since:2021-01-01 until:2021-12-31"),
        ("d:2021", "since:2021 until:2021"),
        ("d:2021-06..", "since:2021-06"),
        ("d:..20200131", "until:2020-01-31"),
    ],
)
def test_lore_prefixes_are_aliases_of_the_filters(lore: str, ours: str) -> None:
    assert understand(f"vgic {lore}").filters == understand(f"vgic {ours}").filters
    assert understand(f"vgic {lore}").text == "vgic"


def test_date_ends_name_their_whole_period() -> None:
    f = understand("d:2020..2021-02").filters
    assert (f.since, f.until) == (date(2020, 1, 1), date(2021, 2, 28))
    assert period("20240229", "d") == (date(2024, 2, 29), date(2024, 2, 29))
    today = date(2026, 12, 1)
    assert period("2.weeks.ago", "d", today=today) == (date(2026, 11, 17),) * 2
    assert period("yesterday", "d", today=today) == (date(2026, 11, 30),) * 2
    # until: a month runs to its last day, before: stops the day before
    assert understand("until:2021-06").filters.until == date(2021, 6, 30)
    assert understand("before:2021-06").filters.until == date(2021, 5, 31)


def test_subject_body_and_excluded_words_become_text_conditions() -> None:
    p = understand('dirty s:vgic b:"use after free" -ring -"dirty bitmap" -s:x86 -b:RFC')
    assert p.text == "dirty" and p.words == ("dirty",) and p.phrases == ()
    assert p.filters.texts == (
        TextCondition("subject", "vgic"),
        TextCondition("body", "use after free"),
        TextCondition("subject", "x86", negated=True),
        TextCondition("body", "RFC", negated=True),
        TextCondition("all", "ring", negated=True),
        TextCondition("all", "dirty bitmap", negated=True),
    )


def test_errnos_numbers_and_options_are_words_not_exclusions() -> None:
    p = understand("KVM_RUN returns -EFAULT on -1 with --no-server -")
    assert p.filters.texts == ()
    assert "-EFAULT" in p.words and "-1" in p.words
    # a one-letter option is text of the question, not an exclusion the index cannot
    # answer ("'m' has no word the index keeps")
    p = understand("kvmtool RAM base address on arm64, -m size@address -M virt -dirty")
    assert p.filters.texts == (TextCondition("all", "dirty", negated=True),)


def test_a_dash_inside_a_phrase_is_part_of_the_phrase() -> None:
    p = understand('"dirty -ring" log -"x y" "a -b" "KVM s:x" s:"y z"')
    assert p.phrases == ("dirty -ring", "a -b", "KVM s:x")
    assert p.filters.texts == (
        TextCondition("subject", "y z"),
        TextCondition("all", "x y", negated=True),
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("vgic -f:maz", "-f: cannot exclude"),
        ("vgic -dfn:mmu.c", "-dfn: cannot exclude"),
        ("vgic s:", "s: needs a value, e.g. s:vgic"),
        ("vgic d:..", "names no date"),
        ("vgic d:2021-13", "d:2021-13 is not a date"),
        ("vgic d:2022..2021", "swap them"),
    ],
)
def test_what_cannot_mean_anything_is_one_clear_error(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        understand(query)


# --------------------------------------------------------------------------- resolving


class FakeFacets:
    """A document store's facet read: every version, or those the kind filter keeps."""

    def __init__(self, every: set[str], series: set[str]) -> None:
        self.every, self.series = every, series

    def versions_matching(self, filters: Filters) -> set[str] | None:
        assert not filters.texts and not filters.reviews  # text goes to the text source
        return None if not filters.kinds else set(self.series)


class FakeTexts:
    """The lexical index's text lookups, from a table of which version holds what."""

    def __init__(self, holds: dict[tuple[str, str], set[str]], every: set[str]) -> None:
        self.holds, self.every = holds, every

    def versions_with(self, where: str, phrases: list[str]) -> set[str]:
        return set().union(*(self.holds.get((where, p), set()) for p in phrases))

    def version_ids(self) -> set[str]:
        return set(self.every)


def test_resolver_intersects_positive_conditions_and_removes_negated_ones() -> None:
    every = {"a", "b", "c", "pull"}
    texts = FakeTexts(
        {("subject", "vgic"): {"a", "b", "pull"}, ("body", "race"): {"a"}, ("all", "x"): {"b"}},
        every,
    )
    r = FilterResolver(FakeFacets(every, {"a", "b", "c"}), texts)
    s = TextCondition("subject", "vgic")
    assert r.allowed(Filters(texts=(s,))) == {"a", "b"}  # the pull is not a series
    assert r.allowed(Filters(texts=(s, TextCondition("body", "race")))) == {"a"}
    assert r.allowed(Filters(texts=(s, TextCondition("all", "x", negated=True)))) == {"a"}
    # every kind allowed: the store restricts nothing, exclusion starts from every version
    neg = Filters(kinds=(), texts=(TextCondition("all", "x", negated=True),))
    assert r.allowed(neg) == {"a", "c", "pull"}


# --------------------------------------------------------------------------- end to end

_MAIL = """\
From mboxrd@z Thu Jan  1 00:00:00 1970
From: {who}
Subject: [PATCH] {subject}
Date: {date}
Message-ID: <{mid}@example.org>
List-Id: <{lst}>

{body}

Signed-off-by: {who}
---
diff --git a/{path} b/{path}
--- a/{path}
+++ b/{path}
@@ -1,3 +1,3 @@
 a
-b
+c
 d

"""

_SERIES = [
    dict(
        mid="vgic",
        who="Marc Zyngier <maz@kernel.org>",
        subject="KVM: arm64: Fix the vgic walk",
        date="Mon, 01 Mar 2021 12:00:00 +0000",
        lst="kvmarm.lists.cs.columbia.edu",
        path="arch/arm64/kvm/vgic/vgic.c",
        body="The walk over the interrupt list races with the migration of a vcpu.",
    ),
    dict(
        mid="mmu",
        who="Sean Christopherson <seanjc@google.com>",
        subject="KVM: x86: Speed up the shadow MMU walk",
        date="Sun, 01 May 2022 12:00:00 +0000",
        lst="kvm.vger.kernel.org",
        path="arch/x86/kvm/mmu/mmu.c",
        body="Unlike the vgic code, the shadow MMU walk takes the mmu_lock for reading.",
    ),
    dict(
        mid="ring",
        who="Oliver Upton <oupton@google.com>",
        subject="KVM: arm64: Tidy the dirty ring code",
        date="Fri, 10 Jan 2020 12:00:00 +0000",
        lst="kvmarm.lists.cs.columbia.edu",
        path="arch/arm64/kvm/mmu.c",
        body="The walk of the dirty ring was slow; batch it.",
    ),
]


@pytest.fixture(scope="module")
def lore_index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    src = tmp_path_factory.mktemp("lore") / "lore.mbox"
    src.write_text("".join(_MAIL.format(**s) for s in _SERIES) + _REPLY)
    return open_index(build_index(tmp_path_factory.mktemp("lore-index") / "index", [src]))


_REPLY = """\
From mboxrd@z Thu Jan  1 00:00:00 1970
From: Marc Zyngier <maz@kernel.org>
Subject: Re: [PATCH] KVM: arm64: Fix the vgic walk
Date: Tue, 02 Mar 2021 12:00:00 +0000
Message-ID: <applied-1@example.org>
In-Reply-To: <vgic@example.org>
List-Id: <kvmarm.lists.cs.columbia.edu>

Applied to next, thanks.

"""


@pytest.mark.parametrize(
    "query",
    [
        "m:vgic@example.org",
        "<vgic@example.org>",
        "https://lore.kernel.org/r/vgic@example.org/T/#u",
        "id:vgic@example.org",
        "m:applied-1@example.org",  # a reply names the series it answers
        "applied-1@example.org",  # pasted bare: a digit before the @
    ],
)
def test_a_message_id_names_its_series(lore_index: Index, query: str) -> None:
    assert _found(lore_index, query) == ["vgic"]


def test_message_ids_that_name_nothing(lore_index: Index) -> None:
    with pytest.raises(NotFoundError, match="no series in the index holds Message-ID nothing-1"):
        lore_index.search("m:nothing-1@example.org")
    # one known id is enough: the unknown one names nothing more
    assert _found(lore_index, "m:nothing-1@example.org m:vgic@example.org") == ["vgic"]
    # words still rank within the named series only
    assert _found(lore_index, "walk m:vgic@example.org") == ["vgic"]
    # an address without digits is an author's words, not a pasted Message-ID
    assert understand("maz@kernel.org").filters.messages == ()
    assert understand("f:maz@kernel.org").filters.messages == ()
    with pytest.raises(QueryError, match="m: needs a value"):
        understand("m:")


def _found(ix: Index, query: str) -> list[str]:
    return sorted(h.family.split("@")[0] for h in ix.search(query, limit=10))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("s:vgic", ["vgic"]),  # the MMU series says vgic in its body only
        ("b:unlike", ["mmu"]),
        ('b:"dirty ring"', ["ring"]),
        ("walk -vgic", ["ring"]),  # anywhere
        ("walk -s:vgic", ["mmu", "ring"]),
        ("walk -b:unlike", ["ring", "vgic"]),
        ("walk f:oupton", ["ring"]),
        ("walk l:kvm.vger.kernel.org", ["mmu"]),
        ("walk dfn:arch/arm64/kvm/", ["ring", "vgic"]),
        ("walk d:20210101..20211231", ["vgic"]),
        ("walk d:2022..", ["mmu"]),
        ("walk d:..20200131", ["ring"]),
        ("s:walk -s:mmu d:2021", ["vgic"]),  # filters alone list the matches
    ],
)
def test_lore_queries_select_what_lore_would(lore_index: Index, query: str, expected) -> None:
    assert _found(lore_index, query) == expected


def test_a_stop_word_condition_says_so(lore_index: Index) -> None:
    with pytest.raises(QueryError, match="no word the index keeps"):
        lore_index.search("walk s:the")
