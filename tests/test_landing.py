"""Where a version landed, from the replies in its thread (indexer.series.landing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kvmsearch.indexer.series.landing import ReplyTo, landing_of
from kvmsearch.indexer.text.quotes import own_text
from kvmsearch.models.records import Message

T0 = datetime(2022, 3, 1, 12, 0, tzinfo=UTC)


def reply(
    body: str,
    *,
    who: str = "Marc Zyngier",
    addr: str = "maz@kernel.org",
    at: int = 0,
    index: int | None = None,
    mid: str = "r1@x",
) -> ReplyTo:
    msg = Message(
        message_id=mid,
        synthetic_id=False,
        subject="Re: [PATCH 0/3] KVM: arm64: Things",
        from_name=who,
        from_addr=addr,
        date=T0 + timedelta(hours=at),
        in_reply_to="c@x",
        references=("c@x",),
        lists=("kvmarm",),
        body=own_text(body),
    )
    return ReplyTo(msg, index)


def land(*replies: ReplyTo, version: int = 1, n: int | None = 3, standalone: bool = False):
    return landing_of(list(replies), version=version, n_patches=n, standalone=standalone)


B4_TY = """On Tue, 1 Mar 2022 10:00:00 +0000, Dev wrote:
> This series does things.
>
> [...]

Applied to next, thanks!

[1/3] KVM: arm64: One
      commit: 0123456789abcdef0123456789abcdef01234567
[2/3] KVM: arm64: Two
      commit: 1123456789abcdef0123456789abcdef01234567
[3/3] KVM: arm64: Three
      commit: 2123456789abcdef0123456789abcdef01234567

Cheers,

	M.
