"""The review record beyond the ledger: the quoted lines a reply answers, its excerpt,
replies joined by subject when threading is broken, changelog bullets linked to the
review that asked for them, the lexical review field, and `show --mbox`."""

from __future__ import annotations

import subprocess
from dataclasses import replace

from test_lineage import cover, patch
from test_review import DAY, body, reply

from kvmsearch.indexer.mail.export import version_mbox
from kvmsearch.indexer.series.assemble import assemble
from kvmsearch.indexer.text.quotes import answered_quotes, own_text, review_excerpt


def test_answered_quotes_are_the_lines_each_paragraph_follows() -> None:
    text = (
        "On Mon, 3 May 2022 at 10:01, Dev <dev@example.org> wrote:\n"
        "> This patch does X.\n"
        ">\n"
        "> +\tif (vcpu->arch.foo)\n"
        "> +\t\tbar();\n"
        "\n"
        "Why not use baz() here?\n"
        "\n"
        "> >> deeper quote\n"
        "> Another thing.\n"
        "Thanks,\n"
        "Reviewed-by: Marc Zyngier <maz@kernel.org>\n"
        "\n"
        "> Last quoted line\n"
        "Fine.\n"
        "-- \n"
        "> a quote in the signature\n"
        "Sig\n"
    )
    # "Thanks," and a trailer answer nothing; the signature is not read
    assert answered_quotes(text) == ("+\t\tbar();", "Last quoted line")
    assert review_excerpt(own_text(text)) == "Why not use baz() here? Fine."


def test_answered_quotes_are_bounded_on_a_huge_quoted_body() -> None:
    text = "> quoted line\nmy own words\n" * 200_000
    got = answered_quotes(text)
    assert got == ("quoted line",)
    assert review_excerpt(own_text(text), limit=40).endswith("\u2026")


def test_a_reply_with_broken_threading_is_joined_by_its_subject() -> None:
    msgs = [
        cover("c", "[PATCH v2 0/2] KVM: arm64: Things", at=0),
        patch("p1", "[PATCH v2 1/2] KVM: arm64: One", irt="c", pid="a"),
        patch("p2", "[PATCH v2 2/2] KVM: arm64: Two", irt="c", pid="b"),
        # no In-Reply-To/References at all, and one naming mail the archive lacks
        replace(
            reply("r1", "x", "Looks wrong.\nReviewed-by: Marc Zyngier <maz@kernel.org>\n", at=60),
            subject="Re: [PATCH v2 2/2] KVM: arm64: Two",
            in_reply_to=None,
            references=(),
        ),
        replace(
            reply("r2", "missing@x", "Acked-by: Will Deacon <will@kernel.org>\n", at=90),
            subject="Re: [PATCH v2 0/2] KVM: arm64: Things",
        ),
        # same title, but v1: does not answer v2
        replace(
            reply("r3", "gone@x", "Old.\n", at=100),
            subject="Re: [PATCH 2/2] KVM: arm64: Two",
        ),
        # too late to be about this posting
        replace(
            reply("r4", "gone2@x", "Much later.\n", at=200 * DAY),
            subject="Re: [PATCH v2 2/2] KVM: arm64: Two",
        ),
    ]
    result = assemble(msgs)
    (v,) = result.versions
    assert [(n.message_id, n.patch, n.by_subject) for n in v.reviews] == [
        ("r1", 2, True),
        ("r2", None, True),
    ]
    assert {(t.kind, t.patch, t.source) for t in v.trailers if t.status == "given"} == {
        ("reviewed-by", 2, "r1"),
        ("acked-by", None, "r2"),
    }
    assert result.report.replies_by_subject == 2
    assert result.review_text["c"].startswith("Looks wrong.")
    assert "Reviewed-by" not in result.review_text["c"]


def _family_with_review(changelog: str, review: str, *, who="Marc Zyngier", addr="maz@kernel.org"):
    return [
        cover("v1", "[PATCH 0/1] KVM: arm64: Things", body="Why.\n"),
        patch("v1.1", "[PATCH 1/1] KVM: arm64: One", irt="v1", pid="a1"),
        # as the decoder keeps a reply: its own text, and the quoted lines it answers
        replace(
            reply("r1", "v1.1", "", at=60, who=who, addr=addr),
            body=own_text(review),
            answers=answered_quotes(review),
        ),
        cover("v2", "[PATCH v2 0/1] KVM: arm64: Things", at=DAY, body="Why.\n\n" + changelog),
        patch("v2.1", "[PATCH v2 1/1] KVM: arm64: One", at=DAY, irt="v2", pid="a2", body=body()),
    ]


