"""Series assembly and families.

Three kinds of input:
- patchwork's own series cases (shared/peer-mail/series), with the grouping their mails
  imply written down below;
- hand-built Message records for rules the patchwork cases do not reach;
- small real samples cut from the corpus (samples/series/*.mbox).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kvmsearch.indexer.mail.messages import parse_message
from kvmsearch.indexer.mail.sources import open_source
from kvmsearch.indexer.series.assemble import NO_PATCH_MARKER, assemble
from kvmsearch.models.records import Message, ParseResult, RawMail, Skip

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PEER = SHARED / "peer-mail" / "series"
SAMPLES = Path(__file__).parent / "samples" / "series"


def load(path: Path) -> list[Message]:
    """Mails of an mbox in file order, deduplicated by Message-ID like the pipeline."""
    seen: dict[str, Message] = {}
    for raw in open_source(path).read():
        msg = parse_message(raw)
        seen.setdefault(msg.message_id, msg)
    return list(seen.values())


def check_buckets(result: ParseResult) -> None:
    r = result.report
    assert r.replies + sum(r.other.values()) + r.in_series + len(r.skips) == r.messages_read
    assert r.series_versions == len(result.versions)
    assert r.families == len(result.families)
    members = [v.message_id for v in result.versions if v.has_cover]
    members += [p for v in result.versions for p in v.patch_ids]
    assert len(members) == len(set(members)) == r.in_series


def grouping(msgs: list[Message], result: ParseResult):
    """Versions as {root position: [patch positions in n order]}, families as lists of
    root positions (oldest version first); positions are indexes into ``msgs``."""
    pos = {m.message_id: i for i, m in enumerate(msgs)}
    versions = {pos[v.message_id]: [pos[p] for p in v.patch_ids] for v in result.versions}
    families = sorted([pos[r] for r in f.version_ids] for f in result.families)
    return versions, families


# --------------------------------------------------------------------------- patchwork

# file -> (versions, families). Read each mbox in file order (position 0, 1, ...):
# a version is {root: [its patch mails in n order]} (a coverless series lists its root
# as patch 1); a family is the roots of its versions, oldest first.
PATCHWORK_CASES = {
    # cover 0/2 with two shallow-threaded patches
    "base-cover-letter.mbox": ({0: [1, 2]}, [[0]]),
    # 2/2 replies to 1/2, which replies to the cover
    "base-deep-threaded.mbox": ({0: [1, 2]}, [[0]]),
    # cover says "net-next v3", its patches say neither: still one posting
    "base-different-versions.mbox": ({0: [1, 2, 3, 4]}, [[0]]),
    # 1/2 is the root, 2/2 replies to it
    "base-no-cover-letter.mbox": ({0: [0, 1]}, [[0]]),
    # [net,v2,1/2] and [net,v2,2/2], no threading, 8 minutes apart, same sender
    "base-no-references.mbox": ({0: [0, 1]}, [[0]]),
    # cover and "[Patch 2/2]:" without any threading headers, within a minute
    "base-no-references-no-cover.mbox": ({0: [1, 2]}, [[0]]),
    # 2/2, 1/2, then the cover in the file
    "base-out-of-order.mbox": ({2: [1, 0]}, [[2]]),
    "base-single-patch.mbox": ({0: [0]}, [[0]]),
    # v1 and v2, each with a cover, not threaded to each other: same title and sender
    "revision-basic.mbox": ({0: [1, 2], 3: [4, 5]}, [[0, 3]]),
    # v2 comes without a cover and without threading: a coverless version titled by
    # its patch 1, which is v1's patch 1 (same sender, both 2 patches): one family
    "revision-no-cover-letter.mbox": ({0: [1, 2], 3: [3, 4]}, [[0, 3]]),
    # v2 cover threaded to v1's patch 2/2, v2 patches listed before their cover
    "revision-out-of-order.mbox": ({0: [1, 2], 5: [4, 3]}, [[0, 5]]),
    # v2 cover in reply to v1's cover
    "revision-threaded-to-cover.mbox": ({0: [1, 2], 3: [4, 5]}, [[0, 3]]),
    # v2 cover in reply to v1's patch 2/2
    "revision-threaded-to-patch.mbox": ({0: [1, 2], 3: [5, 4]}, [[0, 3]]),
    # [PATCH v2] in reply to [PATCH]: two standalone versions of one patch
    "revision-threaded-to-single-patch.mbox": ({0: [0], 1: [1]}, [[0, 1]]),
    # the same unthreaded pair posted twice, an hour apart, both unlabelled "v2"
    "revision-unlabeled-noreferences.mbox": ({0: [0, 1], 2: [2, 3]}, [[0, 2]]),
    # a second "[PATCH 0/2]" posting without a version label
    "revision-unlabeled.mbox": ({0: [1, 2], 3: [5, 4]}, [[0, 3]]),
    # v1 1/2 and a week later "v2 2/2" in reply to a v2 1/2 that never arrived: two
    # incomplete postings; their titles differ, so two families
    "bugs-mixed-versions.mbox": ({0: [0], 1: [1]}, [[0], [1]]),
    # V2 cover, 1/4 replies to it, 2/4..4/4 reply to 1/4
    "bugs-multiple-references.mbox": ({0: [1, 2, 3, 4]}, [[0]]),
    # coverless pair, then the same pair again in reply to the first 1/2, unlabelled
    "bugs-nocover-noversion.mbox": ({0: [0, 1], 2: [2, 3]}, [[0, 2]]),
    # coverless pair, then a labelled v2 pair in reply to the first 1/2
    "bugs-nocover.mbox": ({0: [0, 1], 2: [2, 3]}, [[0, 2]]),
    # the same "[PATCH v2 1/4]" sent three times within four minutes (file order is not
    # date order: mail 2 is the oldest)
    "bugs-spamming.mbox": ({0: [0], 1: [1], 2: [2]}, [[2, 0, 1]]),
    # "This is an orphaned patch!" replies to the cover with a diff but no n/M and no
    # "Re:": a standalone patch of its own
    "bugs-unnumbered.mbox": ({0: [1], 2: [2]}, [[0], [2]]),
}

OTHER_PEER_FILES = [
    "base-extra-patches.mbox",
    "base-incomplete.mbox",
    "bugs-multiple-content-types.mbox",
    "dependency-base-patch.mbox",
    "mercurial-cover-letter.mbox",
    "mercurial-no-cover-letter.mbox",
]


def test_case_lists_cover_the_directory():
    names = {p.name for p in PEER.glob("*.mbox")}
    assert set(PATCHWORK_CASES) | set(OTHER_PEER_FILES) == names
    assert len(PATCHWORK_CASES) == 22


@pytest.mark.parametrize("name", sorted(PATCHWORK_CASES))
def test_patchwork_series_cases(name):
    msgs = load(PEER / name)
    result = assemble(msgs)
    check_buckets(result)
    want_versions, want_families = PATCHWORK_CASES[name]
    got_versions, got_families = grouping(msgs, result)
    assert got_versions == want_versions
    assert got_families == sorted(want_families)
    for fam in result.families:
        assert all(
            v.family == fam.family_id for v in result.versions if v.message_id in fam.version_ids
        )


@pytest.mark.parametrize("name", OTHER_PEER_FILES)
def test_other_patchwork_files_go_through(name):
    msgs = load(PEER / name)
    result = assemble(msgs)
    check_buckets(result)
    assert result.versions


def test_extra_patch_beyond_the_count_stays_in_its_series():
    msgs = load(PEER / "base-extra-patches.mbox")
    (v,) = assemble(msgs).versions
    assert [p.index for p in v.patches] == [1, 2, 3]
    assert v.complete


def test_incomplete_series_is_flagged():
    (v,) = assemble(load(PEER / "base-incomplete.mbox")).versions
    assert v.has_cover and v.n_patches == 2 and not v.complete


def test_mercurial_n_of_m():
    (v,) = assemble(load(PEER / "mercurial-cover-letter.mbox")).versions
    assert v.has_cover and len(v.patch_ids) == 2 and v.complete


def test_reply_is_counted_not_a_series():
    result = assemble(load(PEER / "bugs-multiple-content-types.mbox"))
    assert result.report.replies == 1 and len(result.versions) == 1


def test_a_reply_under_the_cover_subject_is_not_a_second_cover():
    # a mail client that drops "Re:" sends a reply with the cover's own subject
    text = (
        "From: R <r@x.org>\nSubject: [PATCH 0/2] A sample series\nMessage-ID: <r@x>\n"
        "In-Reply-To: <gone@x>\n\nNot yet, see below.\n\nOn Mon, A <a@x.org> wrote:\n"
        "> This series adds a sample.\n> It is the second line.\n> And a third.\n"
    )
    raw = RawMail(text.encode(), "t.mbox", "byte 0", None)
    result = assemble([parse_message(raw)])
    assert result.versions == () and result.report.replies == 1
    check_buckets(result)


def test_series_fields_from_cover_and_patches():
    msgs = load(PEER / "base-cover-letter.mbox")
    (v,) = assemble(msgs).versions
    assert v.has_cover and v.title == "A sample series" and v.kind == "series"
    assert v.author == "Stephen Finucane <stephenfinucane@gmail.com>"
    assert v.date == msgs[0].date
    assert [p.index for p in v.patches] == [1, 2]
    assert v.cover.shortlog  # from the cover or, failing that, the patch titles
    want_files = dict.fromkeys(f for m in msgs[1:] for f in m.diff_files)
    assert set(v.cover.files) == set(want_files)
    for p, m in zip(v.patches, msgs[1:], strict=True):
        assert p.files == m.diff_files
        assert p.commit_message and "diff --git" not in p.commit_message


def test_skips_are_passed_through_and_counted():
    msgs = load(PEER / "base-cover-letter.mbox")
    skips = [Skip("x.mbox @ byte 0", "undecodable")]
    result = assemble(msgs, skips)
    check_buckets(result)
    assert result.report.messages_read == len(msgs) + 1
    assert result.report.skips == skips


# --------------------------------------------------------------------------- synthetic

T0 = datetime(2022, 3, 1, 12, 0, tzinfo=UTC)


def mail(
    mid: str,
    subject: str,
    *,
    at: int = 0,
    sender: str = "dev@example.org",
    irt: str | None = None,
    refs: tuple[str, ...] = (),
    diff: tuple[str, ...] = (),
    body: str = "",
) -> Message:
    """A hand-built message; ``at`` is minutes after T0."""
    return Message(
        message_id=mid,
        synthetic_id=False,
        subject=subject,
        from_name="Dev",
        from_addr=sender,
        date=T0 + timedelta(minutes=at),
        in_reply_to=irt,
        references=refs or ((irt,) if irt else ()),
        lists=("kvmarm.lists.cs.columbia.edu",),
        body=body or "Why this matters.\n\nSigned-off-by: Dev <dev@example.org>\n---\n",
        diff_files=diff,
        has_diff=bool(diff),
    )


def test_buckets_add_up_with_replies_and_discussion():
    msgs = [
        mail("c", "[PATCH 0/2] KVM: arm64: Do things"),
        mail("p1", "[PATCH 1/2] KVM: arm64: One", at=1, irt="c", diff=("a.c",)),
        mail("p2", "[PATCH 2/2] KVM: arm64: Two", at=2, irt="c", diff=("b.c",)),
        mail("r1", "Re: [PATCH 1/2] KVM: arm64: One", at=60, irt="p1"),
        mail("q", "Question about vgic", at=90),
        mail("s", "[PATCH] KVM: arm64: Lone fix", at=120, diff=("c.c",)),
    ]
    result = assemble(msgs)
    check_buckets(result)
    r = result.report
    assert (r.replies, r.other, r.in_series) == (1, {NO_PATCH_MARKER: 1}, 4)
    assert sorted(v.message_id for v in result.versions) == ["c", "s"]


def test_fallback_joins_unthreaded_patches_only_within_the_window():
    msgs = [
        mail("a1", "[PATCH v3 1/3] x: One", diff=("a",)),
        mail("a2", "[PATCH v3 2/3] x: Two", at=5, diff=("b",)),
        mail("a3", "[PATCH v3 3/3] x: Three", at=60 * 7, diff=("c",)),  # 7 h later
        mail("b2", "[PATCH v3 2/3] x: Two", at=6, sender="other@example.org", diff=("b",)),
    ]
    result = assemble(msgs)
    versions = {v.message_id: v.patch_ids for v in result.versions}
    assert versions["a1"] == ("a1", "a2")
    assert "a3" in versions and "b2" in versions


def test_orphans_sharing_a_missing_parent_form_one_version():
    # AUTOSEL-style: only some patches of a set reached the list, all replying to 01/34
    msgs = [
        mail(f"s{n}", f"[PATCH AUTOSEL 5.10 {n:02d}/34] virtio: fix {n}", at=n, irt="missing")
        for n in (3, 11, 20)
    ]
    msgs = [replace(m, has_diff=True, diff_files=(f"f{i}.c",)) for i, m in enumerate(msgs)]
    (v,) = assemble(msgs).versions
    assert v.kind == "stable" and v.message_id == "s3"
    assert v.patch_ids == ("s3", "s11", "s20") and not v.complete


def test_bare_cover_is_adopted_by_its_patches():
    msgs = [
        mail("c", "cleanup unused IOMMU APIs"),
        mail("p1", "[PATCH 1/2] iommu: drop a", at=1, irt="c", diff=("a",)),
        mail("p2", "[PATCH 2/2] iommu: drop b", at=1, irt="c", diff=("b",)),
    ]
    result = assemble(msgs)
    (v,) = result.versions
    assert v.has_cover and v.message_id == "c" and v.patch_ids == ("p1", "p2")
    assert result.report.other == {}


def test_an_untitled_cover_is_named_by_its_first_patch():
    # "[PATCH 0/5]" with no words after it (two such covers in the corpus)
    msgs = [
        mail("c", "[PATCH 0/2]"),
        mail("p1", "[PATCH 1/2] vhost-vdpa: batch IOTLB updates", at=1, irt="c", diff=("a",)),
        mail("p2", "[PATCH 2/2] vdpa: document batching", at=1, irt="c", diff=("b",)),
    ]
    (v,) = assemble(msgs).versions
    assert v.has_cover and v.title == "vhost-vdpa: batch IOTLB updates"
    assert v.subject == "[PATCH 0/2]"


def test_pull_and_stable_are_their_own_kinds_and_families():
    msgs = [
        mail("pull", "[GIT PULL] KVM/arm64 fixes for 6.1, take #1", sender="maz@kernel.org"),
        mail("pull2", "[GIT PULL] KVM/arm64 fixes for 6.1, take #1", at=9, sender="maz@kernel.org"),
        mail("st", "[PATCH 5.10 12/40] KVM: arm64: Fix", irt="gone", diff=("a",)),
        mail("s", "[PATCH] KVM/arm64 fixes for 6.1, take #1", sender="maz@kernel.org", diff=("a",)),
    ]
    result = assemble(msgs)
    kinds = {v.message_id: v.kind for v in result.versions}
    assert kinds == {"pull": "pull", "pull2": "pull", "st": "stable", "s": "pull"}
    assert result.report.kinds == {"pull": 3, "stable": 1}
    fams = {v.message_id: v.family for v in result.versions}
    # same title, nothing saying it is the same pull: every pull of a tree is its own
    assert fams["pull2"] != fams["pull"]


PULL_BODY = """Paolo,

