"""Dense index: faiss against brute-force cosine, the embedding cache, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from fakes import FakeEmbedder, fake_version

from kvmsearch.indexer.index.chunks import chunk_versions, make_chunk
from kvmsearch.indexer.index.dense import META_FILE, EmbeddingCache, build_dense
from kvmsearch.models.errors import IndexFormatError, IndexNotFoundError
from kvmsearch.models.records import ChangelogEntry
from kvmsearch.query.dense import DenseSearcher

SERIES = [
    fake_version(
        "dbm@x",
        "KVM: arm64: Enable hardware dirty bit management for dirty logging",
        "Dirty logging write-protects every page, which is slow for large guests.\n\n"
        "With DBM the hardware sets the dirty state and the dirty log scans it.",
        changelog=[ChangelogEntry("v2", "- Scan the dirty bits in batches.")],
    ),
    fake_version(
        "steal@x",
        "KVM: arm64: Add KVM_CAP_STEAL_TIME support",
        "Guests want to know how much time was stolen by the host.\n\n"
        "This adds the paravirtualized steal time interface.",
    ),
    fake_version(
        "vgic@x",
        "KVM: arm64: vgic-v3: Fix ITS table save",
        "Saving the ITS tables could overrun the guest buffer when the collection table is full.",
    ),
    fake_version(
        "ppc@x",
        "KVM: PPC: Book3S HV: Use H_RPT_INVALIDATE for nested guests",
        "Nested guests flush the partition-scoped translations with a hypercall.",
    ),
]


def oracle(
    vectors: np.ndarray, owners: list[str], q: np.ndarray, k: int, allowed: set[str] | None = None
) -> list[tuple[str, float]]:
    """Brute force: cosine of every chunk, best chunk per version, best versions first."""
    scores = vectors @ (q / np.linalg.norm(q))
    best: dict[str, float] = {}
    for owner, s in zip(owners, scores.tolist(), strict=True):
        if allowed is not None and owner not in allowed:
            continue
        best[owner] = max(best.get(owner, -2.0), s)
    return sorted(best.items(), key=lambda kv: -kv[1])[:k]


def assert_matches(hits, expected):
    assert [h.version_id for h in hits] == [v for v, _ in expected]
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=1e-5)


@pytest.fixture
def random_index(tmp_path):
    """300 versions with 1-8 chunks each, random unit vectors, interleaved input order."""
    rng = np.random.default_rng(7)
    dim = 32
    chunks, table = [], {}
    for v in range(300):
        for o in range(int(rng.integers(1, 9))):
            text = f"chunk {v}/{o}"
            table[text] = rng.standard_normal(dim)
            chunks.append(make_chunk(f"v{v}", "motivation", o, text))
    rng.shuffle(chunks)
    emb = FakeEmbedder(dim, vectors=table)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        build_dense(tmp_path / "gen", chunks, emb, cache)
    vectors = emb.encode([c.text for c in chunks])
    return DenseSearcher(tmp_path / "gen"), vectors, [c.version_id for c in chunks], rng


@pytest.mark.parametrize("k", [1, 10, 200, 1000])
def test_search_equals_brute_force(random_index, k):
    searcher, vectors, owners, rng = random_index
    for _ in range(5):
        q = rng.standard_normal(vectors.shape[1]).astype(np.float32)
        assert_matches(searcher.search(q, k=k), oracle(vectors, owners, q, k))


@pytest.mark.parametrize("share", [0.01, 0.3, 1.0])
def test_filter_is_exact(random_index, share):
    searcher, vectors, owners, rng = random_index
    allowed = {v for v in set(owners) if rng.random() < share} | {"not-in-index"}
    q = rng.standard_normal(vectors.shape[1]).astype(np.float32)
    hits = searcher.search(q, k=20, allowed=allowed)
    assert {h.version_id for h in hits} <= allowed
    assert_matches(hits, oracle(vectors, owners, q, 20, allowed))


def test_a_version_with_many_close_chunks_does_not_crowd_out_others(tmp_path):
    rng = np.random.default_rng(3)
    q = rng.standard_normal(16)
    table, chunks = {}, []
    for o in range(500):  # far more near-duplicates of the query than any first round
        table[f"big {o}"] = q + 0.05 * rng.standard_normal(16)
        chunks.append(make_chunk("big@x", "motivation", o, f"big {o}"))
    for v in range(50):
        table[f"small {v}"] = rng.standard_normal(16)
        chunks.append(make_chunk(f"s{v}@x", "motivation", 0, f"small {v}"))
    emb = FakeEmbedder(16, vectors=table)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        build_dense(tmp_path / "g", chunks, emb, cache)
    vectors = emb.encode([c.text for c in chunks])
    owners = [c.version_id for c in chunks]
    for allowed in (None, {"big@x", "s1@x", "s2@x", "s3@x"}):
        hits = DenseSearcher(tmp_path / "g").search(q, k=10, allowed=allowed)
        assert_matches(hits, oracle(vectors, owners, q, 10, allowed))
        assert hits[0].version_id == "big@x"


def test_empty_filter_finds_nothing(random_index):
    searcher, vectors, *_ = random_index
    assert searcher.search(vectors[0], k=5, allowed=set()) == []


def test_fake_embedded_series_rank_and_explain(tmp_path):
    emb = FakeEmbedder()
    chunks = chunk_versions(SERIES, emb.count_tokens, count_many=emb.count_tokens_many)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        stats = build_dense(tmp_path / "gen", chunks, emb, cache)
    assert stats.chunks == len(chunks) and stats.embedded == stats.unique
    searcher = DenseSearcher(tmp_path / "gen")
    q = emb.encode(["dirty log DBM"])[0]
    hits = searcher.search(q, k=10)
    assert hits[0].version_id == "dbm@x"
    vectors = emb.encode([c.text for c in chunks])
    assert_matches(hits, oracle(vectors, [c.version_id for c in chunks], q, 10))
    best = next(
        c
        for c in chunks
        if c.version_id == "dbm@x" and c.field == hits[0].field and c.ordinal == hits[0].ordinal
    )
    assert searcher.text(hits[0].row) == best.text
    assert searcher.model_checksum == emb.checksum


def test_second_build_embeds_nothing_and_an_edit_only_its_chunk(tmp_path):
    emb = FakeEmbedder()
    chunks = chunk_versions(SERIES, emb.count_tokens)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        first = build_dense(tmp_path / "g1", chunks, emb, cache)
        emb.calls.clear()
        second = build_dense(tmp_path / "g2", chunks, emb, cache)
        assert emb.calls == [] and second.embedded == 0 and second.cached == first.unique

        edited = list(SERIES)
        edited[2] = fake_version("vgic@x", SERIES[2].title, "Saving the ITS tables overran.")
        chunks3 = chunk_versions(edited, emb.count_tokens)
        third = build_dense(tmp_path / "g3", chunks3, emb, cache)
    new = {c.text for c in chunks3} - {c.text for c in chunks}
    assert len(new) == 1 and emb.calls == list(new)
    assert third.embedded == 1 and third.tokens_embedded == emb.count_tokens(new.pop())


def test_identical_texts_are_embedded_once(tmp_path):
    emb = FakeEmbedder()
    chunks = [
        make_chunk("a@x", "title", 0, "Same title"),
        make_chunk("b@x", "title", 0, "Same title"),
    ]
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        stats = build_dense(tmp_path / "g", chunks, emb, cache)
    assert emb.calls == ["Same title"] and stats.chunks == 2 and stats.unique == 1
    hits = DenseSearcher(tmp_path / "g").search(emb.encode(["Same title"])[0], k=5)
    assert sorted(h.version_id for h in hits) == ["a@x", "b@x"]


def test_a_crashed_build_keeps_finished_slabs(tmp_path):
    chunks = [make_chunk(f"v{i}", "title", 0, f"title number {i}") for i in range(40)]
    crashing = FakeEmbedder(fail_after=2)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        # batch_size=2 makes slabs of 16 texts: two are stored, the third call crashes
        with pytest.raises(RuntimeError, match="simulated crash"):
            build_dense(tmp_path / "g", chunks, crashing, cache, batch_size=2)
    assert not (tmp_path / "g" / META_FILE).exists()
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        assert cache.count(crashing.checksum) == 32
        again = FakeEmbedder()
        stats = build_dense(tmp_path / "g", chunks, again, cache, batch_size=2)
    assert stats.cached == 32 and stats.embedded == 8 and len(again.calls) == 8


def test_progress_reports_embedded_texts(tmp_path):
    chunks = [make_chunk(f"v{i}", "title", 0, f"t {i}") for i in range(20)]
    seen = []
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        build_dense(
            tmp_path / "g",
            chunks,
            FakeEmbedder(),
            cache,
            batch_size=1,
            progress=lambda done, total: seen.append((done, total)),
        )
    assert seen[0] == (0, 20) and seen[-1] == (20, 20)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_cache_is_keyed_by_model(tmp_path):
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put_many("m1", [("k", np.arange(4, dtype=np.float32))])
        assert cache.get_many("m2", ["k"]) == {}
        got = cache.get_many("m1", ["k", "other"])
    assert list(got) == ["k"] and got["k"].tolist() == [0, 1, 2, 3]


def test_missing_and_foreign_indexes_raise(tmp_path):
    with pytest.raises(IndexNotFoundError, match="build the index"):
        DenseSearcher(tmp_path / "nowhere").search(np.ones(4, dtype=np.float32))
    gen = tmp_path / "g"
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        build_dense(gen, [make_chunk("a@x", "title", 0, "t")], FakeEmbedder(), cache)
    meta = json.loads((gen / META_FILE).read_text())
    (gen / META_FILE).write_text(json.dumps({**meta, "format": 999}))
    with pytest.raises(IndexFormatError, match="rebuild"):
        DenseSearcher(gen).search(np.ones(64, dtype=np.float32))


def test_imports_stay_light():
    code = (
        "import sys\n"
        "import kvmsearch.query.dense, kvmsearch.indexer.index.dense\n"
        "import kvmsearch.indexer.index.chunks\n"
        "import kvmsearch.models.embedding\n"
        "heavy = {'torch', 'faiss', 'onnxruntime', 'sentence_transformers', 'transformers'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_empty_index_answers_nothing(tmp_path):
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        stats = build_dense(tmp_path / "g", [], FakeEmbedder(), cache)
    assert stats.chunks == 0
    assert DenseSearcher(tmp_path / "g").search(np.ones(64, dtype=np.float32)) == []
