"""Cover letter and patch-notes splitting: golden files plus focused unit tests.

Each ``tests/samples/cover/NAME.txt`` is a message body (text before the first diff) cut
from the shared corpus or the seeds (``NAME.args.json`` says where from and gives the
series' patch files); ``NAME.expected.json`` is the expected CoverFields, checked by hand.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kvmsearch.indexer.series.changelog import parse_header
from kvmsearch.indexer.series.cover import parse_cover, parse_patch_notes
from kvmsearch.indexer.text.diffstat import expand_rename, resolve_files
from kvmsearch.indexer.text.links import find_links, find_prior_ids
from kvmsearch.models.records import CoverFields

SAMPLES = Path(__file__).resolve().parent / "samples" / "cover"
NAMES = sorted(p.name.removesuffix(".expected.json") for p in SAMPLES.glob("*.expected.json"))


def _as_dict(fields: CoverFields) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(fields)))


def _parse(name: str) -> CoverFields:
    body = (SAMPLES / f"{name}.txt").read_text(encoding="utf-8")
    args = json.loads((SAMPLES / f"{name}.args.json").read_text(encoding="utf-8"))
    if args["kind"] == "patch":
        return parse_patch_notes(body, diff_files=args.get("diff_files", ()))
    return parse_cover(
        body, patch_files=args.get("patch_files", ()), patch_titles=args.get("patch_titles", ())
    )


def test_samples_present() -> None:
    # Guards the parametrised test below against silently running on nothing.
    assert len(NAMES) >= 20
    for name in NAMES:
        assert (SAMPLES / f"{name}.txt").is_file()
        assert (SAMPLES / f"{name}.args.json").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_golden(name: str) -> None:
    expected = json.loads((SAMPLES / f"{name}.expected.json").read_text(encoding="utf-8"))
    assert _as_dict(_parse(name)) == expected


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("line", "version"),
    [
        ("Changes since v1:", "v2"),
        ("v2 -> v3:", "v3"),
        ("v1->v2", "v2"),
        ("Change from V1:", "v2"),
        ("from v10 to v9", "v10"),  # written backwards: the newer one is meant
        ("* From v1:", "v2"),
        ("* From v1 [1]:", "v2"),
        ("v3:", "v3"),
        ("Changes in v2:", "v2"),
        ("v4 [https://lore.kernel.org/r/x@y]:", "v4"),
        ("[v2]", "v2"),
        ("Since v2:", "v3"),
        ("Changes v2 -> v3", "v3"),
        ("RFC -> v1:", "v1"),
        ("RFCv2 -> v3:", "v3"),
        ("Changes since RFC:", "v1"),
        ("Changes from RFC-V2:", "v3"),
        ("Changes since v4 & RFC:", "v5"),
        ("Changes from PATCH v7: [1]", "v8"),
        ("- patch v7 (assembly):", "v7"),
        ("v2 (relative to v1):", "v2"),
        ('Changelog "v1" ... v2:', "v2"),
        ("Changes to v4 are in particular:", "v5"),
        ("to v3:", "v3"),
        ("Changes between v1 and v2:", "v2"),
        ("Other changes in v2:", "v2"),
        ("RFC:", "rfc"),
        ("Changelog:", ""),
        ("History:", ""),
        ("Changes since last version:", ""),
        ("in this respin:", ""),
        ("Change-log:", ""),
        ("Changes since the previous v2 posting[1]:", "v3"),
        ("Changes from RFC patch series [1]:", "v1"),
    ],
)
def test_header_versions(line: str, version: str) -> None:
    header = parse_header(line)
    assert header is not None
    assert header.version == version
    assert header.inline == ""


@pytest.mark.parametrize(
    "line",
    [
        "v1: https://patchwork.kernel.org/cover/10964733/",  # a link to v1, no entry
        "[v1] https://lore.kernel.org/linux-arm-kernel/20190604144551.1-1-a@b.com/",
        "v2: <20231201093000.2222-1-jdoe@example.org>",
        "- Rebase onto v5.17-rc3.",
        "Rebased to v5.10",
        "host kernel: Linux mainline v5.10-rc1",
        "This is v2 of the series",
        "the tail of a wrapped sentence, since v2.",
        "update.",
        '- Patch "v2: KVM: PPC: Ultravisor: Add generic ultravisor call handler":',
        "[1] RFC: [RFC] vhost: Clear the pending messages on vhost_init_device_iotlb()",
        "RFC: KVM: arm64: Manage FPSIMD state at EL2 for protected vCPUs",
        "",
    ],
)
def test_not_headers(line: str) -> None:
    assert parse_header(line) is None


def test_link_header_with_changes_below() -> None:
    # "v2: <link>" alone is a reference; with indented changes under it, an entry.
    line = "v2: https://lore.kernel.org/all/20211103062520.1445832-1-reijiw@google.com/"
    assert parse_header(line, "Reiji Watanabe (29):") is None
    header = parse_header(line, "  - Remove unnecessary line breaks. [Andrew]")
    assert header is not None
    assert header.version == "v2"


def test_inline_header() -> None:
    header = parse_header("v1->v2: move feature capability query to probing (Eli)")
    assert header is not None
    assert header.version == "v2"
    assert header.inline == "move feature capability query to probing (Eli)"


# --------------------------------------------------------------------------- credits


def test_credits_reject_prose_and_acronyms() -> None:
    body = """Cover text.

