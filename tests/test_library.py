"""`import kvmsearch` as a library: typed hits, errors instead of output, no heavy imports."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from fakes import FakeEmbedder
from sample_index import (
    DBM,
    HEAVY,
    PTP_FAMILY,
    STEAL_TIME,
    VIRTIO_BT_FAMILY,
    VIRTIO_BT_V2,
    VIRTIO_BT_V2_PATCH,
    build_index,
)

import kvmsearch
from kvmsearch import Hit, Index, VersionRef


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_index(tmp_path_factory.mktemp("library") / "index")


@pytest.fixture
def idx(index_dir: Path):  # noqa: ANN201
    with Index.open(index_dir, embedder_factory=FakeEmbedder) as i:
        yield i


def test_search_returns_typed_hits_and_prints_nothing(idx: Index, capsys) -> None:
    hits = idx.search("dirty log DBM", limit=5, author="zhukeqian")
    assert len(hits) == 1
    h = hits[0]
    assert isinstance(h, Hit) and h.family == DBM
    assert all(isinstance(v, VersionRef) for v in h.versions)
    assert isinstance(h.versions[0].date, datetime)
    assert isinstance(h.score, float) and h.why and isinstance(h.why[0], str)
    assert "dirty" in (s.lower() for s in h.terms)
    assert capsys.readouterr() == ("", "")


def test_top_level_import_is_the_whole_story(index_dir: Path, capsys) -> None:
    hits = kvmsearch.Index.open(index_dir, embedder_factory=FakeEmbedder).search(
        "KVM_CAP_STEAL_TIME", limit=5
    )
    assert hits[0].family == STEAL_TIME
    assert capsys.readouterr() == ("", "")


def test_limit_modes_and_explain(idx: Index) -> None:
    for mode in ("hybrid", "lexical", "semantic"):
        hits = idx.search("virtio vhost", limit=3, mode=mode, explain=True)
        assert 0 < len(hits) <= 3
        assert all(h.explain and "fused" in h.explain for h in hits)
    assert all(h.explain is None for h in idx.search("virtio", limit=3))


def test_list_filter_keyword(idx: Index) -> None:
    # `list` is a builtin name, but it is what users call the filter.
    hits = idx.search("virtio", limit=50, list="virtualization")
    assert hits and all(any("virtualization" in x for x in h.lists) for h in hits)


def test_filters_are_applied_inside_retrieval(idx: Index) -> None:
    """With one candidate per retriever, a post-filter would find nothing; a filter
    applied inside retrieval still finds the one series that passes."""
    searcher = idx.searcher()
    old = searcher.tuning.pool, searcher.tuning.depth_per_hit
    searcher.tuning.pool = searcher.tuning.depth_per_hit = 1
    try:
        top = idx.search("device", limit=1, mode="lexical")
        hits = idx.search("device", limit=1, mode="lexical", author="Skalkin")
    finally:
        searcher.tuning.pool, searcher.tuning.depth_per_hit = old
    assert top and top[0].family != VIRTIO_BT_FAMILY
    assert [h.family for h in hits] == [VIRTIO_BT_FAMILY]


def test_all_versions(idx: Index) -> None:
    collapsed = [h for h in idx.search("ptp_kvm arm64", limit=50) if h.family == PTP_FAMILY]
    versions = [
        h
        for h in idx.search("ptp_kvm arm64", limit=50, all_versions=True)
        if h.family == PTP_FAMILY
    ]
    # four postings of one lineage in the sample; v10 renamed it "for arm/arm64", so it
    # is a series (a hit) of its own in the same family
    assert sorted(len(h.versions) for h in collapsed) == [1, 3]
    assert {h.family_versions for h in collapsed} == {4}
    assert {h.series for h in collapsed} == {
        PTP_FAMILY,
        "20200210084906.24870-1-jianyong.wu@arm.com",
    }
    assert len(versions) == 4 and all(len(h.versions) == 1 for h in versions)


def test_show_any_id(idx: Index) -> None:
    for any_id in (VIRTIO_BT_V2_PATCH, VIRTIO_BT_V2, VIRTIO_BT_FAMILY):
        versions = idx.show(any_id)
        assert [v.message_id for v in versions] == [VIRTIO_BT_V2, VIRTIO_BT_FAMILY]
        assert isinstance(versions[0], kvmsearch.SeriesVersion)


def test_errors_are_raised_not_printed(idx: Index, tmp_path: Path, capsys) -> None:
    with pytest.raises(kvmsearch.NotFoundError, match="nope@example.org"):
        idx.show("nope@example.org")
    with pytest.raises(kvmsearch.QueryError, match="fuzzy"):
        idx.search("x", mode="fuzzy")
    with pytest.raises(kvmsearch.QueryError, match="since"):
        idx.search("x", since="someday")
    with pytest.raises(TypeError, match="colour"):  # typed keywords, as Python checks them
        idx.search("x", colour="red")  # type: ignore[call-arg]
    with pytest.raises(kvmsearch.IndexNotFoundError, match="kvmsearch index add"):
        Index.open(tmp_path / "none")
    assert capsys.readouterr() == ("", "")


def test_odd_queries_do_not_raise(idx: Index) -> None:
    for q in (
        "",
        "   ",
        '"',
        "((",
        "***",
        "a" * 1000,
        "caf\udce9 vgic",  # a byte that was not UTF-8, as a shell hands it over
        "\x00\x1b[2J",
        "KVM_",
        "/",
        "./",
        "drivers/",
        "\u202e",
    ):
        for mode in ("hybrid", "lexical"):
            assert isinstance(idx.search(q, limit=3, mode=mode), list)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("author:", "author: needs a value"),
        ("file: vgic", "file: needs a value"),
        ("a" * 1001, "limit is 1000"),
        ("arch/ " * 40_000, "limit is 1000"),
    ],
)
def test_queries_that_cannot_mean_anything_say_so(idx: Index, query: str, says: str) -> None:
    with pytest.raises(kvmsearch.QueryError, match=says):
        idx.search(query)


def test_lexical_search_through_the_library_stays_light(index_dir: Path) -> None:
    code = (
        "import sys, kvmsearch\n"
        f"idx = kvmsearch.Index.open({str(index_dir)!r})\n"
        "assert idx.search('drivers/vhost/', limit=3)\n"
        "assert idx.search('KVM_CAP_STEAL_TIME', limit=3)\n"
        "assert idx.search('dirty log', limit=3, mode='lexical')\n"
        "print(' '.join(sys.modules))\n"
    )
    mods = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "kvmsearch.query.lexical" in mods
    assert not [m for m in HEAVY if m in mods]
