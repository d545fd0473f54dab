"""parse_subject over real subjects from the kvmarm, virtualization and kvm-ppc archives.

The table lives in samples/series/subjects.tsv: subject, kind, version, n/M, tree,
flags (reply/patch/rfc/resend), title, tags (";"-separated); "-" means none.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmsearch.indexer.text.subjects import normalise_title, parse_subject

TABLE = Path(__file__).parent / "samples" / "series" / "subjects.tsv"


def _rows() -> list[tuple[str, ...]]:
    rows = []
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(tuple(line.split("\t")))
    return rows


ROWS = _rows()


def _flags(info) -> str:
    on = [
        name
        for name, flag in (
            ("reply", info.is_reply),
            ("patch", info.is_patch),
            ("rfc", info.rfc),
            ("resend", info.resend),
        )
        if flag
    ]
    return " ".join(on) or "-"


@pytest.mark.parametrize("row", ROWS, ids=[r[0][:60] for r in ROWS])
def test_parse_subject(row):
    subject, kind, version, n_of_m, tree, flags, title, tags = row
    info = parse_subject(subject)
    got_nm = f"{info.index}/{info.total}" if info.index is not None else "-"
    assert (info.kind, str(info.version), got_nm, info.tree or "-") == (
        kind,
        version,
        n_of_m,
        tree,
    )
    assert _flags(info) == flags
    assert info.title == title
    assert (";".join(info.tags) or "-") == tags


def test_table_is_broad():
    assert len(ROWS) >= 50
    assert {r[1] for r in ROWS} == {"series", "pull", "stable"}
    assert any("reply" in r[5] for r in ROWS) and any(r[5] == "-" for r in ROWS)


@pytest.mark.parametrize(
    "subject",
    ["", "   ", "[", "]", "[[[PATCH]]]", "Re:", "[PATCH 99999/1]", "x" * 3000, "[PATCH v] x"],
)
def test_odd_subjects_do_not_crash(subject):
    info = parse_subject(subject)
    assert isinstance(info.title, str)
    assert info.version >= 1


def test_markers_after_the_title_are_read_only_when_they_are_markers():
    info = parse_subject("[PATCH v2 14/15][KVMTOOL] update_headers: Sync")
    assert (info.tree, info.title) == ("kvmtool", "update_headers: Sync")
    kept = parse_subject("[PATCH] virtio: document the [foo bar] case")
    assert kept.title == "virtio: document the [foo bar] case"


def test_robot_reports_and_questions_are_not_patches():
    for subject in (
        "[vhost:vhost 6/6] drivers/vhost/vhost.c:2672:9: error: 'desc' undeclared",
        "[Question] Hardware management of stage2 page dirty state",
        "[kvm-unit-tests] Permitted license for new library",
    ):
        assert not parse_subject(subject).is_patch, subject


def test_tags_stop_at_prose():
    assert parse_subject("[PATCH] KVM: x86: Fix this. Then: that").tags == ("KVM", "x86")
    assert parse_subject("[PATCH] Why does this fail with four words: x").tags == ()


def test_normalise_title_folds_case_and_punctuation():
    assert normalise_title("KVM: arm64: Fix  the thing()") == "kvm arm64 fix the thing"
    assert normalise_title("kvm arm64 - fix the thing") == "kvm arm64 fix the thing"
