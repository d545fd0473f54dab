"""Relevance metrics over judged queries (format: ../shared/eval/README.md).

A hit is a list of Message-IDs; it is credited to the first not-yet-credited relevant
family among the families those ids belong to. Metrics at k=10, binary relevance,
macro-averaged per kind and overall.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kvmsearch.models.errors import QueryError

K = 10
METRICS = ("mrr", "recall", "ndcg", "success1")


@dataclass(frozen=True, slots=True)
class JudgedQuery:
    qid: str
    kind: str
    query: str
    relevant: tuple[str, ...]


@dataclass(slots=True)
class EvalReport:
    """Per-kind and overall means, plus per-query scores for digging."""

    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"by_kind": self.by_kind, "counts": self.counts, "per_query": self.per_query}


def _bare(mid: str) -> str:
    return mid.strip().strip("<>").strip()


def load_queries(path: str | Path) -> list[JudgedQuery]:
    """Read a judged query file; a malformed line raises QueryError naming the line."""
    out = []
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise QueryError(f"cannot read query file {p}: {e.strerror}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(
                JudgedQuery(
                    str(d["qid"]),
                    str(d.get("kind", "all")),
                    str(d["query"]),
                    tuple(_bare(r) for r in d.get("relevant", ())),
                )
            )
        except (ValueError, KeyError, TypeError) as e:
            raise QueryError(
                f"{p}:{n}: not a query line ({e}); expected "
                '{"qid": ..., "query": ..., "relevant": [...]}'
            ) from None
    return out


def score_query(
    hits: Sequence[Sequence[str]],
    relevant: Iterable[str],
    family_of: Callable[[str], str | None],
    k: int = K,
) -> dict[str, float]:
    """Metrics for one ranked list. ``family_of`` maps any Message-ID to its family id."""
    rel = {_bare(r) for r in relevant}
    credited: set[str] = set()
    gains: list[int] = []
    for ids in hits[:k]:
        got = 0
        for mid in ids:
            # The judges map every Message-ID to *their* families. A hit's ids are the
            # roots of its versions; a root that is itself a judged family id belongs to
            # that family whatever our own grouping says (we may have merged two of theirs).
            bare = _bare(mid)
            fam = bare if bare in rel else (family_of(bare) or bare)
            if fam in rel and fam not in credited:
                credited.add(fam)
                got = 1
                break
        gains.append(got)
    first = next((i for i, g in enumerate(gains) if g), None)
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(rel))))
    return {
        "mrr": 0.0 if first is None else 1.0 / (first + 1),
        "recall": len(credited) / len(rel) if rel else 0.0,
        "ndcg": dcg / ideal if ideal else 0.0,
        "success1": 1.0 if gains and gains[0] else 0.0,
    }


def evaluate(
    queries: Sequence[JudgedQuery],
    results: Mapping[str, Sequence[Sequence[str]]],
    family_of: Callable[[str], str | None],
    k: int = K,
) -> EvalReport:
    """Score ``results`` (qid -> ranked hits, each a list of Message-IDs)."""
    rep = EvalReport()
    sums: dict[str, dict[str, float]] = {}
    for q in queries:
        s = score_query(results.get(q.qid, ()), q.relevant, family_of, k)
        rep.per_query[q.qid] = s
        for kind in (q.kind, "overall"):
            acc = sums.setdefault(kind, dict.fromkeys(METRICS, 0.0))
            for m in METRICS:
                acc[m] += s[m]
            rep.counts[kind] = rep.counts.get(kind, 0) + 1
    for kind, acc in sums.items():
        rep.by_kind[kind] = {m: acc[m] / rep.counts[kind] for m in METRICS}
    return rep


def format_report(reports: Mapping[str, EvalReport]) -> str:
    """A table: one block per mode, rows per kind (overall last)."""
    lines = []
    for mode, rep in reports.items():
        lines.append(f"mode {mode}")
        lines.append(f"  {'kind':<8} {'n':>4} {'MRR@10':>7} {'R@10':>7} {'nDCG@10':>8} {'S@1':>6}")
        kinds = sorted(k for k in rep.by_kind if k != "overall") + ["overall"]
        for kind in kinds:
            if kind not in rep.by_kind:
                continue
            m = rep.by_kind[kind]
            lines.append(
                f"  {kind:<8} {rep.counts[kind]:>4} {m['mrr']:>7.3f} {m['recall']:>7.3f}"
                f" {m['ndcg']:>8.3f} {m['success1']:>6.3f}"
            )
    return "\n".join(lines)
