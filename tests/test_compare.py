"""`kvmsearch diff`'s parts: the masked interdiff and the patch matching."""

from __future__ import annotations

from dataclasses import replace

from fakes import fake_version

from kvmsearch.indexer.series.compare import compare_versions
from kvmsearch.indexer.text.interdiff import interdiff, masked
from kvmsearch.models.records import PatchInfo

OLD = """diff --git a/arch/arm64/kvm/pmu.c b/arch/arm64/kvm/pmu.c
index 1111111..2222222 100644
--- a/arch/arm64/kvm/pmu.c
+++ b/arch/arm64/kvm/pmu.c
@@ -10,6 +10,7 @@ static int kvm_pmu_probe(void)
 \tint ret;
+\tret = probe();
 \treturn ret;
--\x20
2.37.2
"""


def test_offsets_index_lines_whitespace_and_signature_are_masked() -> None:
    moved = (
        OLD.replace("index 1111111..2222222", "index 3333333..4444444")
        .replace("@@ -10,6 +10,7 @@", "@@ -42,6 +42,7 @@")
        .replace("\tret = probe();", "        ret = probe();")
        .replace("2.37.2", "2.40.1\nPlease mind our privacy notice")
    )
    assert masked(OLD) == masked(moved)
    text, added, removed = interdiff(OLD, moved)
    assert (text, added, removed) == ("", 0, 0)


def test_a_real_change_shows_in_the_interdiff() -> None:
    changed = OLD.replace("ret = probe();", "ret = probe(true);")
    text, added, removed = interdiff(OLD, changed)
    assert (added, removed) == (1, 1)
    assert "-+ret = probe();" in text and "++ret = probe(true);" in text


def _patch(mid: str, n: int, subject: str, pid: str | None) -> PatchInfo:
    return PatchInfo(mid, f"[PATCH v{mid[1]} {n}/3] {subject}", n, "", (), patch_id=pid)


def test_patches_match_by_patch_id_then_subject() -> None:
    base = fake_version("v1@x", "KVM: arm64: PMU", "")
    v1 = replace(
        base,
        version=1,
        patches=(
            _patch("v1-1@x", 1, "KVM: arm64: probe the PMU", "aaa"),
            _patch("v1-2@x", 2, "KVM: arm64: count events", "bbb"),
            _patch("v1-3@x", 3, "KVM: arm64: old cleanup", "ccc"),
        ),
    )
    v2 = replace(
        base,
        message_id="v2@x",
        version=2,
        patches=(
            # reworded subject, same change: matched by patch id, unchanged
            _patch("v2-1@x", 1, "KVM: arm64: Probe the PMU early", "aaa"),
            # same subject, new content: changed
            _patch("v2-2@x", 2, "KVM: arm64: count events", "bbx"),
            _patch("v2-3@x", 3, "KVM: arm64: a new patch", "ddd"),
        ),
    )
    diffs = {"v1-2@x": OLD, "v2-2@x": OLD.replace("probe()", "probe(1)")}
    asked: list[str] = []

    def read(ids):  # noqa: ANN001, ANN202
        asked.extend(ids)
        return {i: diffs[i] for i in ids if i in diffs}

    d = compare_versions(v1, v2, read)
    assert [(p.status, p.new_index, p.old_index) for p in d.patches] == [
        ("unchanged", 1, 1),
        ("changed", 2, 2),
        ("new", 3, None),
        ("dropped", None, 3),
    ]
    assert d.counts() == {"unchanged": 1, "changed": 1, "new": 1, "dropped": 1}
    assert "probe(1)" in (d.patches[1].interdiff or "")
    assert sorted(asked) == ["v1-2@x", "v2-2@x"]  # unchanged patches are never read
    # no diffs stored: changed without an interdiff, and the answer says so
    bare = compare_versions(v1, v2, lambda ids: None)
    assert bare.patches[1].status == "changed" and bare.patches[1].interdiff is None
    assert not bare.diffs_stored
