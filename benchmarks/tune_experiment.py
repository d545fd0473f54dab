"""Experiment (issue 12, part 5): adapt the packaged model to the corpus, and score it.

Not part of the product: measured and not adopted (BENCHMARKS.md, "Adapting the model
to the corpus"). Three steps, each reproducible (seed 13):

    # 1. one epoch of in-batch-negative training on the corpus's own pairs (series
    #    title -> cover motivation, patch subject -> commit message; the first 7,900
    #    after a seeded shuffle, 128 tokens, batch 32, lr 2e-5, 10% warm-up), then
    #    every chunk of a copy of the index re-embedded with it (~14 + 8 min, 2 cores)
    .venv/bin/python benchmarks/tune_experiment.py train --index DIR --copy COPY --out OUT

    # 2. the tuned model's dense floor: the cosine at the same percentile of "a title
    #    against chunks of other versions" as the shipped floor (0.2) is for the model
    #    as packaged
    .venv/bin/python benchmarks/tune_experiment.py floor --index DIR --copy COPY

    # 3. score it as the reference scorer does, queries embedded by the tuned model
    TUNED_MODEL=OUT/model TUNED_FLOOR=F .venv/bin/python benchmarks/reference_eval.py \\
        --index COPY --modes hybrid semantic \\
        --kvmsearch ".venv/bin/python benchmarks/tune_experiment.py cli"

With ``cli`` as its first argument this script is the kvmsearch CLI with the tuned
model as query embedder (``TUNED_MODEL``) and, if ``TUNED_FLOOR`` is set, that floor.
"""

from __future__ import annotations

import glob
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SEED = 13
PAIRS = 7900
BATCH = 32


def corpus_pairs(index: Any) -> list[tuple[str, str]]:
    from kvmsearch.indexer.text.subjects import strip_markers

    pairs: list[tuple[str, str]] = []
    for sv in index.searcher().docs.iter_versions():
        if (sv.kind or "series") != "series":
            continue
        mot = (sv.cover.motivation or "").strip()
        if sv.title and len(mot) > 80:
            pairs.append((sv.title, mot[:1500]))
        for p in sv.patches:
            cm = (p.commit_message or "").strip()
            subj = strip_markers(p.subject)
            if subj and len(cm) > 80:
                pairs.append((subj, cm[:1500]))
    uniq = list(dict.fromkeys(pairs))
    random.Random(SEED).shuffle(uniq)
    return uniq[:PAIRS]