def test_a_credited_bullet_links_to_that_reviewers_reply() -> None:
    msgs = _family_with_review(
        "Changes in v2:\n- Take the lock before the walk (Marc)\n- Rename the helper\n",
        "> +\twalk(pgt);\nThis walks without the mmu_lock held.\n",
    )
    by = {v.message_id: v for v in assemble(msgs).versions}
    assert [(a.item, a.message_id, a.how) for a in by["v2"].asked] == [
        ("Take the lock before the walk (Marc)", "r1", "credited")
    ]
    assert by["v2"].reviews == ()
    (note,) = by["v1"].reviews
    assert note.answers == ("+\twalk(pgt);",) and note.patch == 1


def test_a_bullet_links_by_shared_words_and_not_by_generic_ones() -> None:
    review = (
        "> +\tcpu_relax();\nBusy-waiting here burns the host CPU; please use "
        "cond_resched() instead of spinning on the control virtqueue.\n"
    )
    msgs = _family_with_review(
        "v2:\n- Use cond_resched() instead of busy-waiting on the control virtqueue\n"
        "- Fix a typo in the commit message\n",
        review,
        who="Jason Wang",
        addr="jasowang@redhat.com",
    )
    by = {v.message_id: v for v in assemble(msgs).versions}
    assert [(a.item[:18], a.who, a.how) for a in by["v2"].asked] == [
        ("Use cond_resched()", "Jason Wang <jasowang@redhat.com>", "words")
    ]


def test_the_authors_own_reply_never_asks_for_a_change() -> None:
    msgs = _family_with_review(
        "v2:\n- Use cond_resched() instead of busy-waiting on the control virtqueue\n",
        "I will use cond_resched() instead of busy-waiting on the control virtqueue.\n",
        who="Dev",
        addr="dev@example.org",
    )
    by = {v.message_id: v for v in assemble(msgs).versions}
    assert by["v2"].asked == ()


def test_show_prints_asked_by_and_the_reviewers_replies() -> None:
    from kvmsearch.render import format_series

    msgs = _family_with_review(
        "Changes in v2:\n- Take the lock before the walk (Marc)\n",
        "> +\twalk(pgt);\nThis walks without the mmu_lock held.\n",
    )
    versions = sorted(assemble(msgs).versions, key=lambda v: -v.version)
    text = format_series(versions)
    assert "    - Take the lock before the walk (Marc)\n      asked by Marc Zyngier <r1>" in text
    assert "  review: 1 replies from 1 people" in text
    assert "on 1/1: This walks without the mmu_lock held." in text
    assert "      > +\twalk(pgt);" not in text  # control characters are shown escaped
    assert "      > " in text


# --------------------------------------------------------------------------- mbox


def _patch_with_diff(subject: str, mid: str, irt: str | None, name: str = "Dev"):
    m = patch(mid, subject, irt=irt, pid="x", name=name)
    return replace(
        m,
        body="KVM: fix the thing because it was broken.\n\nFrom here on it is fine.\n"
        "\nSigned-off-by: Dev <dev@example.org>\n---\n arch/arm64/kvm/mmu.c | 2 +-\n"
        " 1 file changed, 1 insertion(+), 1 deletion(-)\n",
    )


DIFF = (
    "diff --git a/arch/arm64/kvm/mmu.c b/arch/arm64/kvm/mmu.c\n"
    "index 1111111..2222222 100644\n"
    "--- a/arch/arm64/kvm/mmu.c\n"
    "+++ b/arch/arm64/kvm/mmu.c\n"
    "@@ -1,3 +1,3 @@\n"
    " a\n"
    "-b\n"
    "+c\n"
    " d\n"
)


def _git(tmp, *args, stdin=None):
    return subprocess.run(
        ["git", *args], cwd=tmp, input=stdin, capture_output=True, check=True
    ).stdout


def test_mbox_is_read_back_by_git_mailinfo(tmp_path) -> None:
    evil = "Ev\u00efl\r\nBcc: victim@example.org"
    c = cover("c@x", "[PATCH 0/1] KVM: arm64: \u00dcber fix\nX-Injected: yes")
    p = _patch_with_diff("[PATCH 1/1] KVM: arm64: Fix the thing", "p@x", "c@x", name=evil)
    data = version_mbox([c, p], {"p@x": DIFF})
    assert b"\nBcc:" not in data and b"\nX-Injected" not in data
    assert b"\n>From here on it is fine." in data  # mboxrd escaping
    _git(tmp_path, "init", "-q")
    (tmp_path / "out").mkdir()
    (tmp_path / "v1.mbox").write_bytes(data)
    count = _git(tmp_path, "mailsplit", "--mboxrd", "-oout", "v1.mbox").strip()
    assert count == b"2"
    info = _git(
        tmp_path, "mailinfo", "msg", "patch", stdin=(tmp_path / "out" / "0002").read_bytes()
    ).decode()
    assert "Subject: KVM: arm64: Fix the thing" in info
    # no header injected, and the author stays the sender, whatever the name says
    assert "Author: Ev\u00efl Bcc: victim example.org\nEmail: dev@example.org\n" in info
    patch_text = (tmp_path / "patch").read_text()
    assert patch_text.startswith("---\n arch/arm64/kvm/mmu.c | 2 +-\n") and DIFF in patch_text
    assert "From here on it is fine." in (tmp_path / "msg").read_text()


