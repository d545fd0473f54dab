"""Query understanding: routing terms and inline filters."""

from datetime import date

import pytest

from kvmsearch.models.errors import QueryError
from kvmsearch.query.understand import Filters, understand


@pytest.mark.parametrize(
    "query,kind,paths,idents",
    [
        ("arch/arm64/kvm/pvtime.c", "path", ("arch/arm64/kvm/pvtime.c",), ()),
        ("which series touched drivers/vhost/", "path", ("drivers/vhost/",), ()),
        ("what changed in pvtime.c and why", "path", ("pvtime.c",), ()),
        ("series that change ifcvf_base.h", "path", ("ifcvf_base.h",), ()),
        ("KVM_CAP_ARM_SYSTEM_SUSPEND", "ident", (), ("KVM_CAP_ARM_SYSTEM_SUSPEND",)),
        ("series that mention user_mem_abort", "ident", (), ("user_mem_abort",)),
        ("LPA2 handling", "ident", (), ("LPA2",)),
        ("DBM", "ident", (), ("DBM",)),
        ("vhost_task in which series", "ident", (), ("vhost_task",)),
        ("dirty log DBM", "prose", (), ("DBM",)),
        ("which series changed how KVM/arm64 handles FPSIMD and SVE state", "prose", (), None),
        ("why did kvmtool merge its port I/O and MMIO exit handling", "prose", (), None),
    ],
)
def test_routing(query, kind, paths, idents):
    p = understand(query)
    assert p.kind == kind
    assert p.paths == paths
    if idents is not None:
        assert p.idents == idents


def test_tree_hint_in_brackets():
    p = understand("patches modifying kvm32.c (qemu)")
    assert p.kind == "path" and p.paths == ("kvm32.c",) and p.tree_hint == "qemu"
    assert (
        understand("which series touched reloc_aarch64.c (kvm-unit-tests)").tree_hint
        == "kvm-unit-tests"
    )


def test_a_project_named_as_a_word_is_the_tree_hint():
    p = understand("kvm-unit-tests PMU tests for arm64")
    assert p.tree_hint == "kvm-unit-tests" and "kvm-unit-tests" in p.text  # still a word
    assert understand("flash device for UEFI variable storage in kvmtool guests").tree_hint == (
        "kvmtool"
    )
    assert understand("running kvm-unit-test at EL2").tree_hint == "kvm-unit-tests"
    # QEMU in a kernel question is the VMM a change serves, not the tree asked about
    assert understand("QEMU restores a pending-table-zero hint").tree_hint is None
    # a path or an identifier holding the name is not the project named
    assert understand("tools/kvmtool/builtin-run.c").tree_hint is None
    assert understand("kvmtool_init_kernel() flow").tree_hint is None


def test_inline_filters_are_removed_from_text():
    p = understand(
        "file:drivers/vhost/ author:maz since:2021-01-01 list:kvmarm "
        'tree:kvm-unit-tests until:2022 "dirty log" DBM'
    )
    assert p.filters.files == ("drivers/vhost/",)
    assert p.filters.authors == ("maz",)
    assert p.filters.lists == ("kvmarm",)
    assert p.filters.trees == ("kvm-unit-tests",)
    assert p.filters.since == date(2021, 1, 1)
    assert p.filters.until == date(2022, 12, 31)  # until: runs to the end of 2022
    assert p.phrases == ("dirty log",)
    assert "author:" not in p.text and "maz" not in p.text


def test_option_filters_merge():
    p = understand("author:oupton suspend", Filters(lists=("kvmarm",)))
    assert p.filters.lists == ("kvmarm",) and p.filters.authors == ("oupton",)


def test_bad_date_is_a_query_error():
    with pytest.raises(QueryError, match="since:someday"):
        understand("since:someday vgic")


@pytest.mark.parametrize("q", ["", '"', "::", "file:x", "(", "*", "ünïcödé ☃", "a" * 5000])
def test_odd_input_never_raises(q):
    understand(q)