v2:
- Split the helper (see patch 3)
- Handle GICv3 and ITS (ACPI)
- Collected tags [Reviewed-by]
- Reworked the locking (Marc Zyngier)
- Thanks to Dan Carpenter for the static checker report
"""
    (entry,) = parse_cover(body).changelog
    assert entry.credits == ("Marc Zyngier", "Dan Carpenter")


# --------------------------------------------------------------------------- diffstat


def test_expand_rename() -> None:
    assert expand_rename("arch/{x86 => arm64}/kvm/foo.c") == (
        "arch/x86/kvm/foo.c",
        "arch/arm64/kvm/foo.c",
    )
    assert expand_rename("arch/arm64/kvm/{ => hyp}/vgic-v3-sr.c") == (
        "arch/arm64/kvm/vgic-v3-sr.c",
        "arch/arm64/kvm/hyp/vgic-v3-sr.c",
    )
    assert expand_rename("old/name.c => new/name.c") == ("old/name.c", "new/name.c")
    assert expand_rename("plain/path.c") == ("plain/path.c",)


def test_resolve_truncated_paths() -> None:
    known = ["arch/arm64/kvm/vgic/vgic-its.c", "arch/arm/kvm/vgic/vgic-its.c", "a/b/c.h"]
    got = resolve_files([".../b/c.h", ".../kvm/vgic/vgic-its.c", "...b/c.h", "x/y.c"], known)
    # ".../kvm/vgic/vgic-its.c" matches two known paths: ambiguous, so dropped.
    assert got == ("a/b/c.h", "x/y.c")


def test_diffstat_ignores_tables() -> None:
    body = """Numbers:

 vcpus | 12
 xmit by xsk:   100%   |   30%   | 1192064

 virt/kvm/kvm_main.c | 3 ++-
 1 file changed, 2 insertions(+), 1 deletion(-)
"""
    assert parse_cover(body).files == ("virt/kvm/kvm_main.c",)


def test_files_fall_back_to_patch_files_without_diffstat() -> None:
    fields = parse_cover("Just prose.\n", patch_files=["b.c", "a.c", "b.c"])
    assert fields.files == ("b.c", "a.c")


# --------------------------------------------------------------------------- links


def test_links_strip_trailing_punctuation() -> None:
    text = (
        "See <https://lore.kernel.org/r/20200925093607.3051-1-steven.price%40arm.com>, and\n"
        "(https://lkml.kernel.org/r/20210828003558.713983-6-seanjc@google.com).\n"
        "https://github.com/foo/linux/tree/topic-v2. Not https://example.com/x.\n"
        "https://lore.kernel.org/all/abc.123@host.org/T/#u\n"
    )
    links = find_links(text)
    assert links == (
        "https://lore.kernel.org/r/20200925093607.3051-1-steven.price%40arm.com",
        "https://lkml.kernel.org/r/20210828003558.713983-6-seanjc@google.com",
        "https://github.com/foo/linux/tree/topic-v2",
        "https://lore.kernel.org/all/abc.123@host.org/T/#u",
    )
    assert find_prior_ids(text, links) == (
        "20200925093607.3051-1-steven.price@arm.com",
        "20210828003558.713983-6-seanjc@google.com",
        "abc.123@host.org",
    )


def test_patchwork_and_bare_ids() -> None:
    text = (
        "v1: <1234.5678-1-a@b.org>\n"
        "Reported-by: Some One <some.one@example.com>\n"
        "https://patchwork.kernel.org/project/kvm/cover/20210201.1-1-c@d.com/\n"
    )
    assert find_prior_ids(text, find_links(text)) == ("20210201.1-1-c@d.com", "1234.5678-1-a@b.org")


# --------------------------------------------------------------------------- motivation


def test_pasted_titles_leave_the_motivation() -> None:
    body = """Hi,

This fixes two races in the vgic.

  KVM: arm64: vgic: Fix race one
  KVM: arm64: vgic: Fix race two

Patch 1 is the important one.
"""
    titles = ["KVM: arm64: vgic: Fix race one", "KVM: arm64: vgic: Fix race two"]
    fields = parse_cover(body, patch_titles=titles)
    assert fields.motivation == "This fixes two races in the vgic.\n\nPatch 1 is the important one."
    assert fields.shortlog == ()  # the series assembler fills titles, not the parser


def test_empty_and_crlf_bodies() -> None:
    assert parse_cover("") == CoverFields(motivation="")
    crlf = "Why this matters.\r\n\r\nv2:\r\n- fixed it (Marc)\r\n"
    fields = parse_cover(crlf)
    assert fields.motivation == "Why this matters."
    assert fields.changelog[0].credits == ("Marc",)


def test_list_footer_and_trailers_cut() -> None:
    body = """The reason.

Signed-off-by: A Person <a@b.c>
Cc: Another <d@e.f>
base-commit: 0123456789abcdef0123456789abcdef01234567
-- {}
2.40.0

_______________________________________________
kvmarm mailing list
kvmarm@lists.cs.columbia.edu
https://lists.cs.columbia.edu/mailman/listinfo/kvmarm
""".format("")  # keeps the signature's "-- " trailing space out of the source
    fields = parse_cover(body)
    assert fields.motivation == "The reason."
    assert fields.links == ()
    assert fields.base_commit == "0123456789abcdef0123456789abcdef01234567"