Here's the first set of fixes.

The following changes since commit 1234567:

  Linux 6.1-rc1 (2022-10-16 15:36:24 -0700)

are available in the Git repository at:

  git://git.kernel.org/pub/scm/linux/kernel/git/kvmarm/kvmarm.git {tag}

for you to fetch changes up to 89abcdef:
"""


def test_pulls_join_only_when_they_ask_for_the_same_tag():
    t = "[GIT PULL] KVM/arm64 fixes for 6.1, take #1"
    msgs = [
        mail(
            "p1", t, sender="maz@kernel.org", body=PULL_BODY.format(tag="tags/kvmarm-fixes-6.1-1")
        ),
        mail(
            "p1r",
            "[GIT PULL RESEND] KVM/arm64 fixes for 6.1, take #1",
            at=60,
            sender="maz@kernel.org",
            body=PULL_BODY.format(tag="tags/kvmarm-fixes-6.1-1"),
        ),
        mail(
            "p2",
            t,
            at=9000,
            sender="maz@kernel.org",
            body=PULL_BODY.format(tag="tags/kvmarm-fixes-6.1-2"),
        ),
    ]
    result = assemble(msgs)
    fams = {v.message_id: v.family for v in result.versions}
    assert fams == {"p1": "p1", "p1r": "p1", "p2": "p2"}
    (link,) = next(v for v in result.versions if v.message_id == "p1r").lineage
    assert (link.earlier, link.reason, link.strength) == ("p1", "same-pull-tag", "explicit")


def test_families_link_by_change_id_and_by_version_links():
    v1 = mail("v1@x", "[PATCH 0/1] KVM: x86: Old name")
    v2 = mail(
        "v2@x",
        "[PATCH v2 0/1] KVM: x86: New name",
        at=60 * 24,
        body="Rework.\n\nChanges since v1:\n- renamed\n\nv1: https://lore.kernel.org/r/v1@x\n",
    )
    other = mail(
        "o",
        "[PATCH 0/1] KVM: x86: Unrelated",
        at=60 * 48,
        body="This applies on top of v2:\nhttps://lore.kernel.org/r/v2@x\n",
    )
    b4a = mail("b1", "[PATCH 0/1] a: b", at=5, body="Text.\n\n---\nchange-id: 20220301-abc\n")
    b4b = mail("b2", "[PATCH v2 0/1] c: d", at=9, body="Text.\n\n---\nchange-id: 20220301-abc\n")
    result = assemble([v1, v2, other, b4a, b4b])
    fam = {v.message_id: v.family for v in result.versions}
    assert fam["v2@x"] == "v1@x"
    assert fam["o"] == "o"
    assert fam["b2"] == fam["b1"] == "b1"


def test_companion_series_in_another_tree_is_its_own_family():
    kernel = mail("k", "[PATCH 0/2] KVM: arm64: SPE")
    tool = mail("t", "[PATCH kvmtool v2 0/2] arm64: SPE support", at=3, irt="k")
    result = assemble([kernel, tool])
    assert {v.family for v in result.versions} == {"k", "t"}


def test_empty_input():
    result = assemble([])
    assert result.versions == () and result.families == ()
    assert result.report.messages_read == 0


def test_undated_mails_do_not_break_ordering():
    msgs = [
        replace(mail("c", "[PATCH 0/1] x: y"), date=None),
        mail("p", "[PATCH 1/1] x: z", irt="c"),
    ]
    (v,) = assemble(msgs).versions
    assert v.patch_ids == ("p",)


# --------------------------------------------------------------------------- corpus samples
# Real mails cut from corpus/*.mbox (transport headers such as Received/DKIM dropped).


def test_sample_newer_version_threaded_to_older_cover():
    # v3 cover + patch; then a cover still labelled "v3 0/1" in reply to the v3 cover,
    # with "[PATCH v4 1/1]" in reply to it: a second version (v4), same family
    msgs = load(SAMPLES / "v2-threaded-to-v1.mbox")
    result = assemble(msgs)
    check_buckets(result)
    versions, families = grouping(msgs, result)
    assert versions == {0: [1], 2: [3]}
    assert families == [[0, 2]]
    by_root = {v.message_id: v for v in result.versions}
    assert by_root[msgs[2].message_id].version == 4
    assert all(v.complete for v in result.versions)


def test_sample_coverless_series():
    msgs = load(SAMPLES / "coverless.mbox")
    (v,) = assemble(msgs).versions
    assert not v.has_cover and v.message_id == msgs[0].message_id
    assert v.patch_ids == (msgs[0].message_id, msgs[1].message_id)
    assert v.n_patches == 2 and v.complete and v.cover.files == ("MAINTAINERS",)
    assert v.title == "MAINTAINERS: add a dedicated entry for vDPA"


def test_sample_pull_requests():
    msgs = load(SAMPLES / "pull-requests.mbox")
    result = assemble(msgs)
    check_buckets(result)
    assert {v.kind for v in result.versions} == {"pull"}
    assert len(result.families) == 2
    maz = next(v for v in result.versions if v.author_addr == "maz@kernel.org")
    assert maz.title.startswith("KVM/arm64 fixes for 6.0")
    assert maz.cover.files == ("arch/arm64/kvm/arm.c",)  # from the pull's diffstat


def test_pull_request_takes_patches_threaded_under_it():
    msgs = [
        mail("pr", "[GIT PULL] KVM/arm64 fixes for 6.1", sender="maz@kernel.org"),
        mail("p1", "[PATCH 1/2] KVM: arm64: a", irt="pr", sender="maz@kernel.org", diff=("a",)),
        mail("p2", "[PATCH 2/2] KVM: arm64: b", irt="pr", sender="maz@kernel.org", diff=("b",)),
        mail("x", "[PATCH 1/1] KVM: arm64: c", irt="pr", sender="other@example.org", diff=("c",)),
    ]
    result = assemble(msgs)
    by_root = {v.message_id: v for v in result.versions}
    assert by_root["pr"].kind == "pull" and by_root["pr"].patch_ids == ("p1", "p2")
    assert by_root["pr"].cover.files == ("a", "b") and by_root["pr"].complete
    assert by_root["x"].kind == "series"


def test_sample_autosel_set_missing_its_first_patch():
    msgs = load(SAMPLES / "autosel.mbox")
    (v,) = assemble(msgs).versions
    assert v.kind == "stable" and v.n_patches == 16 and not v.complete
    assert v.patch_ids == (msgs[0].message_id, msgs[1].message_id)
    assert v.cover.files == ("drivers/block/virtio_blk.c", "drivers/char/virtio_console.c")


def test_sample_broken_threading_joined_by_sender_and_time():
    # "[PATCH net v1 1/2]" and "2/2" six minutes apart, neither with In-Reply-To
    msgs = load(SAMPLES / "broken-threading.mbox")
    assert not any(m.in_reply_to or m.references for m in msgs)
    (v,) = assemble(msgs).versions
    assert v.tree == "net" and v.complete
    assert [p.index for p in v.patches] == [1, 2]


def test_long_deep_thread_with_reversed_dates_stays_one_version():
    n = 1500
    msgs = [mail("c", f"[PATCH 0/{n}] x: big", at=n + 1)]
    for i in range(1, n + 1):
        parent = "c" if i == 1 else f"p{i - 1}"
        msgs.append(mail(f"p{i}", f"[PATCH {i}/{n}] x: {i}", at=n - i, irt=parent, diff=("f",)))
    result = assemble(msgs)
    check_buckets(result)
    (v,) = result.versions
    assert v.message_id == "c" and len(v.patch_ids) == n and v.complete


def test_patches_sent_with_a_cover_whose_count_was_not_edited_are_its_patches():
    # Will Deacon's "[PATCH 00/18] Allow architectures to override __READ_ONCE()" came
    # with "[PATCH v3 01/19] ..." to "[PATCH v3 19/19] ...", all in reply to it: one
    # posting (v3, 19 patches), not an empty cover and a coverless v3 named by patch 1.
    msgs = [mail("c", "[PATCH 00/3] x: Allow y")]
    msgs += [
        mail(f"p{n}", f"[PATCH v3 {n:02d}/4] x: part {n}", at=1, irt="c", diff=(f"f{n}",))
        for n in range(1, 5)
    ]
    result = assemble(msgs)
    check_buckets(result)
    (v,) = result.versions
    assert v.message_id == "c" and v.patch_ids == ("p1", "p2", "p3", "p4")
    assert v.version == 3 and v.n_patches == 4 and v.complete
    assert v.title == "x: Allow y"


def test_another_count_in_reply_to_a_cover_later_is_another_posting():
    # the same labels a day later, or from someone else, are not the cover's patches
    msgs = [
        mail("c", "[PATCH 0/2] x: Allow y"),
        mail("a1", "[PATCH 1/2] x: a", at=1, irt="c", diff=("a",)),
        mail("a2", "[PATCH 2/2] x: b", at=1, irt="c", diff=("b",)),
        mail("late", "[PATCH v2 1/3] x: a", at=24 * 60, irt="c", diff=("a",)),
        mail("other", "[PATCH 1/3] x: c", at=2, irt="c", sender="o@example.org", diff=("c",)),
    ]
    result = assemble(msgs)
    by_root = {v.message_id: v for v in result.versions}
    assert by_root["c"].patch_ids == ("a1", "a2") and by_root["c"].n_patches == 2
    assert by_root["late"].patch_ids == ("late",)
    assert by_root["other"].patch_ids == ("other",)


def test_a_cover_keeps_its_count_when_some_patch_sent_with_it_has_it():
    # mst's "[PATCH 0/5] virtio: drop sizing vqs during init" had a stray "[PATCH 1/1]"
    # in reply to it, sent with it: the five are the cover's, the stray one its own
    msgs = [mail("c", "[PATCH 0/2] x: Allow y")]
    msgs.append(mail("stray", "[PATCH 1/1] x: docs", at=1, irt="c", diff=("d",)))
    msgs += [mail(f"p{n}", f"[PATCH {n}/2] x: {n}", at=2, irt="c", diff=(f"f{n}",)) for n in (1, 2)]
    result = assemble(msgs)
    by_root = {v.message_id: v for v in result.versions}
    assert by_root["c"].patch_ids == ("p1", "p2") and by_root["c"].n_patches == 2
    assert by_root["stray"].patch_ids == ("stray",)
