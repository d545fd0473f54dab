"""Test doubles. Named Fake*, used only by tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from kvmsearch.models.records import CoverFields, SeriesVersion

_WORD = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    """A deterministic stand-in for the embedding model.

    Vectors are hashed bags of words (each lower-cased word adds +-1 to one dimension),
    L2-normalised: texts sharing words are similar, so ranking tests mean something.
    Tokens are words and punctuation plus two "special" tokens, like BERT's count.
    ``calls`` records every text passed to :meth:`encode`. ``vectors`` pins the vector
    of given texts (e.g. random ones for oracle tests); ``fail_after`` makes the n-th
    and later :meth:`encode` calls raise, like a build killed halfway.
    """

    name = "fake-bag-of-words"

    def __init__(
        self,
        dim: int = 64,
        *,
        vectors: dict[str, np.ndarray] | None = None,
        fail_after: int | None = None,
    ) -> None:
        self.dim = dim
        self.checksum = f"fake-{dim}"
        self.calls: list[str] = []
        self.encode_calls = 0
        self.vectors = vectors or {}
        self.fail_after = fail_after

    def _vector(self, text: str) -> np.ndarray:
        if text in self.vectors:
            v = np.asarray(self.vectors[text], dtype=np.float32)
            return v / np.linalg.norm(v)
        v = np.zeros(self.dim, dtype=np.float32)
        for w in _WORD.findall(text.lower()):
            h = hashlib.blake2b(w.encode(), digest_size=8).digest()
            v[int.from_bytes(h[:4], "little") % self.dim] += 1.0 if h[4] & 1 else -1.0
        n = np.linalg.norm(v)
        if n == 0:  # no words: a fixed unit vector keeps rows normalised
            v[0], n = 1.0, 1.0
        return v / n

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        if self.fail_after is not None and self.encode_calls >= self.fail_after:
            raise RuntimeError("FakeEmbedder: simulated crash")
        self.encode_calls += 1
        self.calls.extend(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text)) + 2

    def warm(self) -> None:
        """Nothing to load."""

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        return [self.count_tokens(t) for t in texts]


def fake_version(
    mid: str,
    title: str,
    motivation: str = "",
    *,
    changelog=(),
    patches=(),
    tags: tuple[str, ...] = (),
) -> SeriesVersion:
    """A hand-built series version with only the fields the dense side reads set."""
    return SeriesVersion(
        message_id=mid,
        family=mid,
        kind="series",
        version=1,
        rfc=False,
        resend=False,
        tree=None,
        title=title,
        subject=f"[PATCH 0/{max(len(patches), 1)}] {title}",
        tags=tags,
        author="A U Thor <a@example.org>",
        author_addr="a@example.org",
        date=None,
        lists=("kvmarm",),
        has_cover=True,
        patch_ids=tuple(p.message_id for p in patches),
        n_patches=len(patches) or None,
        cover=CoverFields(motivation=motivation, changelog=tuple(changelog)),
        patches=tuple(patches),
    )
