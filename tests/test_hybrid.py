"""The hybrid ranker on small hand-built generations: score fusion against a hand
computation, family collapse, single-retriever modes, path and identifier match classes,
kind filtering, filters-only queries, model mismatch."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fakes import FakeEmbedder, fake_version

from kvmsearch.indexer.index.chunks import chunk_versions
from kvmsearch.indexer.index.dense import EmbeddingCache, build_dense
from kvmsearch.indexer.index.docs import DocStore, version_digest
from kvmsearch.indexer.index.lexical import build_lexical
from kvmsearch.indexer.text import paths as pathrules
from kvmsearch.models.errors import ModelError
from kvmsearch.models.query import Filters, SearchRequest
from kvmsearch.models.records import (
    Family,
    ParseReport,
    ParseResult,
    PatchInfo,
    SeriesVersion,
)
from kvmsearch.query import lexical as lexq
from kvmsearch.query.dense import DenseSearcher
from kvmsearch.query.hybrid import HybridSearcher, Tuning, fuse
from kvmsearch.query.lexical import LexicalSearcher
from kvmsearch.query.understand import understand

# --------------------------------------------------------------------------- builders


def search(s, text: str = "", **options) -> list:
    """The searcher asked as the library asks it: one SearchRequest."""
    return s.search(SearchRequest.from_options(text, **options))


def sv(
    mid: str,
    title: str,
    motivation: str = "",
    *,
    family: str | None = None,
    kind: str = "series",
    author: str = "A U Thor <a@example.org>",
    day: int = 1,
    files: tuple[str, ...] = (),
    patches: tuple[tuple[str, str], ...] = (),
    tree: str | None = None,
) -> SeriesVersion:
    """A series version; ``patches`` are (subject, commit message) pairs touching
    ``files``."""
    infos = tuple(
        PatchInfo(f"{mid}.{i}", f"[PATCH {i}/{len(patches)}] {s}", i, body, files)
        for i, (s, body) in enumerate(patches, 1)
    )
    v = fake_version(mid, title, motivation, patches=infos)
    return replace(
        v,
        family=family or mid,
        kind=kind,
        author=author,
        author_addr=author.rsplit("<", 1)[-1].rstrip(">"),
        tree=tree,
        date=datetime(2021, 1, day, tzinfo=UTC),
        cover=replace(v.cover, files=files if not patches else ()),
    )


def generation(tmp: Path, versions: list[SeriesVersion]) -> SimpleNamespace:
    """docs, lexical and dense parts of one generation, as the build writes them."""
    d = tmp / "gen"
    d.mkdir()
    fams: dict[str, list[SeriesVersion]] = {}
    for v in versions:
        fams.setdefault(v.family, []).append(v)
    families = tuple(
        Family(f, tuple(x.message_id for x in sorted(vs, key=lambda x: x.date)))
        for f, vs in fams.items()
    )
    DocStore.write(
        d / "docs.sqlite",
        ParseResult(tuple(versions), families, ParseReport()),
        {v.message_id: version_digest(v) for v in versions},
    )
    build_lexical(d / "lexical", versions)
    emb = FakeEmbedder()
    chunks = chunk_versions(versions, emb.count_tokens, count_many=emb.count_tokens_many)
    with EmbeddingCache(tmp / "cache.sqlite") as cache:
        build_dense(d, chunks, emb, cache)
    return SimpleNamespace(
        dir=d,
        docs_path=d / "docs.sqlite",
        lexical_dir=d / "lexical",
        manifest=SimpleNamespace(onnx=None),
    )


@pytest.fixture
def searcher(tmp_path):
    opened: list[HybridSearcher] = []

    def make(*versions: SeriesVersion, embedder=FakeEmbedder) -> HybridSearcher:
        s = HybridSearcher(
            tmp_path, generation(tmp_path, list(versions)), embedder_factory=embedder
        )
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


def fams(hits) -> list[str]:
    return [h.family for h in hits]


CORPUS = [
    sv(
        "dbm@x",
        "KVM: arm64: Support HW dirty log based on DBM",
        "Use the hardware dirty bit management to track dirty pages during migration.",
    ),
    sv(
        "dbm2@x",
        "KVM: arm64: Support stage2 hardware DBM",
        "Stage 2 page tables get the dirty bit set by hardware.",
        day=5,
    ),
    sv(
        "ptp1@x",
        "ptp_kvm: Enable ptp_kvm for arm64",
        "Guest PTP clock from the host. dirty",
        family="ptp1@x",
        day=2,
    ),
    sv(
        "ptp2@x",
        "ptp_kvm: Enable ptp_kvm for arm64",
        "Guest PTP clock from the host. dirty",
        family="ptp1@x",
        day=3,
    ),
    sv(
        "ptp3@x",
        "ptp_kvm: Enable ptp_kvm for arm64",
        "Guest PTP clock from the host, v3. dirty",
        family="ptp1@x",
        day=4,
    ),
    sv(
        "its@x",
        "KVM: arm64: vgic-v3: Fix ITS table save",
        "Saving the ITS tables could overrun the guest buffer.",
        author="Marc <maz@kernel.org>",
        day=6,
    ),
    sv(
        "pull@x",
        "KVM/arm64 fixes for 5.10: dirty log DBM",
        "dirty log DBM dirty log DBM",
        kind="pull",
        author="Marc <maz@kernel.org>",
        day=7,
    ),
    sv(
        "stable@x",
        "KVM: arm64: Support HW dirty log based on DBM (backport)",
        "dirty log DBM",
        kind="stable",
        day=8,
    ),
    sv(
        "vgicv4@x",
        "KVM: arm64: GICv4.1 doorbells",
        "Direct injection of vLPIs with GICv4.1.",
        author="Marc <maz@kernel.org>",
        day=9,
    ),
]


# --------------------------------------------------------------------------- fusion


def test_fuse_by_hand() -> None:
    got = fuse({"a": 10.0, "b": 5.0}, {"a": 0.3, "c": 0.6}, w_dense=0.5, floor=0.2)
    # lexical / best lexical; (cosine - floor) / (best cosine - floor); 0 where missing
    assert got == pytest.approx({"a": 0.5 * 1.0 + 0.5 * 0.25, "b": 0.5 * 0.5, "c": 0.5 * 1.0})
    assert fuse({"a": 1.0}, {"a": 0.1}, 0.5, 0.2) == {"a": 0.5}  # below the floor: nothing
    assert fuse({}, {"c": 0.6}, 0.3, 0.2) == pytest.approx({"c": 0.3})
    # the best cosine below what a match scores: scaled as if the match were there
    got = fuse({"a": 10.0}, {"a": 0.4, "c": 0.5}, 0.5, 0.2, match=0.6)
    assert got == pytest.approx({"a": 0.5 + 0.5 * 0.5, "c": 0.5 * 0.75})
    # at or above it: the best is 1, as without
    assert fuse({}, {"c": 0.7}, 0.5, 0.2, match=0.6) == pytest.approx({"c": 0.5})


def oracle(gen_dir: Path, plan, allowed: set[str], tuning: Tuning) -> dict[str, float]:
    """The fused family scores computed by hand from the two retrievers' raw outputs:
    lexical BM25 from the lexical searcher, cosine of every chunk by brute force."""
    with LexicalSearcher(gen_dir / "lexical") as lex:
        lexical = {h.message_id: h.score for h in lex.search(plan.lex_text, limit=100, mode="or")}
    d = DenseSearcher(gen_dir)
    d.load()
    vectors = d._index.reconstruct_n(0, len(d))
    q = FakeEmbedder().encode([plan.dense_text])[0]
    cos: dict[str, float] = {}
    for row, s in enumerate((vectors @ q).tolist()):
        v = d.meta["versions"][int(d._rows[row, 0])]
        if v in allowed:
            cos[v] = max(cos.get(v, -1.0), s)
    family = {v.message_id: v.family for v in CORPUS}
    lex_f: dict[str, float] = {}
    dense_f: dict[str, float] = {}
    for v, s in lexical.items():
        if v in allowed:
            lex_f[family[v]] = max(lex_f.get(family[v], 0.0), s)
    for v, s in cos.items():
        dense_f[family[v]] = max(dense_f.get(family[v], -1.0), s)
    top_l, top_d = max(lex_f.values()), max(*dense_f.values(), tuning.dense_match)
    out = {}
    for f in lex_f.keys() | dense_f.keys():
        ln = lex_f.get(f, 0.0) / top_l
        dn = (
            max(0.0, (dense_f[f] - tuning.dense_floor) / (top_d - tuning.dense_floor))
            if f in dense_f
            else 0.0
        )
        s = (1 - tuning.w_dense) * ln + tuning.w_dense * dn
        if s > 0:
            out[f] = s
    return out


@pytest.mark.parametrize(
    "query",
    [
        "dirty log DBM",
        "guest clock from the host",
        "which series fixed saving the ITS tables and why?",
    ],
)
def test_hybrid_scores_are_the_hand_computed_fusion(searcher, query) -> None:
    s = searcher(*CORPUS)
    hits = search(s, query, limit=20)
    series = {v.message_id for v in CORPUS if v.kind == "series"}
    want = oracle(s.gen.dir, understand(query), series, s.tuning)
    top = want[hits[0].family]
    assert {h.family: h.score for h in hits} == pytest.approx(
        {f: round(x / top, 6) for f, x in want.items()}, abs=2e-6
    )
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_weight_moves_the_fusion(searcher) -> None:
    s = searcher(*CORPUS)
    s.tuning.w_dense = 0.0
    fused = search(s, "dirty log DBM", limit=20)
    lexical = search(s, "dirty log DBM", limit=20, mode="lexical")
    assert fams(fused) == fams(lexical)
    assert [h.score for h in fused] == pytest.approx(
        [round(h.score / lexical[0].score, 6) for h in lexical], abs=2e-6
    )
    s.tuning.w_dense = 1.0  # the dense order, without what lies below the floor
    dense = search(s, "dirty log DBM", limit=20, mode="semantic", explain=True)
    assert fams(search(s, "dirty log DBM", limit=20)) == [
        h.family for h in dense if h.explain["fused"] > s.tuning.dense_floor
    ]


# --------------------------------------------------------------------------- families


def test_family_is_one_hit_with_every_version_and_no_count_bonus(searcher) -> None:
    s = searcher(*CORPUS)
    for mode in ("hybrid", "lexical", "semantic"):
        hits = search(s, "ptp_kvm arm64 guest clock", limit=20, mode=mode, explain=True)
        assert fams(hits).count("ptp1@x") == 1
        ptp = hits[fams(hits).index("ptp1@x")]
        assert {v.message_id for v in ptp.versions} == {"ptp1@x", "ptp2@x", "ptp3@x"}
        assert ptp.versions[0].message_id == "ptp3@x"  # newest first
    split = search(s, "ptp_kvm arm64 guest clock", limit=20, all_versions=True)
    assert sorted(h.versions[0].message_id for h in split if h.family == "ptp1@x") == [
        "ptp1@x",
        "ptp2@x",
        "ptp3@x",
    ]


@pytest.mark.parametrize("mode", ["lexical", "semantic", "hybrid"])
def test_many_weak_versions_do_not_outrank_one_strong_match(searcher, mode) -> None:
    # ptp_kvm's three versions each mention "dirty" once; one retriever alone used to
    # rank by rank-fusion plus a bonus per version, which put ptp_kvm first
    s = searcher(*CORPUS)
    hits = search(s, "dirty log DBM", limit=10, mode=mode, explain=True)
    assert hits[0].family in ("dbm@x", "dbm2@x")
    assert fams(hits).index("ptp1@x") > fams(hits).index("dbm@x")
    if mode != "hybrid":  # one retriever: its own scores, in order, scaled to the best
        key = "lexical" if mode == "lexical" else "dense"
        raw = [h.explain[key] for h in hits]
        assert [h.score for h in hits] == pytest.approx([r / raw[0] for r in raw], abs=1e-4)


# --------------------------------------------------------------------------- paths


PATHS = [
    # long, many files: BM25 alone ranks it below the short one-file series
    sv(
        "exact@x",
        "KVM: arm64: Rework steal time",
        "Steal time rework.",
        files=(
            "arch/arm64/kvm/pvtime.c",
            "arch/arm64/kvm/arm.c",
            "arch/arm64/kvm/hyp/x.c",
            "include/kvm/arm_hypercalls.h",
            "arch/arm64/include/asm/kvm_host.h",
        ),
        patches=(("KVM: arm64: pvtime rework", "Rework."),),
    ),
    sv(
        "bare@x",
        "arm64: Add stolen time support (kvmtool)",
        "pvtime.c pvtime.c",
        files=("arm/aarch64/pvtime.c",),
        patches=(("pvtime", "pvtime.c added."),),
        tree="kvmtool",
    ),
    sv(
        "dir@x",
        "KVM: arm64: Fix the arch timer",
        "Timer fix.",
        files=("arch/arm64/kvm/arch_timer.c",),
        patches=(("timer", "Fix."),),
    ),
    sv(
        "other@x",
        "vhost: fix ring",
        "Ring.",
        files=("drivers/vhost/vhost.c",),
        patches=(("vhost", "Fix."),),
    ),
]


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_exact_path_then_directory_then_bare_name(searcher, mode) -> None:
    s = searcher(*PATHS)
    assert fams(search(s, "arch/arm64/kvm/pvtime.c", mode=mode)) == ["exact@x", "bare@x"]
    assert fams(search(s, "which series touched arch/arm64/kvm/pvtime.c and why", mode=mode)) == [
        "exact@x",
        "bare@x",
    ]
    assert set(fams(search(s, "arch/arm64/kvm/", mode=mode))) == {"exact@x", "dir@x"}
    assert fams(search(s, "pvtime.c", mode=mode))[:2] == ["bare@x", "exact@x"]
    # a tree named in brackets goes first within one match class
    assert fams(search(s, "pvtime.c (kvmtool)", mode=mode))[0] == "bare@x"


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_the_other_words_order_patches_that_touch_one_file_alike(searcher, mode) -> None:
    # one-file patches to arm.c score alike on the path; the words decide, not the id
    one = ("virt/kvm/arm/arm.c",)
    s = searcher(
        sv("a@x", "KVM: arm: get rid of an unused arg", "The dummy arg is unused.", files=one),
        sv("b@x", "KVM: arm: call hyp_cpu_pm_exit at the right place", "Move it.", files=one),
        sv("z@x", "KVM: arm: remove duplicated include", "Remove duplicated include.", files=one),
    )
    assert fams(search(s, "remove a duplicated include from arm.c", mode=mode))[0] == "z@x"


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_the_identifiers_a_path_question_names_order_it_too(searcher, mode) -> None:
    # as the other words do: the two names tell which of two build fixes is meant
    tv = ("tools/virtio/linux/kernel.h",)
    s = searcher(
        sv("k@x", "tools/virtio: fix the build", "The build fails: kmsan is missing.", files=tv),
        sv("p@x", "tools/virtio: define two types", "Define phys_addr_t and INT_MAX.", files=tv),
    )
    hits = search(s, "tools/virtio fails without phys_addr_t and INT_MAX", mode=mode)
    assert fams(hits)[0] == "p@x"


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_match_class_outranks_a_higher_score(searcher, monkeypatch, mode) -> None:
    # weigh the bare-name form far above the exact path, so that BM25 alone would put
    # the kvmtool file first: the match class must still win
    tiers = {pathrules.PATH_FULL: 3, pathrules.PATH_DIR: 2, 50.0: 1}
    monkeypatch.setattr(pathrules, "PATH_BASE", 50.0)
    monkeypatch.setattr(lexq, "PATH_TIERS", tiers)
    s = searcher(*PATHS)
    hits = search(s, "arch/arm64/kvm/pvtime.c", mode=mode, explain=True)
    assert fams(hits) == ["exact@x", "bare@x"]
    assert hits[0].explain["lexical"] < hits[1].explain["lexical"]
    assert [h.message_id for h in s.lex.search_paths(["arch/arm64/kvm/pvtime.c"])] == [
        "exact@x",
        "bare@x",
    ]


def test_path_tiers_come_from_the_lexical_side(tmp_path) -> None:
    build_lexical(tmp_path / "lex", PATHS)
    with LexicalSearcher(tmp_path / "lex") as lex:
        tiers = {h.message_id: h.tier for h in lex.search_paths(["arch/arm64/kvm/pvtime.c"])}
        assert tiers == {"exact@x": 3, "bare@x": 1}
        assert {h.message_id: h.tier for h in lex.search_paths(["arch/arm64/kvm/"])} == {
            "exact@x": 2,
            "dir@x": 2,
        }
        # two paths: the classes add up
        both = lex.search_paths(["arch/arm64/kvm/pvtime.c", "drivers/vhost/"])
        assert {h.message_id: h.tier for h in both} == {"exact@x": 3, "bare@x": 1, "other@x": 2}


def test_path_and_identifier_queries_never_load_the_model(searcher) -> None:
    def refuse() -> FakeEmbedder:
        raise AssertionError("the model was loaded")

    s = searcher(*PATHS, *CORPUS[:2], embedder=refuse)
    assert search(s, "arch/arm64/kvm/pvtime.c")
    assert search(s, "DBM")
    with pytest.raises(Exception, match="model was loaded"):  # a prose query does load it
        search(s, "dirty log DBM")


# --------------------------------------------------------------------------- identifiers


def test_exact_identifier_spelling_ranks_first(searcher) -> None:
    s = searcher(
        sv("exact@x", "KVM: arm64: misc", "Long text. " * 30 + "Expose KVM_CAP_STEAL_TIME."),
        sv("lower@x", "KVM: steal time", "kvm_cap_steal_time kvm_cap_steal_time."),
    )
    hits = search(s, "KVM_CAP_STEAL_TIME", explain=True)
    assert fams(hits) == ["exact@x", "lower@x"]
    assert [h.explain["tier"] for h in hits] == [1, 0]


def test_an_identifier_nobody_wrote_is_answered_by_its_parts(searcher) -> None:
    s = searcher(
        # the UAPI name is only in the diff; the series speaks of "pvtime"
        sv("pvtime@x", "KVM: arm64: Stolen time support", "Expose the pvtime structure."),
        sv("other@x", "KVM: arm64: vgic fixes", "Fix the vgic."),
        sv("exact@x", "KVM: arm64: misc", "Expose KVM_CAP_STEAL_TIME."),
        sv("words@x", "KVM: steal time", "Steal time for guests."),
    )
    first = search(s, "KVM_ARM_VCPU_PVTIME_CTRL")[0]
    assert first.family == "pvtime@x"
    # its why line is the sentence about the parts, and marks them
    assert first.why == ("Expose the pvtime structure.",) and first.terms == ("PVTIME",)
    # an identifier some series spells is answered by its spelling alone
    (spelled,) = search(s, "KVM_CAP_STEAL_TIME")
    assert spelled.family == "exact@x" and spelled.terms == ("KVM_CAP_STEAL_TIME",)


def test_an_unspelled_identifiers_evidence_skips_its_common_parts(searcher, monkeypatch) -> None:
    # KVM, ARM and VCPU are in most documents here: a sentence full of them says
    # nothing about PVTIME
    monkeypatch.setattr(lexq, "_COMMON_MIN_DOCS", 1)
    monkeypatch.setattr(lexq, "_COMMON_FRACTION", 0.5)
    filler = [sv(f"f{i}@x", f"KVM: arm64: fix {i}", "The KVM arm vcpu code.") for i in range(5)]
    s = searcher(
        sv(
            "pvtime@x",
            "KVM: arm64: Stolen time support",
            "The KVM arm vcpu code runs KVM arm vcpu paths. Expose the pvtime structure.",
        ),
        *filler,
    )
    first = search(s, "KVM_ARM_VCPU_PVTIME_CTRL")[0]
    assert first.family == "pvtime@x"
    assert first.why == ("Expose the pvtime structure.",) and first.terms == ("PVTIME",)


# --------------------------------------------------------------------------- filters


@pytest.mark.parametrize("mode", ["hybrid", "lexical", "semantic"])
def test_pulls_and_stable_backports_only_when_asked(searcher, mode) -> None:
    s = searcher(*CORPUS)
    got = fams(search(s, "dirty log DBM", limit=50, mode=mode))
    assert "pull@x" not in got and "stable@x" not in got
    assert fams(search(s, "dirty log DBM", limit=50, mode=mode, kind="pull")) == ["pull@x"]


def test_filters_alone_list_series_newest_first(searcher) -> None:
    s = searcher(*CORPUS)
    assert fams(search(s, "", author="maz")) == ["vgicv4@x", "its@x"]  # no pull
    assert fams(search(s, "author:maz kind:pull")) == ["pull@x"]
    # one hit per family, newest version first
    got = search(s, "", since="2021-01-02", until="2021-01-04")
    assert fams(got) == ["ptp1@x"] and got[0].versions[0].message_id == "ptp3@x"
    assert len(search(s, "", since="2021-01-01", all_versions=True, limit=50)) == 7
    assert search(s, "") == [] and search(s, "", author="nobody") == []


def test_filters_apply_inside_dense_retrieval(searcher) -> None:
    s = searcher(*CORPUS)
    s.tuning.pool = s.tuning.depth_per_hit = 1  # one candidate: a post-filter would find
    hits = search(s, "dirty log DBM", mode="semantic", author="maz", limit=1)  # nothing
    assert fams(hits) == ["its@x"] or fams(hits) == ["vgicv4@x"]


def test_slash_alternatives_are_words(searcher) -> None:
    s = searcher(*CORPUS)
    assert fams(search(s, "GICv4/GICv4.1 direct injection", mode="lexical"))[0] == "vgicv4@x"


def test_a_spelled_out_acronym_finds_series_that_only_abbreviate(searcher) -> None:
    corpus = [
        sv("def1@x", "KVM: arm64: PMUv3 emulation", "The Performance Monitoring Unit (PMU)."),
        sv("def2@x", "KVM: arm64: PMU events", "Filter Performance Monitoring Unit (PMU) events."),
        sv(
            "trap@x",
            "KVM: arm64: Only trap PMU registers when there is a PMU",
            "Setting up traps touched PMU registers on CPUs without one.",
        ),
        sv(
            "other@x",
            "KVM: arm64: Fix trap setup for debug registers on CPUs",
            "Trap setup touched debug registers.",
        ),
    ]
    s = searcher(*corpus)
    q = "KVM touching performance-monitor registers on CPUs that lack them"
    assert fams(search(s, q, mode="lexical"))[0] == "trap@x"


# --------------------------------------------------------------------------- model


def test_another_model_asks_for_a_rebuild(searcher) -> None:
    s = searcher(*CORPUS, embedder=lambda: FakeEmbedder(dim=32))
    with pytest.raises(ModelError, match="rebuild"):
        search(s, "dirty log DBM")
    assert search(s, "DBM")  # the lexical side still answers identifiers


def test_dense_search_with_a_wrong_vector_is_a_model_error(searcher) -> None:
    s = searcher(*CORPUS)
    with pytest.raises(ModelError, match="kvmsearch rebuild"):
        s.dense.search(np.ones(8, dtype=np.float32), k=3)


def test_allowed_filter_is_cached_per_filter(searcher) -> None:
    s = searcher(*CORPUS)
    search(s, "dirty log DBM")
    search(s, "guest clock")
    assert s.filters.cached() == [Filters()]
    assert len(s.dense._masks) == 1


# --------------------------------------------------------------------------- depth


class _SpyLexical:
    """A fake lexical retriever that records the depth it was asked for and answers
    with the first ``depth`` of a fixed ranking (named as a fake: unit tests only)."""

    def __init__(self, ranking: list[str]) -> None:
        self.ranking = ranking
        self.depths: list[int] = []

    def search(self, text, *, limit=100, allowed=None, **_kw):
        from kvmsearch.query.retrievers import LexHit

        self.depths.append(limit)
        ids = [m for m in self.ranking if allowed is None or m in allowed]
        return [LexHit(m, m, float(len(ids) - i)) for i, m in enumerate(ids[:limit])]

    def acronyms_for(self, text):
        return []

    def spellings_for(self, text):
        return []

    def is_common(self, word):
        return False

    def close(self):
        pass


def test_retrieval_depth_follows_the_limit(searcher) -> None:
    many = [sv(f"s{i}@x", f"KVM: vgic fix {i}", "vgic", day=1 + i % 28) for i in range(40)]
    s = searcher(*many)
    s.tuning.pool, s.tuning.depth_per_hit = 5, 1
    spy = _SpyLexical([v.message_id for v in many])
    s._lex = spy
    assert len(search(s, "vgic", limit=3, mode="lexical")) == 3
    assert spy.depths == [5]  # the tuned pool is enough for 3 hits
    spy.depths.clear()
    assert len(search(s, "vgic", limit=30, mode="lexical")) == 30
    assert spy.depths == [5, 30]  # the pool first, then deeper for a longer list
    spy.depths.clear()
    # more hits than exist: it looks deeper until the retriever has nothing more
    assert len(search(s, "vgic", limit=100, mode="lexical")) == 40
    assert spy.depths[-1] > 40


@pytest.mark.parametrize("mode", ["hybrid", "lexical", "semantic"])
def test_a_longer_list_is_the_shorter_one_continued(searcher, mode) -> None:
    # fused scores depend on which candidates each side found: a deeper pool ranked
    # afresh put other series first
    many = [
        sv(f"s{i}@x", f"KVM: vgic {'fix ' * (i % 5)}{i}", f"vgic its lpi {'irq ' * (i % 7)}")
        for i in range(40)
    ]
    s = searcher(*many)
    s.tuning.pool, s.tuning.depth_per_hit = 6, 1
    short = [h.series for h in search(s, "vgic its irq", limit=4, mode=mode)]
    long = [h.series for h in search(s, "vgic its irq", limit=30, mode=mode)]
    assert len(short) == 4 and len(long) == 30 and len(set(long)) == 30
    assert long[:4] == short


def test_limit_beyond_the_pool_returns_that_many_series(searcher) -> None:
    many = [sv(f"s{i}@x", f"KVM: vgic fix {i}", "vgic", day=1 + i % 28) for i in range(40)]
    s = searcher(*many)
    s.tuning.pool, s.tuning.depth_per_hit = 4, 1
    for mode in ("hybrid", "lexical"):
        assert len(search(s, "vgic", limit=25, mode=mode)) == 25, mode


@pytest.mark.parametrize(
    ("part", "query"),
    [
        ("lexical/_MAIN_1.toc", "dirty log DBM"),
        ("lexical/_MAIN_1.toc", "KVM_CAP_STEAL_TIME"),
        ("dense_text_offsets.npy", "dirty log DBM"),
        ("dense_rows.npy", "dirty log DBM"),
    ],
)
def test_a_damaged_part_is_one_index_error(searcher, part: str, query: str) -> None:
    from kvmsearch.models.errors import IndexFormatError

    s = searcher(*CORPUS)
    target = s.gen.dir / part
    if not target.exists():  # whoosh numbers its table of contents
        target = next((s.gen.dir / "lexical").glob("_MAIN_*.toc"))
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(IndexFormatError, match="damaged.*kvmsearch rebuild"):
        search(s, query)


def test_display_scores_are_one_scale_in_rank_order() -> None:
    from kvmsearch.query.hybrid import display_scores

    # BM25-sized scores, a better match class ranked before a higher raw score
    assert display_scores([24.75, 24.86, 12.0]) == pytest.approx([1.0, 1.0, 12.0 / 24.75], abs=1e-6)
    assert display_scores([0.8, 0.4]) == [1.0, 0.5]
    assert display_scores([0.0, 0.0]) == [0.0, 0.0] and display_scores([]) == []


def test_the_gil_handoff_is_short_only_while_both_retrievers_run(searcher, monkeypatch) -> None:
    import sys

    from kvmsearch.query import hybrid

    seen: list[float] = []
    real = hybrid.HybridSearcher.lexical_hits

    def spy(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(sys.getswitchinterval())
        return real(self, *a, **k)

    monkeypatch.setattr(hybrid.HybridSearcher, "lexical_hits", spy)
    s = searcher(sv("a@x", "Dirty page logging", "Log dirty pages for migration."))
    before = sys.getswitchinterval()
    search(s, "dirty page logging for migration", mode="hybrid")
    search(s, "dirty page logging for migration", mode="lexical")
    # prose in hybrid mode: the dense thread works beside (Python keeps microseconds)
    assert seen == [pytest.approx(hybrid._HANDOFF_S), before]
    assert sys.getswitchinterval() == before
