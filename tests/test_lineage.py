"""Lineage: patch ids, people, and the links that join postings into one family."""

from __future__ import annotations

from dataclasses import replace

from test_series import mail

from kvmsearch.indexer.series.assemble import assemble
from kvmsearch.indexer.text.patchid import diff_patch_id
from kvmsearch.indexer.text.people import inbody_author, person_key

DIFF = """diff --git a/arch/arm64/kvm/mmu.c b/arch/arm64/kvm/mmu.c
index 1111111..2222222 100644
--- a/arch/arm64/kvm/mmu.c
+++ b/arch/arm64/kvm/mmu.c
@@ -10,7 +10,8 @@ static int foo(void)
 {
-    int a = 1;
+    int a = 2;
+    int b = 3;
     return a;
 }
"""
OTHER = """diff --git a/virt/kvm/kvm_main.c b/virt/kvm/kvm_main.c
--- a/virt/kvm/kvm_main.c
+++ b/virt/kvm/kvm_main.c
@@ -1,3 +1,4 @@
 x
+y
+z
+w
"""


def test_patch_id_ignores_whitespace_line_numbers_context_and_file_order() -> None:
    a = diff_patch_id(DIFF)
    assert a is not None and a.changed == 3
    moved = DIFF.replace("@@ -10,7 +10,8 @@", "@@ -40,7 +42,8 @@").replace(
        " return a;", " return  a ;"
    )
    assert diff_patch_id(moved) == a
    assert diff_patch_id(DIFF.replace("int b = 3", "int b = 4")) != a
    assert diff_patch_id(DIFF + OTHER) == diff_patch_id(OTHER + DIFF)
    # a trailing signature is not part of the diff
    assert diff_patch_id(DIFF + "-- \n2.39.0\n") == a


def test_no_patch_id_without_a_changed_line() -> None:
    assert diff_patch_id("diff --git a/x b/x\nold mode 100644\nnew mode 100755\n") is None
    assert diff_patch_id("diff --git a/x b/x\nBinary files a/x and b/x differ\n") is None


def test_people() -> None:
    assert person_key("Marc Zyngier") == person_key("marc zyngier (Arm)") == "marc zyngier"
    assert person_key("Cédric Le Goater") == person_key("Cedric Le Goater")
    assert person_key("root") is None and person_key("Marc") is None
    assert inbody_author("From: David Matlack <dmatlack@google.com>\n\nWhy.") == (
        "David Matlack",
        "dmatlack@google.com",
    )
    assert inbody_author("Why.\n\nFrom: nobody") is None


def patch(mid, subject, *, at=0, sender="dev@example.org", name="Dev", pid=None, body="", irt=None):
    m = mail(mid, subject, at=at, sender=sender, diff=("arch/arm64/kvm/mmu.c",), body=body, irt=irt)
    return replace(m, from_name=name, patch_id=pid, patch_lines=3 if pid else 0)


def cover(mid, subject, *, at=0, sender="dev@example.org", name="Dev", body=""):
    return replace(mail(mid, subject, at=at, sender=sender, body=body), from_name=name)


def families(msgs):
    result = assemble(msgs)
    return {v.message_id: v.family for v in result.versions}, {
        v.message_id: v.lineage for v in result.versions
    }


def test_a_renamed_series_joins_by_its_patches() -> None:
    day = 24 * 60
    msgs = [
        cover("v1", "[PATCH 0/2] KVM: arm64: Treat ID registers as RAZ"),
        patch("v1.1", "[PATCH 1/2] KVM: arm64: One", irt="v1", pid="p1"),
        patch("v1.2", "[PATCH 2/2] KVM: arm64: Two", irt="v1", pid="p2"),
        cover("v2", "[PATCH v2 0/2] KVM: arm64: Use a visibility hook", at=9 * day),
        patch("v2.1", "[PATCH v2 1/2] KVM: arm64: One", at=9 * day, irt="v2", pid="p1"),
        patch("v2.2", "[PATCH v2 2/2] KVM: arm64: Two, reworked", at=9 * day, irt="v2", pid="p2"),
    ]
    fam, links = families(msgs)
    assert fam["v2"] == fam["v1"] == "v1"
    (link,) = links["v2"]
    assert (link.earlier, link.reason, link.strength) == ("v1", "patch-id", "content")


