"""The review ledger (indexer.series.review): trailers given, carried and dropped."""

from __future__ import annotations

from dataclasses import replace

from test_lineage import cover, patch

from kvmsearch.indexer.series.assemble import assemble
from kvmsearch.indexer.text.trailers import review_trailers

DAY = 24 * 60


def body(*trailers: str) -> str:
    return (
        "Why.\n\nSigned-off-by: Dev <dev@example.org>\n"
        + "".join(t + "\n" for t in trailers)
        + "---\n"
    )


def reply(mid, irt, text, *, at, who="Marc Zyngier", addr="maz@kernel.org"):
    m = cover(mid, "Re: [PATCH] x", at=at, sender=addr, name=who, body=text)
    return replace(m, in_reply_to=irt, references=(irt,))


def test_review_trailers_rule() -> None:
    text = "Looks good.\n\nReviewed-by: Marc Zyngier <maz@kernel.org>\nTested-by:  Ann  Bee <a@b>\n"
    assert review_trailers(text) == [
        ("reviewed-by", "Marc Zyngier <maz@kernel.org>"),
        ("tested-by", "Ann Bee <a@b>"),
    ]
    assert review_trailers("Signed-off-by: Dev <d@x>\nReviewed-by:\n") == []


def test_given_carried_first_in_patch_and_dropped() -> None:
    msgs = [
        cover("v1", "[PATCH 0/2] KVM: arm64: Things"),
        patch("v1.1", "[PATCH 1/2] KVM: arm64: One", irt="v1", pid="a1"),
        patch("v1.2", "[PATCH 2/2] KVM: arm64: Two", irt="v1", pid="b1"),
        reply("r1", "v1.1", "> quoted\nReviewed-by: Marc Zyngier <maz@kernel.org>\n", at=60),
        reply(
            "r2",
            "v1",
            "For the series:\nAcked-by: Will Deacon <will@kernel.org>\n",
            at=90,
            who="Will Deacon",
            addr="will@kernel.org",
        ),
        cover("v2", "[PATCH v2 0/2] KVM: arm64: Things", at=DAY),
        # patch 1 unchanged and carries Marc's R-b; patch 2 changed, Will's ack dropped,
        # and a Tested-by nobody gave on the list
        patch(
            "v2.1",
            "[PATCH v2 1/2] KVM: arm64: One",
            at=DAY,
            irt="v2",
            pid="a1",
            body=body(
                "Reviewed-by: Marc Zyngier <maz@kernel.org>",
                "Acked-by: Will Deacon <will@kernel.org>",
            ),
        ),
        patch(
            "v2.2",
            "[PATCH v2 2/2] KVM: arm64: Two",
            at=DAY,
            irt="v2",
            pid="b2",
            body=body("Tested-by: Ann Bee <a@b>"),
        ),
    ]
    by = {v.message_id: v for v in assemble(msgs).versions}
    v1 = {(t.kind, t.patch, t.status, t.source) for t in by["v1"].trailers}
    assert ("reviewed-by", 1, "given", "r1") in v1 and ("acked-by", None, "given", "r2") in v1
    v2 = {(t.kind, t.who.split()[0], t.patch): t for t in by["v2"].trailers}
    marc = v2[("reviewed-by", "Marc", 1)]
    assert (marc.status, marc.earlier, marc.changed) == ("carried", "v1 r1", False)
    assert v2[("acked-by", "Will", 1)].status == "carried"
    dropped = v2[("acked-by", "Will", 2)]
    assert (dropped.status, dropped.changed) == ("dropped", True)
    assert v2[("tested-by", "Ann", 2)].status == "in-patch"


def test_show_prints_the_ledger_one_line_per_person() -> None:
    from kvmsearch.render import format_series

    msgs = [
        cover("v1", "[PATCH 0/2] KVM: arm64: Things"),
        patch("v1.1", "[PATCH 1/2] KVM: arm64: One", irt="v1", pid="a1"),
        patch("v1.2", "[PATCH 2/2] KVM: arm64: Two", irt="v1", pid="b1"),
        reply("r", "v1", "Reviewed-by: Marc Zyngier <maz@kernel.org>\n", at=60),
        cover("v2", "[PATCH v2 0/2] KVM: arm64: Things", at=DAY),
        patch(
            "v2.1",
            "[PATCH v2 1/2] KVM: arm64: One",
            at=DAY,
            irt="v2",
            pid="a1",
            body=body("Reviewed-by: Marc Zyngier <maz@kernel.org>"),
        ),
        patch(
            "v2.2",
            "[PATCH v2 2/2] KVM: arm64: Two",
            at=DAY,
            irt="v2",
            pid="b1",
            body=body("Reviewed-by: Marc Zyngier <maz@kernel.org>"),
        ),
    ]
    versions = sorted(assemble(msgs).versions, key=lambda v: -v.version)
    text = format_series(versions)
    assert "carried in the patches: Reviewed-by Marc Zyngier <maz@kernel.org> on 1,2 (v1 r)" in text
    assert "given in replies: Reviewed-by Marc Zyngier <maz@kernel.org> on all" in text


def test_each_version_shows_only_its_own_changes() -> None:
    from kvmsearch.indexer.series.changelog import own_entries
    from kvmsearch.models.records import ChangelogEntry

    v2 = (ChangelogEntry("v2", "", ("Fix the race", "Rename foo")),)
    v3 = (
        ChangelogEntry("v3", "", ("Don't use interrupt but cond_resched()",)),
        ChangelogEntry("v2", "", ("Fix the race.", "Rename foo")),
    )
    assert own_entries(v3, v2) == [v3[0]]
    assert own_entries(v2, ()) == list(v2)
    notes = (ChangelogEntry("", "Rebased on -rc1, no other change"),)
    assert own_entries(notes, notes) == []


def test_a_patch_taken_into_another_series_carries_its_review() -> None:
    # Marc reviewed a fix posted alone; Oliver later took the same patch (same patch
    # id) into his own, larger series with the R-b in its body: carried, from there.
    msgs = [
        patch("fix", "[PATCH] KVM: arm64: Fix the vgic", pid="f1"),
        reply("r", "fix", "Reviewed-by: Marc Zyngier <maz@kernel.org>\n", at=60),
        cover(
            "big",
            "[PATCH 0/3] KVM: arm64: Rework interrupt injection",
            at=3 * DAY,
            sender="oliver@example.org",
            name="Oliver",
        ),
        *(
            patch(
                f"big.{n}",
                f"[PATCH {n}/3] KVM: arm64: Part {n}",
                at=3 * DAY,
                irt="big",
                sender="oliver@example.org",
                name="Oliver",
                pid=pid,
                body=body("Reviewed-by: Marc Zyngier <maz@kernel.org>") if n == 1 else body(),
            )
            for n, pid in ((1, "f1"), (2, "p2"), (3, "p3"))
        ),
    ]
    by = {v.message_id: v for v in assemble(msgs).versions}
    (marc,) = [t for t in by["big"].trailers if t.status != "given"]
    assert (marc.status, marc.patch, marc.changed) == ("carried", 1, False)
    assert marc.earlier == "v1 r, in another series <fix>"
