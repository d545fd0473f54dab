"""The faster ArrayUnionMatcher walk (indexer.index.whoosh_speed) gives whoosh's own
results: the same documents, scores and order, on random postings and random Or
queries, including filtered and quality-skipping top-N searches."""

from __future__ import annotations

import random
from pathlib import Path

from kvmsearch.indexer.index.whoosh_speed import ORIGINAL, speed_up_whoosh


def test_same_results_as_whoosh(tmp_path: Path) -> None:
    from whoosh import fields, index
    from whoosh import query as wq
    from whoosh.matching import combo

    rnd = random.Random(5)
    words = [f"w{i}" for i in range(60)]
    ix = index.create_in(str(tmp_path), fields.Schema(id=fields.ID(stored=True), t=fields.TEXT))
    w = ix.writer()
    # 4,500 documents: three 2,048-document blocks, some long gaps with no match
    for d in range(4500):
        k = rnd.choice((0, 0, 1, 3, 8))
        w.add_document(id=str(d), t=" ".join(rnd.choice(words) for _ in range(k)) or "none")
    w.commit()
    m = combo.ArrayUnionMatcher
    speed_up_whoosh()  # once per process; earlier tests may have done it
    original = (ORIGINAL["_read_part"], ORIGINAL["_find_next"], ORIGINAL["block_quality"])
    fast = (m._read_part, m._find_next, m.block_quality)
    assert fast[0] is not original[0] and fast[2] is not original[2]

    def results(methods, q, **kw):
        m._read_part, m._find_next, m.block_quality = methods
        with ix.searcher() as s:
            return [(h.docnum, h.score) for h in s.search(q, **kw)]

    try:
        for _ in range(60):
            terms = [wq.Term("t", t) for t in rnd.sample(words, rnd.randint(3, 7))]
            q = wq.Or(terms)
            allow = {rnd.randrange(4500) for _ in range(300)}
            for kw in (
                {"limit": 10},
                {"limit": 300},
                {"limit": None},
                {"limit": 50, "filter": allow},
            ):
                assert results(original, q, **kw) == results(fast, q, **kw), (q, kw)
            # an And over an Or exercises skip_to
            both = wq.And([q, wq.Term("t", rnd.choice(words))])
            assert results(original, both, limit=20) == results(fast, both, limit=20)
    finally:
        m._read_part, m._find_next, m.block_quality = fast