def test_an_address_change_joins_by_name_and_a_repost_by_in_body_author() -> None:
    t = "[PATCH v{n} 0/1] KVM: arm64: vgic: ITS translation cache"
    msgs = [
        cover("a", t.format(n=2), sender="marc.zyngier@arm.com", name="Marc Zyngier"),
        cover("b", t.format(n=3), at=60, sender="maz@kernel.org", name="Marc Zyngier"),
        cover(
            "c",
            "[PATCH v7 0/1] KVM: Extend Eager Page Splitting",
            sender="dmatlack@google.com",
            name="David Matlack",
        ),
        cover(
            "d",
            "[PATCH v8 0/1] KVM: Extend Eager Page Splitting",
            at=90,
            sender="pbonzini@redhat.com",
            name="Paolo Bonzini",
        ),
        patch(
            "d.1",
            "[PATCH v8 1/1] KVM: x86/mmu: One",
            at=90,
            sender="pbonzini@redhat.com",
            name="Paolo Bonzini",
            irt="d",
            body="From: David Matlack <dmatlack@google.com>\n\nWhy.\n---\n",
        ),
    ]
    fam, links = families(msgs)
    assert fam["b"] == "a" and links["b"][0].detail == "same name: marc zyngier"
    assert fam["d"] == "c" and links["d"][0].reason == "same-title-person"


def test_same_title_but_other_work_stays_apart() -> None:
    year = 365 * 24 * 60
    msgs = [
        replace(patch("t1", "[PATCH] KVM: arm64: Fix comment typo", pid="x1"), diff_files=("a.c",)),
        replace(
            patch("t2", "[PATCH] KVM: arm64: Fix comment typo", at=year, pid="x2"),
            diff_files=("b.c",),
        ),
    ]
    fam, _ = families(msgs)
    assert fam["t1"] != fam["t2"]


def test_a_carried_patch_or_a_duplicate_fix_does_not_join() -> None:
    msgs = [
        patch("fix", "[PATCH] arm64: Fix labels in el2_setup macros", pid="q1"),
        cover("big", "[PATCH 0/3] arm64: Early CPU feature override", at=600),
        patch(
            "big.1",
            "[PATCH 1/3] arm64: Fix labels in el2_setup macros",
            at=600,
            irt="big",
            pid="q1",
        ),
        patch("big.2", "[PATCH 2/3] arm64: Two", at=600, irt="big", pid="q2"),
        patch("big.3", "[PATCH 3/3] arm64: Three", at=600, irt="big", pid="q3"),
        # the same one-patch cleanup, sent on their own by two people
        patch(
            "n1",
            "[PATCH] KVM: PPC: remove redundant NULL check",
            sender="a@x",
            name="Chen Zhou",
            pid="n",
        ),
        patch(
            "n2",
            "[PATCH] KVM: PPC: Remove NULL check before kfree",
            at=30,
            sender="b@y",
            name="Qiujun Huang",
            pid="n",
        ),
    ]
    fam, _ = families(msgs)
    assert fam["fix"] != fam["big"]
    assert fam["n1"] != fam["n2"]


def test_a_patch_whose_diff_cannot_be_read_is_reported_and_kept() -> None:
    from kvmsearch.indexer.mail.messages import parse_message
    from kvmsearch.models.records import RawMail

    raw = (
        b"From: Dev <dev@example.org>\nSubject: [PATCH] KVM: x\nMessage-ID: <m@x>\n"
        b"Date: Tue, 1 Mar 2022 12:00:00 +0000\n\nWhy.\n---\n"
        b"diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ garbled @@\n"
    )
    msg = parse_message(RawMail(raw, "s", "0"))
    assert msg.has_diff and msg.patch_id is None
    assert any("no patch id" in w for w in msg.warnings)
    result = assemble([msg])
    assert result.versions and any(p.where == "m@x" for p in result.report.problems)


def test_series_is_what_a_hit_collapses_and_lineage_spans_them() -> None:
    # same title and address: one series; a rename joined by patch ids: the same
    # family (lineage) but a series, a search hit, of its own
    day = 24 * 60
    msgs = [
        cover("v1", "[PATCH 0/1] KVM: arm64: Old name"),
        patch("v1.1", "[PATCH 1/1] KVM: arm64: One", irt="v1", pid="p1"),
        cover("v2", "[PATCH v2 0/1] KVM: arm64: Old name", at=day),
        patch("v2.1", "[PATCH v2 1/1] KVM: arm64: One", at=day, irt="v2", pid="p1"),
        cover("v3", "[PATCH v3 0/1] KVM: arm64: Entirely new words", at=2 * day),
        patch("v3.1", "[PATCH v3 1/1] KVM: arm64: One", at=2 * day, irt="v3", pid="p1"),
    ]
    result = assemble(msgs)
    by = {v.message_id: v for v in result.versions}
    assert {v.family for v in by.values()} == {"v1"}
    assert by["v2"].series == "v1" and by["v3"].series == "v3"
