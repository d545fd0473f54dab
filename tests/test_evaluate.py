"""Metrics against numbers computed by hand."""

import math

import pytest

from kvmsearch.models.errors import QueryError
from kvmsearch.query.evaluate import JudgedQuery, evaluate, load_queries, score_query

FAM = {"a1": "A", "a2": "A", "A": "A", "b1": "B", "B": "B", "c1": "C", "x": "X"}


def fam(mid):
    return FAM.get(mid)


def test_first_hit_relevant():
    s = score_query([["a1"], ["x"]], ["A"], fam)
    assert s == {"mrr": 1.0, "recall": 1.0, "ndcg": 1.0, "success1": 1.0}


def test_second_rank_and_partial_recall():
    s = score_query([["x"], ["<b1>"], ["x"]], ["A", "B"], fam)
    assert s["mrr"] == 0.5
    assert s["recall"] == 0.5
    assert s["success1"] == 0.0
    ideal = 1 + 1 / math.log2(3)
    assert s["ndcg"] == pytest.approx((1 / math.log2(3)) / ideal)


def test_family_credited_once_and_multi_id_hit():
    # the second hit repeats family A: adds nothing; the third hit's ids cover X then B
    s = score_query([["a1"], ["a2"], ["x", "b1"]], ["A", "B"], fam)
    ideal = 1 + 1 / math.log2(3)
    assert s["ndcg"] == pytest.approx((1 + 1 / math.log2(4)) / ideal)
    assert s["recall"] == 1.0


def test_cutoff_at_ten():
    hits = [["x"]] * 10 + [["a1"]]
    assert score_query(hits, ["A"], fam)["mrr"] == 0.0


def test_missing_query_scores_zero_and_macro_average():
    qs = [JudgedQuery("q1", "path", "p", ("A",)), JudgedQuery("q2", "ident", "i", ("B",))]
    rep = evaluate(qs, {"q1": [["a1"]]}, fam)
    assert rep.by_kind["path"]["ndcg"] == 1.0
    assert rep.by_kind["ident"]["ndcg"] == 0.0
    assert rep.by_kind["overall"]["mrr"] == 0.5
    assert rep.counts == {"path": 1, "ident": 1, "overall": 2}


def test_load_queries_bad_line(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text('{"qid": "a", "query": "x", "relevant": []}\nnot json\n')
    with pytest.raises(QueryError, match=":2:"):
        load_queries(p)


def test_judged_root_credited_even_if_our_family_merged_it():
    # We grouped B's root into family A; the judges keep B separate: the id counts for B.
    merged = {"a1": "A", "B": "A"}
    s = score_query([["a1", "B"]], ["B"], merged.get)
    assert s["success1"] == 1.0