@pytest.mark.parametrize("q", ["file:", "vgic author:", "since: 2021"])
def test_a_filter_without_a_value_is_a_query_error(q):
    with pytest.raises(QueryError, match="needs a value"):
        understand(q)


def test_versions_the_question_names() -> None:
    from kvmsearch.query.understand import understand

    assert understand("what did v3 of the vgic series change").versions == (3,)
    assert understand("between v2 and V4, and v2 again").versions == (2, 4)
    assert understand("linux v5.10 regression, kvm-v2x").versions == ()


@pytest.mark.parametrize("q", ["kvm", "KVM support", "kvm?"])
def test_a_query_of_common_words_searches_for_them(q: str) -> None:
    # every word is filler elsewhere ("kvm" frames most questions); alone it is the
    # question, and answering nothing would be wrong
    plan = understand(q, None)
    terms = plan.words + plan.idents
    assert terms and all(w.lower() in ("kvm", "support") for w in terms)


def test_a_version_span_names_the_versions_after_the_first() -> None:
    assert understand("between v2 and v4 of the vgic series").changed_between == (3, 4)
    assert understand("what changed from v3 to v5").changed_between == (4, 5)
    assert understand("pmu v2..v4").changed_between == (3, 4)
    assert understand("v2 of the pmu series").changed_between == ()


@pytest.mark.parametrize(
    ("q", "kind"),
    [
        ("KVM_CAP_ARM_MTE", "ident"),
        ("LPA2 handling", "ident"),  # filler around an identifier
        ("series that mention user_mem_abort", "ident"),
        ("PMU tests", "prose"),  # an acronym in prose keeps both retrievers
        ("SPE support for guests", "prose"),
        ("vhost_task regressions", "prose"),
        # a question about behaviour, however few its other words
        ("when does virtio_ring use the DMA API", "prose"),
        ("how is H_ENTER_NESTED handled?", "prose"),
        ("why does KVM_ARM_VCPU_PVTIME_CTRL exist", "prose"),
        ("which series touched KVM_CAP_ARM_MTE", "ident"),
        ("what changed KVM_CAP_ARM_MTE", "ident"),
        ("POWER10 support in KVM HV", "ident"),  # acronyms alone: tried as prose, not kept
    ],
)
def test_the_identifier_route_is_for_identifier_questions(q: str, kind: str) -> None:
    assert understand(q).kind == kind


def test_a_build_files_bare_name_is_a_path_alone_and_a_word_in_prose() -> None:
    for q in ("Kconfig", "which series touched Kconfig", "Makefile (kvmtool)"):
        plan = understand(q)
        assert plan.kind == "path" and plan.paths, q
    plan = understand("virtio-mem should not default to enabled in Kconfig")
    assert plan.kind == "prose" and not plan.paths and "Kconfig" in plan.words
    # a path with a directory or an ending stays a path in prose, which keeps the prose
    # route (see test_a_path_in_prose_keeps_both_retrievers)
    plan = understand("vdpa_sim IOVA allocation in vdpa_sim.c and Kconfig")
    assert plan.kind == "prose" and plan.paths == ("vdpa_sim.c",)
    assert understand("drivers/vhost/Kconfig").paths == ("drivers/vhost/Kconfig",)


@pytest.mark.parametrize(
    ("q", "kind"),
    [
        ("which series touched drivers/vhost/adsp.c", "path"),
        ("what changed in include/kvm/arm_psci.h and why", "path"),
        ("patches modifying kvm32.c (qemu)", "path"),
        ("tools/virtio/linux/", "path"),
        ("bochs driver should include linux/module.h explicitly", "prose"),
        ("tools/virtio fails to compile because phys_addr_t and INT_MAX are missing", "prose"),
        ('arm.c "duplicated include"', "prose"),
    ],
)
def test_a_path_in_prose_keeps_both_retrievers(q: str, kind: str) -> None:
    plan = understand(q)
    assert plan.kind == kind and plan.paths, q