def train(index_dir: str, copy: str, out: str) -> None:
    import faiss
    import torch
    from sentence_transformers import SentenceTransformer

    from kvmsearch.index import Index
    from kvmsearch.models.embedding import model_dir

    idx = Index.open(index_dir)
    pairs = corpus_pairs(idx)
    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    m = SentenceTransformer(str(model_dir()), device="cpu", local_files_only=True)
    m.max_seq_length = 128
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=2e-5)
    steps = (len(pairs) + BATCH - 1) // BATCH
    warm = max(1, steps // 10)

    def lr(i: int) -> float:
        return (i + 1) / warm if i < warm else max(0.0, (steps - i) / (steps - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr)
    t = time.time()
    for i in range(steps):
        batch = pairs[i * BATCH : (i + 1) * BATCH]
        a = m(m.tokenize([x for x, _ in batch]))["sentence_embedding"]
        b = m(m.tokenize([y for _, y in batch]))["sentence_embedding"]
        a = torch.nn.functional.normalize(a, dim=-1)
        b = torch.nn.functional.normalize(b, dim=-1)
        loss = torch.nn.functional.cross_entropy(a @ b.T * 20.0, torch.arange(len(batch)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    m.eval()
    m.max_seq_length = 256
    m.save(str(Path(out) / "model"))
    trained = time.time() - t
    if Path(copy).exists():
        shutil.rmtree(copy)
    shutil.copytree(index_dir, copy, symlinks=True)
    d = Index.open(copy).searcher().dense
    d.load()
    n = len(d)
    t = time.time()
    vecs = m.encode(
        d.texts(list(range(n))), batch_size=64, normalize_embeddings=True, show_progress_bar=False
    ).astype(np.float32)
    (path,) = glob.glob(f"{copy}/generations/*/dense.faiss")
    fx = faiss.IndexFlatIP(vecs.shape[1])
    fx.add(vecs)
    faiss.write_index(fx, path)
    print(
        json.dumps(
            {
                "pairs": len(pairs),
                "steps": steps,
                "train_s": round(trained),
                "embed_s": round(time.time() - t),
                "chunks": n,
            }
        )
    )


def _title_background(index_dir: str) -> np.ndarray:
    import faiss

    (rows_path,) = glob.glob(f"{index_dir}/generations/*/dense_rows.npy")
    (path,) = glob.glob(f"{index_dir}/generations/*/dense.faiss")
    rows = np.load(rows_path)
    ix = faiss.read_index(path)
    x = ix.reconstruct_n(0, ix.ntotal)
    rng = np.random.default_rng(0)
    titles = np.where(rows[:, 1] == 0)[0]
    a = rng.choice(titles, 20000)
    b = rng.integers(0, len(x), 20000)
    keep = rows[a, 0] != rows[b, 0]
    return np.einsum("ij,ij->i", x[a[keep]], x[b[keep]])


def floor(index_dir: str, copy: str, shipped: float = 0.2) -> None:
    base, tuned = _title_background(index_dir), _title_background(copy)
    q = float((base < shipped).mean())
    print(
        json.dumps(
            {"percentile": round(q * 100, 1), "tuned_floor": round(float(np.quantile(tuned, q)), 3)}
        )
    )


def cli() -> None:
    import kvmsearch.query.hybrid as hybrid
    from kvmsearch.cli import main
    from kvmsearch.index import Index
    from kvmsearch.models.embedding import MODEL_NAME

    class TunedEmbedder:
        """The tuned model as query embedder (sentence-transformers, one thread)."""

        name = MODEL_NAME
        dim = 384

        def __init__(self, checksum: str) -> None:
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(1)
            self.checksum = checksum  # the index's own: the harness swaps the vectors
            self.m = SentenceTransformer(os.environ["TUNED_MODEL"], device="cpu")

        def encode(self, texts: Any, *, batch_size: int = 64) -> np.ndarray:
            v = self.m.encode(list(texts), batch_size=batch_size, normalize_embeddings=True)
            return np.asarray(v, dtype=np.float32)

        def count_tokens(self, text: str) -> int:
            return len(self.m.tokenizer(text)["input_ids"])

        def warm(self) -> None:
            pass

    real_open = Index.open.__func__  # type: ignore[attr-defined]

    def open_tuned(cls: Any, path: Any = None, *, embedder_factory: Any = None) -> Any:
        ix = real_open(cls, path)
        meta = json.loads((ix.home.open_current().dir / "dense.json").read_text())
        return real_open(cls, path, embedder_factory=lambda: TunedEmbedder(meta["model_checksum"]))

    Index.open = classmethod(open_tuned)  # type: ignore[method-assign,assignment]
    init = hybrid.HybridSearcher.__init__

    def with_floor(self: Any, *a: Any, **k: Any) -> None:
        init(self, *a, **k)
        if os.environ.get("TUNED_FLOOR"):
            self.tuning.dense_floor = float(os.environ["TUNED_FLOOR"])

    hybrid.HybridSearcher.__init__ = with_floor  # type: ignore[method-assign]
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    main()


if __name__ == "__main__":
    import argparse

    if sys.argv[1:2] == ["cli"]:
        cli()
        sys.exit(0)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=("train", "floor"))
    ap.add_argument("--index", required=True)
    ap.add_argument("--copy", required=True)
    ap.add_argument("--out", default="/tmp/kvmsearch-tune")
    a = ap.parse_args()
    train(a.index, a.copy, a.out) if a.step == "train" else floor(a.index, a.copy)