-- {SIG}
Without deviation from the norm, progress is not possible.
""".replace("{SIG}", " ")


def test_b4_thank_you_names_branch_maintainer_commits_and_patches() -> None:
    got = land(reply(B4_TY))
    assert (got.status, got.where, got.by) == ("applied", "next", "Marc Zyngier <maz@kernel.org>")
    assert got.patches == (1, 2, 3) and len(got.commits) == 3
    (ev,) = got.evidence
    assert ev.message_id == "r1@x" and ev.sentence == "Applied to next, thanks!"
    assert got.date == T0


def test_b4_list_of_some_patches_is_partial() -> None:
    body = B4_TY.split("[2/3]")[0]
    got = land(reply(body))
    assert got.status == "partial" and got.patches == (1,)


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("Applied to arm64 (for-next/errata), thanks!", "arm64 (for-next/errata)"),
        ("Thanks, applied to my kvm-ppc-next branch.", "kvm-ppc-next"),
        ("Applied to kvmtool (master), thanks!", "kvmtool (master)"),
        ("Applied to powerpc topic/ppc-kvm, thanks.", "powerpc topic/ppc-kvm"),
        ("Pushed to kvm/queue for now.", "kvm/queue"),
        ("Queued, thanks.", ""),
        ("Applied the whole series to kvm/queue, thanks.", "kvm/queue"),
    ],
)
def test_maintainer_phrasings(line: str, where: str) -> None:
    got = land(reply(f"On a day, Dev wrote:\n> patch\n\n{line}\n"))
    assert got.status == "applied" and got.where == where


def test_git_kernel_org_commit_url_is_collected() -> None:
    body = (
        "Applied to arm64 (for-next/kvm/errata), thanks!\n\n[1/1] arm64: errata: Fix\n"
        "      https://git.kernel.org/arm64/c/02ab1f5018c3\n"
    )
    got = land(reply(body, who="Will Deacon", addr="will@kernel.org"), n=None, standalone=True)
    assert got.commits == ("02ab1f5018c3",) and got.status == "applied"


def test_partial_application_by_numbers() -> None:
    got = land(reply("Queued patches 1-3, thanks.  Patch 4 needs work."), n=5)
    assert got.status == "partial" and got.patches == (1, 2, 3)
    got = land(reply("Queued 1-20 and 22-28.  Initially I skipped 21."), n=28)
    assert got.status == "partial" and 21 not in got.patches and len(got.patches) == 27


def test_per_patch_replies_add_up() -> None:
    got = land(
        reply("Applied, thanks.", index=1, mid="a"),
        reply("Applied, thanks.", index=2, mid="b"),
        n=2,
    )
    assert got.status == "applied" and got.patches == (1, 2)
    got = land(reply("Applied, thanks.", index=1), n=2)
    assert got.status == "partial" and got.patches == (1,)


@pytest.mark.parametrize(
    "body",
    [
        # only quoted
        "On Mon, Marc wrote:\n> Applied to next, thanks!\n\nGreat, thank you.\n",
        # a tester
        "Applied it on top of 5.17-rc3 and tested on my Ampere box: works.\n",
        "Applied this series and verified that the guest boots.\n",
        # a question
        "Applied?\n",
        # intent without confirmation
        "I'll queue them once -rc1 happens.\n",
        "Looks good, will apply after the merge window.\n",
        # a sentence that merely wraps onto the line
        "This needs the fix that was\napplied to next last week.\n",
        # pushed a branch for testing, or a new version
        "I've pushed a branch with these for you to test.\n",
        "I have pushed the updated version.\n",
    ],
)
def test_not_landed(body: str) -> None:
    assert land(reply(body)).status == "none"


def test_a_bot_boilerplate_is_not_a_landing() -> None:
    body = (
        "Hi Dev,\n\nThank you for the patch! Yet something to improve:\n\n"
        "[auto build test ERROR on kvm/queue]\n"
        "[If your patch is applied to the wrong git tree, kindly drop us a note.\n"
        "Applied to the wrong tree? Tell us.\n"
    )
    got = land(reply(body, who="kernel test robot", addr="lkp@intel.com"))
    assert got.status == "none"


def test_a_withdrawn_application_does_not_count() -> None:
    got = land(
        reply("Applied to next, thanks!", mid="a"),
        reply("This breaks the build on 32bit; I've dropped it from next.", at=24, mid="b"),
    )
    assert got.status == "none"
    # someone else saying "drop" (the author's plan for the next version) changes nothing
    got = land(
        reply("Applied to next, thanks!", mid="a"),
        reply("I'll drop this patch in the next posting.", who="Dev", addr="dev@x", at=24, mid="b"),
    )
    assert got.status == "applied"


def test_a_reply_applying_another_version_does_not_count() -> None:
    assert land(reply("Applied v3 instead, thanks."), version=2).status == "none"
    assert land(reply("Applied v3, thanks."), version=3).status == "applied"


def test_bots_that_report_real_landings() -> None:
    pw = (
        "This series was applied to netdev/net-next.git (main)\n"
        "by Jakub Kicinski <kuba@kernel.org>:\n"
    )
    got = land(
        reply(
            "Hello:\n\n" + pw.replace("\n", " ", 1),
            who="patchwork-bot+netdevbpf",
            addr="patchwork-bot+netdevbpf@kernel.org",
        )
    )
    assert got.status == "applied" and got.where == "netdev/net-next (main)"
    assert got.by == "Jakub Kicinski <kuba@kernel.org>"
    pr = "The pull request you sent on Fri:\n\n> git://x tags/y\n\nhas been merged into torvalds/linux.git:\nhttps://git.kernel.org/torvalds/c/0123456789ab\n"
    got = land(
        reply(pr, who="pr-tracker-bot", addr="pr-tracker-bot@kernel.org"), n=None, standalone=True
    )
    assert got.status == "applied" and got.where == "torvalds/linux.git"
    assert got.commits == ("0123456789ab",)


def test_own_text_drops_quotes_and_signature() -> None:
    assert own_text("> a\n  > b\nmine\n\n\n\nmore\n-- \nsig\n") == "mine\n\nmore"


@pytest.mark.parametrize(
    "body",
    [
        "Patches " + "1 " * 50_000 + "x",
        "Applied to " + "(a " * 30_000,
        "Queued " + "1, " * 30_000,
        "> quoted\n" * 50_000 + "Applied, thanks.",
    ],
)
def test_hostile_replies_are_read(body: str) -> None:
    # no timing here (see tests/test_hostile.py): a quadratic rule makes this take minutes
    assert land(reply(body)).status in ("none", "applied", "partial")
