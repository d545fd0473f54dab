"""Chunking: every word of the prose lands in a chunk the model sees whole."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fakes import FakeEmbedder, fake_version

from kvmsearch.indexer.index.chunks import Chunk, chunk_version, chunk_versions
from kvmsearch.indexer.text.trailers import strip_trailer_block as strip_trailers
from kvmsearch.models.embedding import MAX_TOKENS, TokenCounter
from kvmsearch.models.records import ChangelogEntry, PatchInfo, SeriesVersion

SAMPLES = Path(__file__).resolve().parent / "samples" / "dense"
TITLE = "KVM: arm64: Add support for hypercall services selection"
count = FakeEmbedder().count_tokens


def version(
    motivation: str = "", *, changelog=(), patches=(), title: str = TITLE, mid: str = "v1@x"
) -> SeriesVersion:
    return fake_version(
        mid, title, motivation, changelog=changelog, patches=patches, tags=("KVM", "arm64")
    )


def body(chunk: Chunk, prefix: str = TITLE) -> str:
    assert chunk.text.startswith(prefix + "\n\n"), chunk.text[:80]
    return chunk.text[len(prefix) + 2 :]


def assert_covers(text: str, windows: list[str]) -> None:
    """Windows are in-order slices of text and together hold all of its non-space chars."""
    text = text.strip()
    covered = bytearray(len(text))
    pos = 0
    for w in windows:
        at = text.find(w, pos)
        assert at >= 0, f"window is not a slice of the text: {w[:60]!r}"
        covered[at : at + len(w)] = b"\1" * len(w)
        pos = at
    missing = [c for c, hit in zip(text, covered, strict=True) if not hit and not c.isspace()]
    assert not missing, f"{len(missing)} characters in no chunk: {''.join(missing)[:60]!r}"


def sentences(n: int, tag: str) -> str:
    return " ".join(f"Sentence {tag}{i} explains why the change matters." for i in range(n))


LONG = "\n\n".join(
    [
        "Short opening paragraph.",
        sentences(30, "a"),  # one paragraph far over the window: split by sentences
        "- item " + " ".join(f"word{i}" for i in range(120)),  # no sentence end: split by words
        "x" * 50 + "/" + "y" * 50,  # one "word" with punctuation
        "Closing words.",
    ]
)


def test_short_version_gives_title_and_prefixed_motivation():
    v = version("We need this because the guest may not see PV_TIME.")
    chunks = chunk_version(v, count)
    assert [(c.field, c.ordinal) for c in chunks] == [("title", 0), ("motivation", 0)]
    assert chunks[0].text == TITLE
    assert body(chunks[1]) == v.cover.motivation
    for c in chunks:
        assert c.version_id == v.message_id
        assert c.key == hashlib.sha256(c.text.encode()).hexdigest()


def test_tags_are_added_to_a_title_without_them():
    v = version("x", title="Add support for hypercall services selection")
    assert chunk_version(v, count)[0].text.startswith("KVM: arm64: Add support")


@pytest.mark.parametrize("max_tokens", [64, 100, 256])
def test_long_motivation_is_fully_covered_within_the_limit(max_tokens):
    chunks = [
        c
        for c in chunk_version(version(LONG), count, max_tokens=max_tokens)
        if c.field == "motivation"
    ]
    assert len(chunks) > 1
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert max(count(c.text) for c in chunks) <= max_tokens
    assert_covers(LONG, [body(c) for c in chunks])


@pytest.mark.parametrize("overlap", [16, 0])
def test_windows_of_a_long_paragraph_overlap_as_asked(overlap):
    text = sentences(40, "o")
    chunks = [
        body(c)
        for c in chunk_version(version(text), count, max_tokens=64, overlap=overlap)
        if c.field == "motivation"
    ]
    assert len(chunks) > 2
    for a, b in zip(chunks, chunks[1:], strict=False):
        # with overlap the next window starts inside the previous one, else right after
        first = re.match(r"Sentence o\d+", b).group()
        assert (first in a) == (overlap > 0)


def test_a_title_too_long_for_a_prefix_is_left_out():
    chunks = chunk_version(version(sentences(10, "p")), count, max_tokens=40)
    motivation = [c for c in chunks if c.field == "motivation"]
    assert motivation and not any(c.text.startswith(TITLE) for c in motivation)
    assert max(count(c.text) for c in chunks) <= 40


def test_a_word_longer_than_a_window_is_cut_not_dropped():
    def count_chars(text):  # 4 characters a token, so one long word costs many
        return 2 + sum(-(-len(w) // 4) for w in re.findall(r"\w+|[^\w\s]", text))

    blob = "deadbeef" * 40  # 80 tokens, no place to cut but inside the word
    chunks = [
        c
        for c in chunk_version(version(blob, title="T"), count_chars, max_tokens=30)
        if c.field == "motivation"
    ]
    assert len(chunks) > 2
    assert all(count_chars(c.text) <= 30 for c in chunks)
    assert "".join(body(c, "KVM: arm64: T") for c in chunks) == blob


def test_each_changelog_entry_is_chunked_and_long_ones_split():
    entries = [
        ChangelogEntry(version="v2", text="- Renamed the capability."),
        ChangelogEntry(version="v3", text=sentences(20, "c")),
        ChangelogEntry(version="v4", text="", items=("Dropped patch 3", "Fixed a typo")),
    ]
    chunks = [
        c
        for c in chunk_version(version("m", changelog=entries), count, max_tokens=64)
        if c.field == "changelog"
    ]
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert body(chunks[0]) == "- Renamed the capability."
    assert body(chunks[-1]) == "Dropped patch 3\nFixed a typo"
    middle = [body(c) for c in chunks[1:-1]]
    assert len(middle) > 1
    assert_covers(entries[1].text, middle)


def test_patches_only_on_request_with_subject_prefix_and_no_trailers():
    p = PatchInfo(
        message_id="p1@example.org",
        subject="[PATCH v4 01/13] KVM: arm64: Factor out hypercalls",
        index=1,
        files=("arch/arm64/kvm/hypercalls.c",),
        commit_message="Move the non-PSCI calls to hypercalls.c.\n\n"
        "Signed-off-by: A U Thor <a@example.org>\nLink: https://lore/x\n",
    )
    v = version("m", patches=[p])
    assert not [c for c in chunk_version(v, count) if c.field == "patches"]
    [c] = [c for c in chunk_version(v, count, include_patches=True) if c.field == "patches"]
    assert c.text == "KVM: arm64: Factor out hypercalls\n\nMove the non-PSCI calls to hypercalls.c."


def test_strip_trailers_keeps_prose():
    msg = 'Fix it.\n\nNote: this matters.\n\nFixes: 1234 ("x")\nReviewed-by: R <r@x>\n'
    assert strip_trailers(msg) == "Fix it.\n\nNote: this matters."


def test_batched_counting_gives_the_same_chunks():
    fake = FakeEmbedder()
    vs = [version(LONG, mid="a@x"), version("Short one.", mid="b@x")]
    calls = []

    def many(texts):
        calls.append(len(texts))
        return fake.count_tokens_many(texts)

    batched = chunk_versions(vs, fake.count_tokens, count_many=many, max_tokens=64)
    assert batched == [c for v in vs for c in chunk_version(v, count, max_tokens=64)]
    assert calls and calls[0] > 5  # titles and paragraphs of all versions at once


def test_real_cover_letter_with_the_real_tokenizer():
    text = (SAMPLES / "hypercall-services-v4-cover.txt").read_text()
    counter = TokenCounter()
    chunks = chunk_versions([version(text)], counter, count_many=counter.many)
    motivation = [c for c in chunks if c.field == "motivation"]
    assert len(motivation) > 1
    assert max(counter.many([c.text for c in chunks])) <= MAX_TOKENS
    assert_covers(text, [body(c) for c in motivation])
