"""The lexical index: analysis, writing, updating a copied index, searching, filters."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from fakes import fake_version

from kvmsearch.indexer.index.acronyms import ACRONYMS_FILE, mine_acronyms
from kvmsearch.indexer.index.docs import DocStore, version_digest
from kvmsearch.indexer.index.lexical import (
    build_lexical,
    exact_identifiers,
    iter_terms,
    path_forms,
    split_identifier,
    update_lexical,
)
from kvmsearch.models.errors import IndexError_, IndexNotFoundError, QueryError
from kvmsearch.models.query import Filters
from kvmsearch.models.records import (
    ChangelogEntry,
    Family,
    ParseReport,
    ParseResult,
    PatchInfo,
    SeriesVersion,
)
from kvmsearch.query import lexical as lexq
from kvmsearch.query.filters import FilterResolver
from kvmsearch.query.lexclauses import split_query
from kvmsearch.query.lexical import LexicalSearcher

# --------------------------------------------------------------------------- builders


def sv(
    mid: str,
    title: str,
    motivation: str = "",
    *,
    author: str = "Marc Zyngier <maz@kernel.org>",
    when: datetime | None = datetime(2021, 3, 1, 12, 0, tzinfo=UTC),
    lists: tuple[str, ...] = ("kvmarm.lists.cs.columbia.edu",),
    tree: str | None = None,
    kind: str = "series",
    files: tuple[str, ...] = (),
    patches: tuple[tuple[str, str], ...] = (),
    patch_files: tuple[str, ...] = (),
    changelog: tuple[str, ...] = (),
    shortlog: tuple[str, ...] = (),
    tags: tuple[str, ...] = ("KVM", "arm64"),
    family: str | None = None,
) -> SeriesVersion:
    """A hand-built series version; ``patches`` are (subject, commit message) pairs."""
    infos = tuple(
        PatchInfo(
            message_id=f"{mid}.{i}",
            subject=f"[PATCH {i}/{len(patches)}] {subj}",
            index=i,
            commit_message=body,
            files=patch_files,
        )
        for i, (subj, body) in enumerate(patches, 1)
    )
    base = fake_version(mid, title, motivation, patches=infos, tags=tags)
    return replace(
        base,
        family=family or mid,
        kind=kind,
        tree=tree,
        author=author,
        author_addr=author.rsplit("<", 1)[-1].rstrip(">"),
        date=when,
        lists=lists,
        cover=replace(
            base.cover,
            changelog=tuple(ChangelogEntry(f"v{i + 2}", t) for i, t in enumerate(changelog)),
            shortlog=shortlog or tuple(s for s, _b in patches),
            files=files,
        ),
    )


def ids(hits) -> list[str]:
    return [h.message_id for h in hits]


@pytest.fixture
def index(tmp_path):
    """Build an index of the given versions and open a searcher on it."""
    opened: list[LexicalSearcher] = []

    def make(*versions: SeriesVersion, name: str = "lex") -> LexicalSearcher:
        d = tmp_path / name
        build_lexical(d, versions)
        s = LexicalSearcher(d)
        # filters are resolved by the document store of the same generation
        DocStore.write(
            d.with_suffix(".sqlite"),
            ParseResult(
                tuple(versions),
                tuple(Family(v.message_id, (v.message_id,)) for v in versions),
                ParseReport(),
            ),
            {v.message_id: version_digest(v) for v in versions},
        )
        s.resolver = FilterResolver(DocStore(d.with_suffix(".sqlite")))
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


# Default weights search the combined body field; changing a section weight searches
# the section fields one by one. Ranking tests run both ways.
SECTION_WEIGHTS = {"patches": 0.51}


def doc_count(d) -> int:
    with LexicalSearcher(d) as s:
        return s.doc_count()


def allow(s, **filters) -> frozenset[str] | None:
    """The allowed set the hybrid ranker would hand the lexical retriever."""
    inner = getattr(s, "s", s)
    return inner.resolver.allowed(Filters(**filters))


class Weighted:
    """A searcher that passes the same field weights to every call."""

    def __init__(self, searcher: LexicalSearcher, boosts: dict[str, float] | None) -> None:
        self.s, self.boosts = searcher, boosts

    def search(self, text, **kw):
        return self.s.search(text, field_boosts=self.boosts, **kw)

    def search_identifier(self, ident, **kw):
        return self.s.search_identifier(ident, field_boosts=self.boosts, **kw)

    def search_paths(self, paths, **kw):
        return self.s.search_paths(paths, field_boosts=self.boosts, **kw)


@pytest.fixture(params=["body", "sections"])
def windex(request, index):
    boosts = None if request.param == "body" else SECTION_WEIGHTS

    def make(*versions: SeriesVersion, name: str = "lex") -> Weighted:
        return Weighted(index(*versions, name=name), boosts)

    return make


# --------------------------------------------------------------------------- analysis


def test_identifier_split_keeps_whole_and_parts():
    assert split_identifier("KVM_CAP_ARM_MTE") == ["KVM", "CAP", "ARM", "MTE"]
    assert split_identifier("kvm_pgtable_stage2_map") == ["kvm", "pgtable", "stage2", "map"]
    assert split_identifier("KVMClockRead") == ["KVM", "Clock", "Read"]
    assert split_identifier("__kvm_vcpu_run") == ["kvm", "vcpu", "run"]
    assert split_identifier("arm64") == [] and split_identifier("Guest") == []
    terms = [t for t, _p in iter_terms("Enable KVM_CAP_ARM_MTE.", stem=True, stop=True)]
    assert terms == ["enabl", "kvm_cap_arm_mte", "kvm", "cap", "arm", "mte"]


def test_exact_identifiers_keep_case_and_skip_plain_words():
    text = "Call kvm_vcpu_ioctl() and schedule() when ID_AA64PFR0_EL1 has MTE; The guest A."
    assert list(exact_identifiers(text)) == [
        "kvm_vcpu_ioctl",
        "schedule",
        "ID_AA64PFR0_EL1",
        "MTE",
    ]


def test_path_forms_are_full_path_dir_prefixes_and_basename():
    assert path_forms("arch/arm64/kvm/pvtime.c") == [
        "arch/arm64/kvm/pvtime.c",
        "arch/",
        "arch/arm64/",
        "arch/arm64/kvm/",
        "pvtime.c",
    ]
    # a diffstat-shortened path only tells the file name
    assert path_forms(".../kvm/hyp/nvhe/switch.c") == ["switch.c"]
    assert path_forms("MAINTAINERS") == ["maintainers"]


def test_stemming_and_stop_words_only_in_prose():
    prose = [t for t, _p in iter_terms("the migrating guests", stem=True, stop=True)]
    plain = [t for t, _p in iter_terms("the migrating guests", stem=False, stop=False)]
    assert prose == ["migrat", "guest"]
    assert plain == ["the", "migrating", "guests"]


def test_split_query_phrases_and_unbalanced_quotes():
    assert split_query('steal "dirty log" ring') == [
        ("steal", False),
        ("dirty log", True),
        ("ring", False),
    ]
    assert split_query('a "b c') == [("a", False), ("b", False), ("c", False)]
    assert split_query("\u201csteal time\u201d") == [("steal time", True)]


# --------------------------------------------------------------------------- identifiers

MTE_EXACT = sv(
    "mte-exact@arm.com",
    "KVM: arm64: Allow guests to use memory tagging",
    "Expose KVM_CAP_ARM_MTE so that a VMM can enable tag checking for its guests.",
    author="Steven Price <steven.price@arm.com>",
)
MTE_LOWER = sv(
    "mte-lower@arm.com",
    "KVM: arm64: Allow guests to use memory tagging",
    "Expose kvm_cap_arm_mte so that a VMM can enable tag checking for its guests.",
    author="Steven Price <steven.price@arm.com>",
)
MTE_SPLIT = sv(
    "mte-split@arm.com",
    "KVM: arm64: Allow guests to use memory tagging",
    "Expose a KVM cap for ARM MTE so that a VMM can enable tag checking for its guests.",
    author="Steven Price <steven.price@arm.com>",
)


def test_identifier_matches_whole_split_and_case_insensitive(windex):
    pgtable = sv(
        "pgtable@google.com",
        "KVM: arm64: Rework the stage-2 page-table walker",
        "Move the stage-2 map path onto the generic walker.",
        patches=(
            (
                "KVM: arm64: Convert user_mem_abort()",
                "Use kvm_pgtable_stage2_map() to install the mapping at fault time.",
            ),
        ),
    )
    qemu = sv(
        "qemu@redhat.com",
        "hw/arm: Track MemoryRegion lifetimes",
        "Drop the stale reference.",
        tree="qemu",
    )
    s = windex(pgtable, qemu, MTE_EXACT)
    for q in (
        "kvm_pgtable_stage2_map",
        "KVM_PGTABLE_STAGE2_MAP",
        "pgtable",
        "stage2",
        "kvm_pgtable_stage2_map()",
    ):
        assert ids(s.search(q)) == ["pgtable@google.com"], q
    assert ids(s.search_identifier("kvm_pgtable_stage2_map")) == ["pgtable@google.com"]
    assert ids(s.search("memoryregion")) == ["qemu@redhat.com"]
    assert ids(s.search("region")) == ["qemu@redhat.com"]
    assert ids(s.search("mte")) == ["mte-exact@arm.com"]
    assert ids(s.search("kvm_cap_arm_mte")) == ["mte-exact@arm.com"]


def test_exact_case_ranks_above_other_case_and_split_parts(windex):
    s = windex(MTE_SPLIT, MTE_LOWER, MTE_EXACT)
    assert ids(s.search_identifier("KVM_CAP_ARM_MTE")) == [
        "mte-exact@arm.com",
        "mte-lower@arm.com",
        "mte-split@arm.com",
    ]
    assert ids(s.search_identifier("kvm_cap_arm_mte"))[0] == "mte-lower@arm.com"
    # free text: whole identifier only, exact spelling first
    assert ids(s.search("KVM_CAP_ARM_MTE")) == ["mte-exact@arm.com", "mte-lower@arm.com"]


def test_identifier_only_in_patch_messages_is_found_below_cover(windex):
    cover = sv("cover@x", "KVM: Add KVM_CAP_STEAL_TIME", "Report KVM_CAP_STEAL_TIME to VMMs.")
    patch_only = sv(
        "patch@x",
        "KVM: arm64: Paravirtualised time for guests",
        "Implement PV time.",
        patches=(
            (
                "KVM: arm64: Provide VCPU attributes for stolen time",
                "Userspace checks KVM_CAP_STEAL_TIME before setting the IPA.",
            ),
        ),
    )
    s = windex(patch_only, cover)
    assert ids(s.search("KVM_CAP_STEAL_TIME")) == ["cover@x", "patch@x"]


def test_substring_identifier_via_parts(windex):
    s = windex(sv("ioctl@x", "KVM: Fix kvm_vcpu_ioctl() locking", "Take the mutex earlier."))
    assert ids(s.search_identifier("vcpu_ioctl")) == ["ioctl@x"]


def test_identifier_tier_marks_the_exact_spelling(index):
    s = index(MTE_SPLIT, MTE_LOWER, MTE_EXACT)
    assert {h.message_id: h.tier for h in s.search_identifier("KVM_CAP_ARM_MTE")} == {
        "mte-exact@arm.com": 1,
        "mte-lower@arm.com": 0,
        "mte-split@arm.com": 0,
    }


def test_a_stop_word_in_capitals_is_an_acronym(windex):
    # "its" and "at" are stop words; the GIC's ITS and arm64's AT instructions are not
    s = windex(
        sv("its@x", "KVM: arm64: vgic: ITS table migration", "Save the ITS tables."),
        sv("prose@x", "KVM: arm64: migration of its tables", "Save them at once."),
        sv("at@x", "arm64: Workaround for speculative AT", "An AT walk may use a stale TLB."),
    )
    assert ids(s.search("ITS", mode="or")) == ["its@x"]
    assert ids(s.search("AT", mode="or")) == ["at@x"]
    assert ids(s.search("ITS migration", mode="or"))[0] == "its@x"
    # written in lower case it is still the stop word it was
    assert ids(s.search("its", mode="or")) == []


def test_slash_between_words_means_either_word(windex):
    s = windex(
        sv("v4@x", "KVM: arm64: GICv4.1 doorbells", "Direct injection."),
        sv("psci@x", "KVM: arm64: Forward SMCCC calls", "To userspace."),
    )
    assert set(ids(s.search("GICv4/GICv4.1 PSCI/SMCCC", mode="or"))) == {"v4@x", "psci@x"}
    # a real path stays a path
    assert ids(s.search("arch/arm64/kvm/")) == []


def test_trailing_star_is_a_prefix(windex):
    s = windex(
        sv(
            "modern@x",
            "virtio-pci: Introduce modern device module",
            "Add vp_modern_probe() and vp_modern_remove().",
        ),
        sv("legacy@x", "virtio-pci: legacy library", "Add vp_legacy_probe()."),
        sv("other@x", "virtio-net: vp stuff", "Use vp_helper()."),
    )
    assert ids(s.search("vp_modern_*")) == ["modern@x"]
    assert set(ids(s.search("vp_modern_*/vp_legacy_*", mode="or"))) == {"modern@x", "legacy@x"}
    # too short a stem to mean a prefix: the word "vp" itself
    assert ids(s.search("vp*")) == ids(s.search("vp"))


# --------------------------------------------------------------------------- paths

PVTIME = sv(
    "pvtime@arm.com",
    "KVM: arm64: Stolen time support",
    "Guests see stolen time.",
    files=("arch/arm64/kvm/pvtime.c", "include/uapi/linux/kvm.h"),
)
VHOST = sv(
    "vhost@redhat.com",
    "vhost: fix ring wrap",
    "Fix the used ring wrap.",
    files=("drivers/vhost/vhost.c",),
    tags=("vhost",),
    lists=("virtualization.lists.linux-foundation.org",),
)
VHOST_FOO = sv(
    "vhost-foo@x",
    "vhost-foo: new driver",
    "A new driver.",
    files=("drivers/vhost-foo/x.c",),
    tags=("vhost-foo",),
)
OTHER_PVTIME = sv(
    "x86-pvtime@x",
    "x86: pvtime cleanup",
    "Tidy up.",
    files=("arch/x86/kernel/pvtime.c",),
    tags=("x86",),
)


@pytest.mark.parametrize(
    "query",
    [
        "arch/arm64/kvm/pvtime.c",
        "arch/arm64/kvm",
        "arch/arm64/kvm/",
        "arch/arm64/",
        "pvtime.c",
        "./arch/arm64/kvm/pvtime.c",
        "ARCH/arm64/KVM/",
    ],
)
def test_path_forms_find_the_series(windex, query):
    s = windex(PVTIME, VHOST, VHOST_FOO)
    assert ids(s.search_paths([query])) == ["pvtime@arm.com"]
    assert ids(s.search(query)) == ["pvtime@arm.com"]


@pytest.mark.parametrize("query", ["drivers/vhost/", "drivers/vhost"])
def test_dir_prefix_is_a_directory_not_a_string_prefix(index, query):
    s = index(PVTIME, VHOST, VHOST_FOO)
    assert ids(s.search_paths([query])) == ["vhost@redhat.com"]
    assert ids(s.search("ring", allowed=allow(s, files=(query,)))) == ["vhost@redhat.com"]


def test_exact_path_ranks_above_same_basename_elsewhere(index):
    s = index(OTHER_PVTIME, PVTIME)
    assert ids(s.search_paths(["arch/arm64/kvm/pvtime.c"])) == ["pvtime@arm.com", "x86-pvtime@x"]


def test_of_several_paths_a_bare_name_known_in_many_places_weighs_less(index):
    # "kernel.h" is a file in two directories here, "arm_vgic.h" in one: a question
    # naming both is about the one file it names, not about any kernel.h
    headers = sv(
        "headers@x",
        "tools: sync kernel.h",
        "Sync.",
        files=(
            "tools/include/linux/kernel.h",
            "arch/arm64/include/asm/kernel.h",
            "arch/x86/include/asm/kernel.h",
        ),
    )
    vgic = sv(
        "vgic@x",
        "KVM: vgic: trim includes",
        "Trim.",
        files=("include/kvm/arm_vgic.h", "arch/arm64/kvm/vgic/vgic.c", "virt/kvm/kvm_main.c"),
    )
    s = index(headers, vgic)
    assert ids(s.search_paths(["kernel.h", "arm_vgic.h"])) == ["vgic@x", "headers@x"]
    # alone, a bare name is what was asked for, wherever it is
    assert ids(s.search_paths(["kernel.h"])) == ["headers@x"]


def test_patch_diff_files_are_indexed(index):
    s = index(
        sv(
            "diffs@x",
            "KVM: arm64: Fix timer",
            "Fix it.",
            patches=(("KVM: arm64: timer", "Body."),),
            patch_files=("arch/arm64/kvm/arch_timer.c",),
        )
    )
    assert ids(s.search_paths(["arch_timer.c"])) == ["diffs@x"]


# --------------------------------------------------------------------------- prose


def test_stemming_in_prose_not_in_file_names(windex):
    s = windex(
        sv(
            "mig@x",
            "KVM: arm64: Support live migration of the ITS",
            "Save tables.",
            files=("tools/testing/selftests/kvm/steal_time.c",),
        ),
    )
    assert ids(s.search("migrating")) == ["mig@x"]
    assert ids(s.search_paths(["steal_time.c"])) == ["mig@x"]
    assert s.search_paths(["steal_times.c"]) == []
    assert s.search("the") == []  # a stop word alone matches nothing


def test_quoted_phrase_needs_adjacent_words(windex):
    s = windex(
        sv("adjacent@x", "KVM: Steal time accounting", "Account steal time per vCPU."),
        sv("apart@x", "KVM: Time keeping", "Reduce time spent; do not steal cycles."),
    )
    assert ids(s.search('"steal time"')) == ["adjacent@x"]
    assert set(ids(s.search("steal time"))) == {"adjacent@x", "apart@x"}
    # stop words inside a phrase and identifiers spelled inside a phrase
    s2 = windex(
        sv(
            "p@x",
            "KVM: arm64: Expose MTE",
            "Userspace can now enable KVM_CAP_ARM_MTE for the guest.",
        ),
        name="lex2",
    )
    assert ids(s2.search('"enable KVM_CAP_ARM_MTE for the guest"')) == ["p@x"]


def test_auto_mode_ranks_complete_matches_first(windex):
    partial = sv("partial@x", "KVM: dirty log dirty log dirty log", "Dirty log dirty log.")
    complete = sv(
        "complete@x", "KVM: arm64: Stage-2 improvements", "Use DBM for the dirty log on stage2."
    )
    s = windex(partial, complete)
    assert ids(s.search("dirty log DBM")) == ["complete@x", "partial@x"]
    assert ids(s.search("dirty log DBM", mode="and")) == ["complete@x"]
    scores = [h.score for h in s.search("dirty log DBM")]
    assert scores == sorted(scores, reverse=True)


def test_common_words_only_score(windex, monkeypatch):
    # On a big index a word in most documents ("kvm" on kvmarm) does not select
    # documents; it still orders those the rarer words found.
    monkeypatch.setattr(lexq, "_COMMON_MIN_DOCS", 1)
    monkeypatch.setattr(lexq, "_COMMON_FRACTION", 0.5)
    filler = [sv(f"f{i}@x", f"KVM: arm64: fix {i}", "A KVM fix.") for i in range(6)]
    with_kvm = sv("with@x", "arm64: vgic: fix", "KVM vgic fix for KVM guests.", tags=("arm64",))
    without = sv("without@x", "arm64: vgic: fix", "The vgic fix for the guests.", tags=("arm64",))
    s = windex(without, with_kvm, *filler)
    assert ids(s.search("kvm vgic")) == ["with@x", "without@x"]
    assert len(s.search("kvm vgic", mode="and")) == 1


def test_is_common_follows_the_selecting_rule(index, monkeypatch):
    monkeypatch.setattr(lexq, "_COMMON_MIN_DOCS", 1)
    monkeypatch.setattr(lexq, "_COMMON_FRACTION", 0.5)
    filler = [sv(f"f{i}@x", f"KVM: arm64: fix {i}", "A KVM vcpu fix.") for i in range(6)]
    s = index(sv("pv@x", "KVM: arm64: pvtime", "Expose the pvtime structure."), *filler)
    assert s.is_common("KVM") and s.is_common("vcpus")  # analysed as the index does
    assert not s.is_common("PVTIME") and not s.is_common("the")  # a stop word selects nothing


def test_title_outweighs_patch_messages(windex):
    s = windex(
        sv(
            "in-patch@x",
            "KVM: arm64: Misc fixes",
            "Small fixes.",
            patches=(("KVM: arm64: fix", "The vgic was wrong."),),
        ),
        sv("in-title@x", "KVM: arm64: vgic fixes", "Small fixes."),
    )
    assert ids(s.search("vgic")) == ["in-title@x", "in-patch@x"]


def test_explain_breaks_score_down_by_field(windex):
    s = windex(
        sv(
            "e@x",
            "KVM: arm64: vgic fixes",
            "The vgic ITS is broken.",
            patches=(("KVM: arm64: vgic", "Fix the vgic."),),
        )
    )
    (hit,) = s.search("vgic", explain=True)
    assert hit.fields is not None
    assert {"title", "motivation", "patches"} <= set(hit.fields)
    assert sum(hit.fields.values()) == pytest.approx(hit.score, rel=1e-6)
    assert s.search("vgic")[0].fields is None


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize("few_excluded", [500, 0])
def test_filter_applies_inside_retrieval(windex, monkeypatch, few_excluded):
    # both ways of filtering: whoosh's filter, and the top limit+excluded unfiltered
    monkeypatch.setattr(lexq, "_FEW_EXCLUDED", few_excluded)
    strong = [
        sv(
            f"strong{i}@x",
            "KVM: dirty log ring",
            "Dirty log ring dirty log tracking.",
            author=f"Peter Xu{i} <peterx{i}@redhat.com>",
        )
        for i in range(5)
    ]
    weak = sv(
        "weak@x",
        "KVM: arm64: Misc",
        "Also touches the dirty log a little.",
        author="Marc Zyngier <maz@kernel.org>",
    )
    s = windex(*strong, weak)
    assert ids(s.search("dirty log", limit=1)) != ["weak@x"]
    for who in ("maz", "zyngier", "Marc Zyngier", "maz@kernel.org"):
        assert ids(s.search("dirty log", limit=1, allowed=allow(s, authors=(who,)))) == [
            "weak@x"
        ], who
    assert s.search("dirty log", allowed=allow(s, authors=("nobody",))) == []


def test_list_tree_date_and_kind_filters(index):
    a = sv("arm@x", "KVM: arm64: vgic", "vgic", when=datetime(2020, 5, 1, tzinfo=UTC))
    b = sv(
        "virt@x",
        "vhost: vgic-ish",
        "vgic",
        when=datetime(2021, 6, 1, tzinfo=UTC),
        lists=("virtualization.lists.linux-foundation.org",),
    )
    c = sv(
        "kut@x",
        "arm: vgic tests",
        "vgic",
        tree="kvm-unit-tests",
        when=datetime(2022, 1, 1, tzinfo=UTC),
    )
    pull = sv("pull@x", "KVM/arm64 updates for 5.12", "vgic", kind="pull")
    s = index(a, b, c, pull)
    assert set(ids(s.search("vgic", allowed=allow(s)))) == {"arm@x", "virt@x", "kut@x"}
    assert set(ids(s.search("vgic", allowed=allow(s, lists=("kvmarm",))))) == {"arm@x", "kut@x"}
    assert ids(s.search("vgic", allowed=allow(s, trees=("kvm-unit-tests",)))) == ["kut@x"]
    assert ids(
        s.search("vgic", allowed=allow(s, since=date(2021, 6, 1), until=date(2021, 6, 1)))
    ) == ["virt@x"]
    assert ids(s.search("vgic", allowed=allow(s, kinds=("pull",)))) == ["pull@x"]
    assert len(s.search("vgic", allowed=allow(s, kinds=()))) == 4
    # without an allowed set every kind answers (the default filter is the resolver's)
    assert len(s.search("vgic")) == 4
    with pytest.raises(QueryError, match="swap them"):
        allow(s, since=date(2022, 1, 1), until=date(2021, 1, 1))
    assert allow(s) == {"arm@x", "virt@x", "kut@x"}
    assert allow(s, kinds=()) is None  # nothing restricted
    assert allow(s, lists=("kvmarm",), since=date(2021, 1, 1)) == {"kut@x"}
    assert allow(s, authors=("nobody",)) == set()


# --------------------------------------------------------------------------- writing


def test_update_on_a_copy_leaves_the_original_alone(tmp_path):
    orig = tmp_path / "gen1"
    old = sv("a@x", "KVM: arm64: Old title about vgic", "vgic")
    gone = sv("b@x", "KVM: arm64: Doomed series about pmu", "pmu")
    assert build_lexical(orig, [old, gone]) == 2
    copy = tmp_path / "gen2"
    shutil.copytree(orig, copy)
    new = sv("a@x", "KVM: arm64: New title about timers", "timer")
    added = sv("c@x", "KVM: arm64: Fresh series about sve", "sve")
    update_lexical(copy, [new, added], ["b@x"])

    with LexicalSearcher(copy) as s:
        assert ids(s.search("timers")) == ["a@x"]
        assert s.search("vgic") == [] and s.search("pmu") == []
        assert ids(s.search("sve")) == ["c@x"]
        assert s.doc_count() == 2
        # an allowed set naming a deleted version finds nothing of it
        assert ids(s.search("sve timers", allowed=frozenset({"b@x", "c@x"}))) == ["c@x"]
    with LexicalSearcher(orig) as s:
        assert ids(s.search("vgic")) == ["a@x"] and ids(s.search("pmu")) == ["b@x"]
        assert s.search("timers") == []
    # the updated copy can itself be copied and updated (no lock or path left behind)
    third = tmp_path / "gen3"
    shutil.copytree(copy, third)
    update_lexical(third, [], ["c@x"])
    assert doc_count(third) == 1 and doc_count(copy) == 2
    leftovers = [p.name for d in (orig, copy, third) for p in d.iterdir() if "LOCK" in p.name]
    assert leftovers == []


def test_multiprocess_build_gives_the_same_answers(tmp_path):
    versions = [
        sv(f"s{i}@x", f"KVM: arm64: series {i} about vgic", "vgic its lpi") for i in range(30)
    ]
    versions.append(sv("pmu@x", "KVM: arm64: PMU fixes", "pmu counters"))
    assert build_lexical(tmp_path / "mp", versions, procs=2) == 31
    with LexicalSearcher(tmp_path / "mp") as s:
        assert ids(s.search("pmu")) == ["pmu@x"]
        assert len(s.search("vgic")) == 30


def test_build_replaces_an_earlier_index_and_dedupes(tmp_path):
    d = tmp_path / "lex"
    build_lexical(d, [sv("a@x", "KVM: vgic", "vgic")])
    dup = [sv("b@x", "KVM: pmu", "pmu"), sv("b@x", "KVM: pmu v2", "pmu")]
    assert build_lexical(d, dup) == 1
    assert doc_count(d) == 1
    (d / "notes.txt").write_text("mine")
    with pytest.raises(IndexError_):
        build_lexical(d, dup)


def test_missing_index_and_bad_arguments(tmp_path, index):
    with pytest.raises(IndexNotFoundError):
        LexicalSearcher(tmp_path / "nothing")
    s = index(PVTIME)
    with pytest.raises(QueryError):
        s.search("x", mode="fuzzy")
    with pytest.raises(QueryError):
        s.search("x", field_boosts={"bogus": 2.0})
    assert ids(s.search("stolen", field_boosts={"title": 0, "motivation": 0})) == []


ODD = [
    "",
    "   ",
    '"',
    '""',
    '"unbalanced',
    'two "quoted" and "one',
    ":",
    "title:vgic",
    "a:b:c",
    "*",
    "KVM_*",
    "?",
    "vgic~2",
    "^",
    "vgic^3",
    "(",
    ")",
    "[a TO b]",
    "{",
    "\\",
    "/",
    "//",
    "...",
    ".../",
    "-",
    "--",
    "AND",
    "OR NOT",
    "∀x ∈ ℝ",
    "日本語",
    "\u00e9t\u00e9",
    "🙂",
    "\x00",
    "x" * 500,
    "a/" * 50,
    "<maz@kernel.org>",
    "https://lore.kernel.org/r/x@y",
    "'single'",
    "`code`",
    "foo()",
    "()",
    "@",
    "#",
    "%s",
    "{}",
    "|",
    "&&",
]


@pytest.mark.parametrize("query", ODD)
def test_odd_queries_never_raise(index, query):
    s = index(PVTIME, VHOST, MTE_EXACT)
    for mode in ("auto", "and", "or"):
        assert isinstance(s.search(query, mode=mode), list)
    assert isinstance(s.search_paths([query]), list)
    assert isinstance(s.search_identifier(query), list)
    assert isinstance(
        s.search(query, allowed=allow(s, authors=(query,), files=(query,), lists=(query,))), list
    )


# --------------------------------------------------------------------------- acronyms


def test_acronym_mining_matches_initials():
    texts = [
        "Expose the Performance Monitoring Unit (PMU) to guests. See (e.g. this) too.",
        "the Statistical Profiling Extension (SPE) and read-as-zero (RAZ) registers; "
        "Virtual Functions (VFs) and the Memory Tagging Extension\n(MTE)",
        # initials that do not spell the acronym, and a repeat within one text
        "a random thing (PMU) with the Performance Monitoring Unit (PMU) twice: "
        "Performance Monitoring Unit (PMU)",
    ]
    got = mine_acronyms(texts)
    assert got[("PMU", "performance monitoring unit")] == 2  # once per text
    assert got[("SPE", "statistical profiling extension")] == 1
    assert got[("RAZ", "read-as-zero")] == 1
    assert got[("VF", "virtual functions")] == 1
    assert got[("MTE", "memory tagging extension")] == 1
    assert not [k for k in got if k[1].startswith(("random", "a random", "see", "this"))]


def test_acronyms_learned_at_build_expand_a_spelled_out_query(tmp_path):
    defines = "KVM now emulates the Performance Monitoring Unit (PMU) counters."
    versions = [
        sv("d1@x", "KVM: arm64: PMU emulation", defines),
        sv("d2@x", "KVM: arm64: PMU v3p5", "Move the Performance Monitoring Unit (PMU) code."),
        sv(
            "p@x",
            "KVM: arm64: Trap PMU register accesses",
            "Don't touch PMU regs on CPUs without one. The Scalable Matrix Extension (SME) too.",
        ),
        sv("o@x", "KVM: arm64: Other", "Unrelated text about registers."),
    ]
    d = tmp_path / "lex"
    build_lexical(d, versions)
    with LexicalSearcher(d) as s:
        assert s.acronyms_for("performance-monitor registers on CPUs") == ["PMU"]
        assert s.acronyms_for("PMU performance monitoring") == []  # named already
        assert s.acronyms_for("scalable matrix extension") == []  # defined once only
        assert s.acronyms_for("performance registers") == []  # one word is not enough
    # an update adds the definitions of the new documents to the table
    copy = tmp_path / "lex2"
    shutil.copytree(d, copy)
    update_lexical(copy, [sv("q@x", "KVM: arm64: SME", "Scalable Matrix Extension (SME).")], [])
    with LexicalSearcher(copy) as s:
        assert s.acronyms_for("scalable matrix extension state") == ["SME"]
    # an index without the table (an older build) simply adds nothing
    (d / ACRONYMS_FILE).unlink()
    with LexicalSearcher(d) as s:
        assert s.acronyms_for("performance-monitor registers") == []


# --------------------------------------------------------------------------- compounds


def test_words_written_apart_meet_the_closed_compound(index):
    closed = sv("closed@x", "vhost_net: disable zerocopy by default", "Zerocopy tx has issues.")
    spaced = sv("spaced@x", "virtio-net: zero copy xmit", "The zero copy path for xsk.")
    also = sv("also@x", "vhost: zerocopy accounting", "Account zerocopy buffers.")
    other = sv("other@x", "KVM: arm64: copy the zero page", "Copy a page.")
    s = index(closed, spaced, also, other)
    for typed in ("zero copy", "zero-copy"):
        got = ids(s.search(typed, mode="or"))
        assert {"closed@x", "spaced@x", "also@x"} <= set(got), typed
        assert s.spellings_for(typed) == ["zerocopy"]
    # the closed form weighs what the typed words weigh: as often, in as long a text,
    # either spelling scores the same (BM25 alone puts the rarer spelling far above)
    scores = {h.message_id: h.score for h in s.search("zero copy", mode="or")}
    assert scores["closed@x"] == pytest.approx(scores["spaced@x"], rel=0.05)
    # a closed form one document writes (a typo?), or none writes, adds nothing
    assert s.spellings_for("copy page") == []
    assert s.spellings_for("vhost net") == []
    # the typed closed form is not split (tried, not kept): no "zero copy" document
    assert "spaced@x" not in ids(s.search("zerocopy", mode="or"))


def test_british_and_american_spellings_meet(index):
    s = index(
        sv("uk@x", "KVM: arm64: vgic: initialise the distributor", "Initialise it early."),
        sv("us@x", "KVM: vgic: initialize the redistributors", "Initialize them late."),
        sv("us2@x", "KVM: arm64: initialize the ITS", "Initialize it last."),
        sv("uk2@x", "KVM: arm64: initialise the timer", "Initialise it first."),
        sv("beh@x", "KVM: arm64: PMU behavior on reset", "The behavior changes."),
        sv("beh2@x", "KVM: arm64: timer behavior", "Odd behavior under load."),
        sv("other@x", "KVM: arm64: unrelated", "Nothing to see."),
    )
    both = {"uk@x", "uk2@x", "us@x", "us2@x"}
    assert set(ids(s.search("initialise", mode="or"))) == both
    assert set(ids(s.search("initialize", mode="or"))) == both
    assert set(ids(s.search("behaviour", mode="or"))) == {"beh@x", "beh2@x"}
    assert "behavior" in s.spellings_for("PMU behaviour")
    # an ending that only looks national ("hypervisor" -> "hypervisour") adds nothing
    assert s.spellings_for("hypervisor simulator") == []


def test_a_word_family_the_stemmer_splits_meets(index):
    s = index(
        sv("spec@x", "arm64: workaround for speculative AT", "Speculative AT is a problem."),
        sv("spec2@x", "KVM: arm64: speculative AT again", "Speculative AT on A55 too."),
        sv("ing@x", "KVM: stop speculating", "The CPU keeps speculating."),
        sv("ing2@x", "KVM: speculating less", "Avoid speculating here."),
        sv("pre@x", "KVM: arm64: vcpu preemption", "Track preemption of vCPUs."),
        sv("pre2@x", "KVM: preemption notifiers", "Use preemption notifiers."),
        sv("pre3@x", "KVM: arm64: preempted vCPUs", "A vCPU preempted by the host."),
        sv("pre4@x", "KVM: report preempted vCPUs", "Tell the guest it was preempted."),
        sv("other@x", "KVM: arm64: unrelated", "Nothing to see."),
    )
    # Porter: speculating -> speculat, speculative -> specul; preempted -> preempt,
    # preemption -> preemption
    spec = {"spec@x", "spec2@x", "ing@x", "ing2@x"}
    assert set(ids(s.search("speculating", mode="or"))) == spec
    assert set(ids(s.search("speculative", mode="or"))) == spec
    pre = {"pre@x", "pre2@x", "pre3@x", "pre4@x"}
    assert set(ids(s.search("preemption", mode="or"))) == pre
    assert set(ids(s.search("preempted", mode="or"))) == pre


def test_compounds_leave_quoted_phrases_and_filters_alone(index):
    s = index(
        sv("closed@x", "vhost_net: disable zerocopy by default", "Zerocopy tx has issues."),
        sv("also@x", "vhost: zerocopy accounting", "Account zerocopy buffers."),
        sv("spaced@x", "virtio-net: zero copy xmit", "The zero copy path."),
    )
    assert ids(s.search('"zero copy"', mode="or")) == ["spaced@x"]
    assert s.versions_with("all", ["zero copy"]) == {"spaced@x"}


# --------------------------------------------------------------------------- hostile files


class _Evil:
    """Unpickling this runs a command: what a crafted shared index would hold."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _write_toc(d, schema_obj, segments_obj) -> None:
    """Overwrite the index's table of contents as whoosh lays it out, with the given
    objects pickled where the schema and the segment list go."""
    import pickle

    from whoosh import __version__ as wv
    from whoosh import index as wi
    from whoosh.filedb.filestore import FileStorage

    toc = next(d.glob("_MAIN_*.toc"))
    gen = int(toc.stem.rsplit("_", 1)[1])
    toc.unlink()
    f = FileStorage(str(d)).create_file(toc.name)
    f.write_varint(wi._INT_SIZE)
    f.write_varint(wi._LONG_SIZE)
    f.write_varint(wi._FLOAT_SIZE)
    f.write_int(-12345)
    f.write_int(wi._CURRENT_TOC_VERSION)
    for num in wv[:3]:
        f.write_varint(num)
    f.write_string(pickle.dumps(schema_obj, 2))
    f.write_int(gen)
    f.write_int(0)
    f.write_pickle(segments_obj)
    f.close()


@pytest.mark.parametrize("where", ["schema", "segments"])
def test_a_crafted_index_runs_no_code(tmp_path, where):
    from kvmsearch.indexer.index.lexical import UnsafeIndexError, make_schema, open_lexical

    d = tmp_path / "lex"
    build_lexical(d, [PVTIME])
    marker = tmp_path / "pwned"
    evil = _Evil(str(marker))
    if where == "schema":
        _write_toc(d, evil, [])
    else:
        _write_toc(d, make_schema(), [evil])
    with pytest.raises(UnsafeIndexError, match="posix.system|os.system"):
        open_lexical(d)
    assert not marker.exists()


def test_an_intact_index_still_opens_after_a_refused_one(tmp_path):
    d = tmp_path / "lex"
    build_lexical(d, [PVTIME, VHOST])
    with LexicalSearcher(d) as s:
        assert ids(s.search("vhost")) == ["vhost@redhat.com"]
