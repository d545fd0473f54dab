"""Why a series matches: sentence choice, stems, files and changelog evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from fakes import fake_version

from kvmsearch.models.records import ChangelogEntry, PatchInfo
from kvmsearch.query.evidence import (
    _is_point,
    best_sentences,
    build_hit,
    query_keys,
    sentences,
    term_spans,
)
from kvmsearch.query.understand import understand


def test_identifiers_are_their_own_terms() -> None:
    keys = query_keys(understand("KVM_CAP_STEAL_TIME"))
    assert len(keys) == 1
    why, matched = best_sentences(
        [
            "KVM_CAP_ARM_NISV lets userspace see the fault.",
            "This adds KVM_CAP_STEAL_TIME for arm64 guests.",
        ],
        keys,
    )
    assert why == ["This adds KVM_CAP_STEAL_TIME for arm64 guests."]
    assert term_spans("GICv3 and GICv4 both", ["GICv4"]) == [(10, 15)]


def test_words_match_by_light_stem() -> None:
    keys = query_keys(understand("migrate dirty logs"))
    why, _ = best_sentences(["Live migration needs the dirty log to be exact here."], keys)
    assert why
    text = "logs, log and catalog; Migration"
    marked = [text[a:b] for a, b in term_spans(text, ["log", "migrate"])]
    assert marked == ["logs", "log", "Migration"]
    assert term_spans(text, []) == []


def test_the_closed_spelling_of_a_compound_counts_and_is_marked() -> None:
    plan = replace(understand("vhost-net zero copy transmit"), spellings=("zerocopy",))
    why, matched = best_sentences(
        [
            "The zero page is copied on transmit.",
            "vhost-net zerocopy transmit is disabled: zerocopy keeps pages pinned.",
        ],
        query_keys(plan),
        n=1,
    )
    assert why[0].startswith("vhost-net zerocopy")
    assert "zerocopy" in {query_keys(plan)[k] for k in matched}
    assert term_spans("Zerocopy tx", ["zerocopy"]) == [(0, 8)]


def test_sentences_skip_bookkeeping_lines() -> None:
    text = (
        "This series adds dirty logging based on the hardware DBM bit.\n\n"
        "> On Mon, someone wrote that the dirty bit was wrong all along.\n"
        "Signed-off-by: Dirty Logger <dirty@example.org>\n"
        "Link: https://lore.kernel.org/r/dirty-log@example.org\n"
        " arch/arm64/kvm/dirty_log.c | 12 ++++++------\n"
        " 3 files changed, 20 insertions(+), 5 deletions(-)\n"
    )
    assert sentences(text) == ("This series adds dirty logging based on the hardware DBM bit.",)


def test_sentences_do_not_end_after_e_g_or_i_e() -> None:
    text = (
        "If userspace (e.g. QEMU) which opened the device still runs, removal blocks. "
        "The fix (i.e. This patch) waits with a timeout. It was seen on real hardware."
    )
    assert sentences(text) == (
        "If userspace (e.g. QEMU) which opened the device still runs, removal blocks.",
        "The fix (i.e. This patch) waits with a timeout.",
        "It was seen on real hardware.",
    )


def test_best_sentences_rank_by_distinct_terms_keep_reading_order() -> None:
    keys = query_keys(understand("dirty log DBM"))
    texts = [
        "A dirty sentence comes first in this text.",
        "Unrelated words fill this sentence entirely.",
        "The dirty log is collected by the hardware DBM bit.",
        "Then the dirty log gets synced in parallel chunks.",
    ]
    why, matched = best_sentences(texts, keys, n=2)
    assert why == [texts[2], texts[3]]
    assert matched == set(keys)


def test_a_commit_messages_defect_or_fix_leads_its_background() -> None:
    keys = query_keys(understand("hyp NMI inline functions"))
    message = (
        'The "inline" keyword is a hint for the compiler to inline a function. '
        "The NMI functions are used by hyp code, so mark them as __always_inline."
    )
    why, _ = best_sentences([message], keys, lead_with_cause=True)
    assert why[0].startswith("The NMI functions are used by hyp code, so mark them")
    assert why[1].startswith('The "inline" keyword')
    # in a cover the fix leads only from the same paragraph, right after the background
    assert best_sentences([message], keys)[0][0].startswith("The NMI functions are used")
    apart = message.replace(" The NMI", "\n\nThe NMI")
    assert best_sentences([apart], keys)[0][0].startswith('The "inline" keyword')
    # and another message's fix never leads
    cover = 'This series reworks the hyp NMI "inline" helpers.'
    patch = "Mark the NMI functions __always_inline, otherwise hyp panics."
    assert best_sentences([cover, patch], keys, lead_with_cause=True)[0] == [cover, patch]


def test_a_coverless_hits_why_leads_with_the_defect() -> None:
    v = fake_version(
        "p@x",
        "arm64: kvm: Annotate hyp NMI-related functions as __always_inline",
        'The "inline" keyword is a hint for the compiler to inline a function. '
        "The NMI helpers run at EL2, so mark them __always_inline to keep them in hyp.",
    )
    v = replace(v, has_cover=False)
    hit = build_hit([v], v, 1.0, understand("hyp NMI helpers inline"))
    assert hit.why[0].startswith("The NMI helpers run at EL2, so mark them")


def _version(mid, version, day, **kw):  # noqa: ANN001, ANN202
    v = fake_version(
        mid,
        "KVM: arm64: dirty log with DBM",
        kw.pop("motivation", ""),
        changelog=kw.pop("changelog", ()),
        patches=kw.pop("patches", ()),
    )
    return replace(
        v, family="fam@x", version=version, date=datetime(2020, 1, day, tzinfo=UTC), **kw
    )


def test_build_hit_versions_files_changelog() -> None:
    same = ChangelogEntry("v2", "Rebase dirty log sync.", ("Rebase dirty log sync.",))
    v1 = _version("v1@x", 1, 1, motivation="Nothing relevant is said in this cover.")
    v2 = _version(
        "v2@x",
        2,
        9,
        motivation="Nothing relevant is said in this cover either.",
        changelog=(same, ChangelogEntry("v1", "Typo fixes only.", ())),
        patches=(
            PatchInfo(
                "p1@x",
                "[PATCH v2 1/1] x",
                1,
                "Use KVM_CAP_STEAL_TIME to report the stolen time to guests.",
                ("arch/arm64/kvm/pvtime.c", "include/uapi/linux/kvm.h"),
            ),
        ),
    )
    v3 = _version("v3@x", 3, 20, motivation="Nothing here.", changelog=(same,))
    plan = understand("KVM_CAP_STEAL_TIME pvtime.c dirty")
    h = build_hit([v1, v3, v2], v2, 0.1234567, plan, explain={"k": 1})
    assert [r.message_id for r in h.versions] == ["v3@x", "v2@x", "v1@x"]
    assert h.family == "fam@x" and h.score == 0.123457 and h.explain == {"k": 1}
    assert h.files == ("arch/arm64/kvm/pvtime.c",)  # the file asked about, not the dirs
    # The identifier lives only in a patch's commit message: that is the why.
    assert h.why == ("Use KVM_CAP_STEAL_TIME to report the stolen time to guests.",)
    assert h.changelog == (same,)  # shown once although v2 and v3 both carry it
    assert set(h.terms) == {"KVM_CAP_STEAL_TIME", "dirty"}


def test_build_hit_falls_back_to_dense_chunk_then_motivation() -> None:
    v = _version("v@x", 1, 1, motivation="The cover explains its purpose at some length.")
    plan = understand("zorkmid")
    h = build_hit([v], None, 0.1, plan, dense_text="Title line\nThe chunk says why it matters.")
    assert h.why == ("The chunk says why it matters.",)
    assert build_hit([v], None, 0.1, plan).why == (
        "The cover explains its purpose at some length.",
    )
    assert h.files == () and h.terms == ()


def test_a_fix_whose_message_is_only_a_tool_report_shows_the_report() -> None:
    report = (
        "Fix the following coccicheck warnings:\n\n"
        "./arch/powerpc/kvm/book3s_xive.c:1856:2-17: WARNING: Assignment of 0/1 to\n"
        "bool variable.\n"
        "./arch/powerpc/kvm/book3s_xive.c:1854:2-17: WARNING: Assignment of 0/1 to\n"
        "bool variable.\n"
    )
    v = _version("v@x", 1, 1, motivation=report)
    h = build_hit([v], None, 0.1, understand("zorkmid"))
    assert h.why == (
        "./arch/powerpc/kvm/book3s_xive.c:1856:2-17: WARNING: Assignment of 0/1 to bool variable.",
    )
    # while anything else explains, quoted output is not chosen
    v = _version("v@x", 1, 1, motivation="The xive flags were ints, now bools.\n\n" + report)
    assert "WARNING" not in " ".join(build_hit([v], None, 0.1, understand("zorkmid")).why)


def test_repeated_sentences_are_quoted_once() -> None:
    keys = query_keys(understand("restore collection"))
    s = "Restoring a corrupted collection entry is being ignored and treated as success."
    why, _ = best_sentences([s, s + "\n\nSigned-off-by: X <x@y>"], keys)
    assert why == [s]


def test_a_question_naming_a_version_gets_its_own_changes() -> None:
    from kvmsearch.query.evidence import asked_changes, build_hit

    e1 = ChangelogEntry("v2", "", ("use RTNL for the rx mode worker",))
    e2 = ChangelogEntry("v3", "", ("don't use interrupt but cond_resched()",))
    e3 = ChangelogEntry("v4", "", ("tweak the comments",))
    v2 = _version("v2@x", 2, 2, changelog=(e1,))
    v3 = _version("v3@x", 3, 3, changelog=(e2, e1))
    v4 = _version("v4@x", 4, 4, changelog=(e3, e2, e1))
    newest_first = [v4, v3, v2]
    assert [e.items for e in asked_changes(newest_first, [3])] == [e2.items]
    # a version whose cover says nothing new: the entries labelled with its number
    bare = _version("v3b@x", 3, 3, changelog=())
    assert [e.items for e in asked_changes([v4, bare, v2], [3])] == [e2.items]
    # the own change is shown though it shares no word with the question
    hit = build_hit(newest_first, v4, 1.0, understand("what did v3 of dirty log DBM change"))
    assert hit.changelog[0].items == e2.items and hit.asked_versions == (3,)
    span = build_hit(newest_first, v4, 1.0, understand("dirty log DBM between v2 and v4"))
    assert [e.items for e in span.changelog[:2]] == [e2.items, e3.items]
    # and each asked version against the one before, patch by patch
    assert hit.version_diffs == ("v2 -> v3: 0 patches: 0 unchanged, 0 changed, 0 new; 0 dropped",)
    assert len(span.version_diffs) == 2


def test_background_gives_the_lead_to_the_point_after_it() -> None:
    keys = query_keys(understand("32-bit vCPUs mixed VM detection"))
    message = (
        "KVM allows userspace to configure either all EL1 32bit or 64bit vCPUs for a VM. "
        "Uninitialised vCPUs are wrongly counted as 64bit, so a mixed VM is detected. "
        "Other text about vCPUs follows here."
    )
    why, _ = best_sentences([message], keys)
    assert why[0].startswith("Uninitialised vCPUs are wrongly counted")
    assert why[1].startswith("KVM allows userspace")
    # the point need not share the question's words; the background stays, second
    why, _ = best_sentences(
        ["KVM allows userspace to configure 32bit vCPUs. Resetting one leaks memory each time."],
        keys,
    )
    assert why == [
        "Resetting one leaks memory each time.",
        "KVM allows userspace to configure 32bit vCPUs.",
    ]


def test_a_sentence_leaning_on_the_one_before_is_shown_with_it() -> None:
    keys = query_keys(understand("dma_addressing_limited NULL dma_mask dereference"))
    message = (
        "We currently have cases where dma_addressing_limited() gets called with dma_mask "
        "unset. This causes a NULL pointer dereference.\n\n"
        "Use dma_get_mask() to get the mask, which checks for a NULL dma_mask."
    )
    why, matched = best_sentences([message], keys, lead_with_cause=True)
    assert why[0] == (
        "We currently have cases where dma_addressing_limited() gets called with dma_mask "
        "unset. This causes a NULL pointer dereference."
    )
    # the sentence before is not shown again on its own, and its words are marked
    assert not any(w.startswith("We currently") for w in why[1:])
    assert {"dma_addressing_limited", "dma_mask", "null"} <= matched
    # the first sentence of a text has nothing to lean on; a long one names its subject
    why, _ = best_sentences(["This causes a NULL pointer dereference in dma_mask."], keys)
    assert why == ["This causes a NULL pointer dereference in dma_mask."]
    # nor does a sentence before that explains nothing lend itself
    why, _ = best_sentences(
        ["Thanks to Bob for the dma_mask report. This causes a NULL deref."], keys
    )
    assert why == ["This causes a NULL deref."]
    # "the latter" / "the former" need the sentence that names the two
    why, _ = best_sentences(
        [
            "strtobool() is the same as kstrtobool(). However, the latter is used for "
            "dma_mask parsing."
        ],
        keys,
        lead_with_cause=True,
    )
    assert why[0].startswith("strtobool() is the same as kstrtobool(). However, the latter")


def test_a_retort_or_a_description_does_not_take_the_lead() -> None:
    keys = query_keys(understand("PSTATE early guest exit"))
    cover = (
        "There are a number of cases where we evaluate PSTATE early on guest exit. "
        "Nothing wrong with that."
    )
    assert best_sentences([cover], keys)[0][0].startswith("There are a number of cases")
    cover = (
        "KVM adjusts the PSTATE mappings back on guest exit. "
        "We currently use the early path to replace the table entry."
    )
    assert best_sentences([cover], keys)[0][0].startswith("KVM adjusts the PSTATE")


def test_a_grab_bag_cover_gives_the_lead_to_what_a_patch_says() -> None:
    keys = query_keys(understand("arm assembly fixes cleanups dcache line size EFI"))
    cover = "This series is mostly fixes and cleanups for things I found when playing with EFI."
    patch = (
        "Compute the dcache line size when doing dcache maintenance instead of using a "
        "global variable computed in setup()."
    )
    why, _ = best_sentences([cover, patch], keys)
    assert why == [patch, cover]


def test_a_commit_messages_problem_leads_its_background_from_further_on() -> None:
    keys = query_keys(understand("stage2 PUD zapping PUD_SIZE PMD_SIZE"))
    message = (
        "Depending on the kernel configuration, PUD_SIZE could be equal to PMD_SIZE.\n\n"
        "For example, both of them are 512MB with the following kernel configuration.\n\n"
        "With the above configuration, the stage2 PUD backs the 512MB huge page.\n\n"
        "Unfortunately, the address isn't aligned to S2_PUD_SIZE and wrong page table "
        "entries are zapped."
    )
    why, _ = best_sentences([message], keys, lead_with_cause=True)
    assert why[0].startswith("Unfortunately, the address isn't aligned")
    assert why[1].startswith("Depending on the kernel configuration")
    # a cover looks no further than the next sentence of the paragraph
    assert best_sentences([message], keys)[0][0].startswith("Depending on the kernel")


def test_a_heading_over_a_list_is_shown_with_its_first_item() -> None:
    keys = query_keys(understand("races PSCI CPU_ON vCPU reset"))
    cover = (
        "There are a couple of races in the handling of CPU_ON:\n\n"
        "- KVM uses the kvm->lock to serialize the write-side of a vCPU's reset state.\n\n"
        "- The reset state is read without the lock when the vCPU runs."
    )
    why, _ = best_sentences([cover], keys)
    assert why[0] == (
        "There are a couple of races in the handling of CPU_ON: - KVM uses the kvm->lock "
        "to serialize the write-side of a vCPU's reset state."
    )
    assert not any(w.startswith("- KVM uses") for w in why[1:])
    # quoted output after a heading is not an item: the heading stays alone
    cover = (
        "Booting with two vCPUs and PSCI CPU_ON racing produces this reset oops:\n\n"
        "Unable to handle kernel paging request at virtual address 0000 during reset."
    )
    assert best_sentences([cover], keys)[0][0].endswith("reset oops:")


def test_an_item_joined_to_its_heading_is_not_joined_again() -> None:
    # the first item is itself a heading over the next: it was joined into the first
    # heading already and is not looked at again
    keys = query_keys(understand("vhost IOTLB update failure path leaks"))
    cover = (
        "The vhost IOTLB update has following issues in the failure path:\n\n"
        "- vhost IOTLB update leaks pinned pages on failure in these cases:\n\n"
        "- vhost IOTLB update fails after a partial map and leaks the rest."
    )
    why, _ = best_sentences([cover], keys)
    assert why[0] == (
        "The vhost IOTLB update has following issues in the failure path: - vhost IOTLB "
        "update leaks pinned pages on failure in these cases:"
    )


def test_a_list_item_is_a_sentence_of_its_own() -> None:
    text = (
        "So we need to emulate a software control virtqueue in the vDPA core.\n"
        "- we don't do it in the virtio-vDPA driver since it is not a host driver\n"
        "- we drop the shadow copy once the device has its own control queue"
    )
    assert sentences(text) == (
        "So we need to emulate a software control virtqueue in the vDPA core.",
        "- we don't do it in the virtio-vDPA driver since it is not a host driver",
        "- we drop the shadow copy once the device has its own control queue",
    )
    # a line broken before a dash or a number goes on the sentence above it
    text = (
        "The ring overflows when the buffers are reloaded\n"
        "- buffers posted before the reset are overflowed too. The affinity (bit\n"
        "31) from MPIDR_EL1 is ignored by the guest."
    )
    assert sentences(text) == (
        "The ring overflows when the buffers are reloaded - buffers posted before the "
        "reset are overflowed too.",
        "The affinity (bit 31) from MPIDR_EL1 is ignored by the guest.",
    )


def test_an_item_shown_alone_loses_its_marker_and_a_patch_list_is_not_a_why() -> None:
    keys = query_keys(understand("vDPA control virtqueue emulation"))
    cover = (
        "This series adds the vDPA core pieces for the control virtqueue.\n\n"
        "The following patches need reviews:\n"
        "- [3/5] vdpa: emulate the control virtqueue in software for vDPA devices\n\n"
        "Why:\n"
        "- the control virtqueue of a vDPA device cannot be trapped by the vDPA core."
    )
    why, _ = best_sentences([cover], keys)
    assert not any("[3/5]" in w for w in why)
    assert "the control virtqueue of a vDPA device cannot be trapped by the vDPA core." in why


def test_a_scene_paragraph_gives_the_lead_to_the_next_paragraphs_change() -> None:
    keys = query_keys(understand("enforce W^X at EL2 for nVHE with SCTLR_EL2.WXN"))
    cover = (
        "Since we use distinct permissions when mapping things at EL2 depending on "
        "whether they are text or data, we are already using a W^X setup with nVHE.\n\n"
        "This trivial series aims to enforce it by setting SCTLR_EL2.WXN at all times."
    )
    why, _ = best_sentences([cover], keys)
    assert why[0].startswith("This trivial series aims to enforce it")
    # but not to a paragraph about the posting or one of its parts
    cover = (
        "Since we use distinct permissions when mapping things at EL2 depending on "
        "whether they are text or data, we are already using a W^X setup with nVHE.\n\n"
        "The RFC of this series did not set SCTLR_EL2.WXN for nVHE at EL2 at all."
    )
    assert best_sentences([cover], keys)[0][0].startswith("Since we use distinct")


def test_lets_leans_on_the_sentence_before_and_a_quoted_subject_is_not_the_topic() -> None:
    keys = query_keys(understand("check the advertised stage-2 page sizes at boot"))
    message = (
        "With ARMv8.5-GTG, the hardware can advertise the supported Stage-2 page sizes. "
        "Let's check this at boot time."
    )
    why, _ = best_sentences([message], keys, lead_with_cause=True)
    assert why[0] == message
    keys = query_keys(understand("drop the GCC 4.9 workaround for the S asm constraint"))
    message = (
        "Since GCC < 5.1 has been shown to be unsuitable for the arm64 kernel, let's drop "
        "the workaround for the 'S' asm constraint that GCC 4.9 doesn't always grok. "
        'This is effectively a revert of 9fd339a45be5 ("arm64: Work around broken GCC 4.9 '
        'handling of "S" constraint").'
    )
    why, _ = best_sentences([message], keys, lead_with_cause=True)
    assert why[0].startswith("Since GCC < 5.1")


def test_an_announcement_saying_the_title_again_gives_the_lead_to_what_it_is_for() -> None:
    title = "gpio: Add virtio-gpio driver"
    keys = query_keys(understand("virtio gpio driver for guests"))
    cover = (
        "This patch adds a new driver for Virtio based GPIO devices. This allows a guest "
        "VM running Linux to access GPIO lines provided by the host."
    )
    why, _ = best_sentences([cover], keys, title=title)
    # "This allows ..." points back at the announcement: the two are one line
    assert why[0] == cover
    # the problem or its cause leads too ("The erratum potentially allows ...")
    erratum = (
        "This series enables a workaround for Cortex-A55 erratum 1530923. The erratum "
        "lets TLB entries be allocated as a result of a speculative AT instruction."
    )
    why, _ = best_sentences(
        [erratum],
        query_keys(understand("Cortex-A55 erratum")),
        title="arm64: Workaround for Cortex-A55 erratum 1530923",
    )
    assert why[0].startswith("The erratum lets TLB entries")
    # not talk of the versions, nor a plain description, nor for an announcement with
    # words of its own, nor for a sentence about another patch
    for after in (
        "In this version we try to address the performance regression seen in v2.",
        "It was written by the same people who wrote the QEMU device model.",
    ):
        why, _ = best_sentences([cover.split(" This allows")[0] + " " + after], keys, title=title)
        assert why[0].startswith("This patch adds a new driver")
    own = (
        "This patch adds a new driver for GPIO lines that the host exports through a "
        "shared memory window. This allows a guest VM running Linux to use them."
    )
    assert best_sentences([own], keys, title=title)[0][0].startswith("This patch adds")
    other = (
        "The patch adding the driver did not initialize it. This means the GPIO lines "
        "stay unusable in a guest."
    )
    assert best_sentences([other], keys, title=title)[0][0].startswith("The patch adding")


def test_background_gives_the_lead_to_a_short_effect_joined_to_its_cause() -> None:
    title = "virtio-net: don't disable guest csum when disable LRO"
    keys = query_keys(understand("virtio-net LRO guest checksum Open vSwitch"))
    message = (
        "Open vSwitch and Linux bridge will disable LRO of the interface when this "
        "interface added to them. Now when disable the LRO, the virtio-net csum is "
        "disable too. That drops the forwarding performance."
    )
    why, _ = best_sentences([message], keys, title=title, lead_with_cause=True)
    assert why[0] == (
        "Now when disable the LRO, the virtio-net csum is disable too. That drops the "
        "forwarding performance."
    )
    # a defect denied is not one ("Nothing wrong with that.")
    denied = (
        "There are a number of cases where we evaluate the LRO state early on guest exit. "
        "Nothing wrong with that."
    )
    why, _ = best_sentences([denied], keys, title=title, lead_with_cause=True)
    assert why[0].startswith("There are a number of cases")
    assert "Nothing wrong" not in why[0]


def test_a_short_order_naming_the_code_it_touches_can_take_the_lead() -> None:
    title = "vhost/scsi: fix up req type endian-ness"
    keys = query_keys(understand("vhost-scsi request type endianness"))
    message = (
        "vhost/scsi doesn't handle type conversion correctly for request type when using "
        "virtio 1.0 and up for BE, or cross-endian platforms. Fix it up using "
        "vhost_32_to_cpu."
    )
    why, _ = best_sentences([message], keys, title=title, lead_with_cause=True)
    assert why[0].endswith("Fix it up using vhost_32_to_cpu.")
    assert why[0].startswith("vhost/scsi doesn't handle type conversion")
    # a short sentence naming no code is still no point ("So switch it over.")
    assert not _is_point("So switch it over.", title)
    assert _is_point("Add the drm_atomic_helper_fake_vblank() call there.", title)


def test_a_point_that_points_back_at_the_scene_is_shown_with_it() -> None:
    title = "vhost/net: Clear the pending messages when the backend is removed"
    keys = query_keys(understand("stale IOTLB miss messages replayed by the virtual IOMMU"))
    message = (
        "When the vhost iotlb is used along with a guest virtual iommu and the guest gets "
        "rebooted, some MISS messages may have been recorded just before the reboot. "
        "This is due to the fact the pending messages are not cleared."
    )
    why, _ = best_sentences([message], keys, title=title, lead_with_cause=True)
    assert why[0] == (
        "When the vhost iotlb is used along with a guest virtual iommu and the guest gets "
        "rebooted, some MISS messages may have been recorded just before the reboot. This "
        "is due to the fact the pending messages are not cleared."
    )
    assert len(why) == 1 or "This is due to" not in why[1]
    # too long to be one line: the scene keeps the lead rather than the pointer leading
    long_scene = message.replace("just before the reboot", "just before the reboot " + "x " * 90)
    why, _ = best_sentences([long_scene], keys, title=title, lead_with_cause=True)
    assert why[0].startswith("When the vhost iotlb is used")


def test_a_point_going_on_from_a_sentence_further_on_is_shown_with_that_one() -> None:
    title = "kthread: Generalize pf_io_worker so it can point to struct kthread"
    keys = query_keys(understand("set_child_tid kthread pointer pf_io_worker"))
    message = (
        "The point of using set_child_tid to hold the kthread pointer was that it already "
        "did what is necessary. There are now restrictions on when set_child_tid can be "
        "initialized. Which indicates that continuing to use set_child_tid to hold the "
        "kthread pointer is a bad idea. Instead of continuing to use set_child_tid "
        "generalize the pf_io_worker field and use it to hold the kthread pointer."
    )
    why, _ = best_sentences([message], keys, title=title, lead_with_cause=True)
    assert why[0] == (
        "There are now restrictions on when set_child_tid can be initialized. Which "
        "indicates that continuing to use set_child_tid to hold the kthread pointer is a "
        "bad idea."
    )
    # a turn ("But ...") that cannot be joined still leads on its own
    turn = (
        "In order to call RTAS functions on powerpc the tests rely on the RTAS blob "
        + "supplied by qemu " * 12
        + ". But the tests bypass the usual guest firmware, so we can't get the rtas "
        "blob from SLOF."
    )
    why, _ = best_sentences(
        [turn], query_keys(understand("RTAS blob qemu firmware")), lead_with_cause=True
    )
    assert why[0].startswith("But the tests bypass the usual guest firmware")


def test_a_lead_the_next_sentence_turns_against_gives_it_the_lead() -> None:
    title = "powerpc/pseries: Use doorbells even if XIVE is available"
    keys = query_keys(understand("pseries IPIs msgsndp doorbells XIVE"))
    message = (
        "KVM supports msgsndp in guests by trapping and emulating the instruction, so it "
        "was decided to always use XIVE for IPIs if it is available. However on PowerVM "
        "systems, msgsndp can be used and gives better performance. So switch to using "
        "core local doorbells even if XIVE is available."
    )
    why, _ = best_sentences([message], keys, title=title, lead_with_cause=True)
    assert why[0].startswith("However on PowerVM systems")
    assert any(w.startswith("KVM supports msgsndp") for w in why)
    # not a turn whose subject is still the lead, nor one about the posting
    for turn in (
        "However, this only happens if the XIVE IPI is used.",
        "However, this series does not convert the msgsndp XIVE users yet.",
    ):
        kept = message.replace(
            "However on PowerVM systems, msgsndp can be used and gives better performance.",
            turn,
        )
        why, _ = best_sentences([kept], keys, title=title, lead_with_cause=True)
        assert why[0].startswith("KVM supports msgsndp"), turn


def test_a_commit_messages_lead_that_states_the_change_keeps_it() -> None:
    title = "virtio_mmio: Restore guest page size on resume"
    keys = query_keys(understand("virtio mmio interrupt handler after reset"))
    message = (
        "This patch tries to make sure the virtio interrupt handler for MMIO won't be "
        "called after a reset. The handler could otherwise crash on a stale vq."
    )
    why, _ = best_sentences([message], keys, title=title, lead_with_cause=True)
    assert why[0].startswith("This patch tries to make sure the virtio interrupt handler")


def test_a_promoted_point_displaces_the_chosen_line_with_fewest_query_terms() -> None:
    from kvmsearch.query.evidence import _promote

    top = [
        (3, 0, "three terms here", {"a", "b", "c"}, 0),
        (1, 1, "one term", {"a"}, 0),
        (2, 2, "two terms", {"a", "b"}, 0),
    ]
    _promote(top, "the point", 3)
    assert [t[2] for t in top] == ["the point", "three terms here", "two terms"]