def test_mbox_applies_with_git_am(tmp_path) -> None:
    p = _patch_with_diff("[PATCH] KVM: arm64: Fix the thing", "p@x", None)
    repo = tmp_path / "repo"
    (repo / "arch/arm64/kvm").mkdir(parents=True)
    (repo / "arch/arm64/kvm/mmu.c").write_text("a\nb\nd\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.name=T", "-c", "user.email=t@x", "add", ".")
    _git(repo, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "base")
    mbox = tmp_path / "v1.mbox"
    mbox.write_bytes(version_mbox([p], {"p@x": DIFF}))
    who = ("-c", "user.name=T", "-c", "user.email=t@x")
    _git(repo, *who, "am", "--patch-format=mboxrd", str(mbox))
    assert (repo / "arch/arm64/kvm/mmu.c").read_text() == "a\nc\nd\n"
    log = _git(repo, "log", "-1", "--format=%an <%ae>%n%s").decode()
    assert log == "Dev <dev@example.org>\nKVM: arm64: Fix the thing\n"


# --------------------------------------------------------------------------- bad input


def _raw(mid: str, subject: str, body: bytes, *, refs: str = "", frm: str = "R <r@x.org>"):
    from kvmsearch.models.records import RawMail

    head = f"From: {frm}\nSubject: {subject}\nMessage-ID: <{mid}>\n"
    if refs:
        head += f"In-Reply-To: <{refs.split()[-1]}>\n"
        head += "References: " + " ".join(f"<{r}>" for r in refs.split()) + "\n"
    head += "Date: Fri, 2 Jan 2020 00:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n"
    return RawMail(data=head.encode() + body, source="test", position=mid)


def test_hostile_replies_are_attached_and_nothing_is_lost() -> None:
    from kvmsearch.indexer.mail.messages import parse_message

    patch_raw = _raw(
        "patch@x",
        "[PATCH] KVM: thing",
        b"Fix the thing.\n\nSigned-off-by: A <a@x.org>\n---\n"
        b"diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n",
        frm="A <a@x.org>",
    )
    quoted = b"> " + b"q" * 1021 + b"\n"
    raws = [
        patch_raw,
        # 10 MB of quotes, then the verdict
        _raw(
            "q@x",
            "Re: [PATCH] KVM: thing",
            quoted * 10 * 1024 + b"\nNAK, see above.\nReviewed-by: Q <q@x.org>\n",
            refs="patch@x",
        ),
        # two replies whose References name each other, and one naming both twice
        _raw("l1@x", "Re: [PATCH] KVM: thing", b"Loop one.\n", refs="l2@x"),
        _raw("l2@x", "Re: [PATCH] KVM: thing", b"Loop two.\n", refs="l1@x"),
        _raw(
            "l3@x",
            "Re: [PATCH] KVM: thing",
            b"Acked-by: L <l@x.org>\n",
            refs="patch@x l1@x l2@x l1@x",
        ),
        # a reply to mail the archive lacks: joined by its subject
        _raw("m@x", "Re: [PATCH] KVM: thing", b"Tested-by: M <m@x.org>\n", refs="nowhere@x"),
        # trailers in broken encodings
        _raw(
            "e1@x",
            "Re: [PATCH] KVM: thing",
            b"Reviewed-by: J\xf6rg R\xf6del <j@x.org>\n",
            refs="patch@x",
        ),
        _raw(
            "e2@x",
            "Re: [PATCH] KVM: thing",
            b"Tested-by: =?utf-8?b?!!notbase64?= <t@x.org>\n",
            refs="patch@x",
            frm="=?x-unknown?q?Bad?= <b@x.org>",
        ),
    ]
    msgs = [parse_message(r) for r in raws]
    big = next(m for m in msgs if m.message_id == "q@x")
    assert big.body.startswith("NAK, see above.") and len(big.body) < 100
    assert big.answers == ("q" * 160,)
    result = assemble(msgs)
    (v,) = result.versions
    # the loop's two mails answer only each other: counted as discussion, not attached
    assert {n.message_id for n in v.reviews} == {"q@x", "l3@x", "m@x", "e1@x", "e2@x"}
    assert result.report.replies_unattached == {"discussion": 2}
    given = {(t.kind, t.source) for t in v.trailers if t.status == "given"}
    assert {("reviewed-by", "q@x"), ("acked-by", "l3@x"), ("tested-by", "m@x")} <= given
    (jorg,) = [t for t in v.trailers if t.source == "e1@x"]
    assert jorg.kind == "reviewed-by" and "<j@x.org>" in jorg.who
    assert any(t.source == "e2@x" and t.kind == "tested-by" for t in v.trailers)
    assert result.report.replies_by_subject == 1
