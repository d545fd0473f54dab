"""Which sentences can stand as a *why* line (indexer.text.boilerplate.explains)."""

from __future__ import annotations

import pytest

from kvmsearch.indexer.text.boilerplate import explains, states_cause_or_fix

TITLE = "KVM: arm64: Support chained PMU counters"


@pytest.mark.parametrize(
    "sentence",
    [
        "Hi all,",
        "Many thanks to Alex and Gavin for the reviews.",
        "Here's version four of the series.",
        "This is the third version of this series.",
        "Updated with everybody's feedback.",
        "This series is based on v5.10-rc1.",
        "These patches are rebased on Nested Virtualization V6 patchset[1].",
        "It applies on top of kvmarm/next.",
        "This series is based on current upstream kernel source plus Cedric's patch "
        '"KVM: PPC: XIVE: Free escalation interrupts", which is a pre-requisite for it.',
        "The first patch is a prerequisite for this series.",
        "iov_iter: Fix iov_iter_get_pages{,_alloc} page fault return value powerpc/kvm: "
        "Fix kvm_use_magic_page",
        "Changes since v2: dropped the first patch.",
        "[1] https://lore.kernel.org/r/20200702135556.36896-1-zhukeqian1@huawei.com",
        "References: [1] [kvm-unit-tests RFC 00/15] arm/arm64: add ITS framework",
        "It is better to review the original patch: [PATCH v8 2/9] iommu: Maintain a SID",
        "Resolves: https://gitlab.com/kvm-unit-tests/kvm-unit-tests/-/issues/4",
        "| #vCPU | dirty memory time (ms) | +-------+---------+",
        "Testing was performed with the included selftest on an Ampere Altra machine.",
        "This series depends on the patches from Xie.",
        "This series is still waiting for the vgic rework to land.",
        "Support chained PMU counters.",
        "This series tries to support chained PMU counters.",
        "This patch set adds chained PMU counters.",
        "Version 3 of adding MTE support for KVM guests.",
        "The following patches need reviews: - [11/15] vsock: add multi-transports support",
        "- [11/15] vsock: add multi-transports support",
        "[PATCH 3/4] KVM: arm64: Drop the vcpu reset lock",
        "All PMU tests can be launched with: ./run_tests.sh -g pmu",
        "Please review and let me know what you think.",
        "For example: ./arm-run arm/pmu.flat -append 'pmu-chained-sw-incr'",
        "$ qemu-system-aarch64 -M virt -cpu max",
        "I've tested this series with nested KVM (vsock-transport [L0,L1]).",
        "I'll try to setup a Windows host where to test the nested VMs.",
        "Call trace: stage2_map_walk_leaf+0x124/0x158 stage2_map_walker+0x5c/0xf0",
        "__might_fault+0x84/0xe0 (unreliable) kvm_read_guest+0x1c8/0x2f0 [kvm]",
        "[   12.345678] WARNING: CPU: 0 PID: 375 at net/core/xdp.c:138",
        "I\u2019m on vacation so I\u2019ll review this series when I\u2019m back on 28th.",
        "I\u2019ll review the rest of the series next week.",
        "Since commit 11663111cd49 the get-reg-list tests have been failing with",
        "This series adds the multi-transports support to vsock, following",
        "drivers/virtio/virtio_balloon.c:168:5: warning: symbol 'virtballoon_free_page_report'"
        " was not declared. Should it be static?",
        "drivers/gpu/drm/virtio/virtgpu_ioctl.c:50 virtio_gpu_fence_event_create() warn: "
        "should '(1 << ring_idx)' be a 64 bit type?",
        "arch/arm64/kvm/hyp/pgtable.c:1045:13: error: unused variable 'level'",
        "BUG: KASAN: slab-out-of-bounds in vgic_its_restore_ite+0x1c/0x40",
        "WARNING: CPU: 3 PID: 1202 at arch/arm64/kvm/vgic/vgic-its.c:1204",
        "Internal error: Oops: 96000004 [#1] PREEMPT SMP",
        "kvm: Limiting the IPA size kvm [1]: IDMAP intersecting with HYP VA, unable to "
        "continue kvm [1]: error initializing Hyp mode: -22",
        "Based on arm64 for-next/stacktrace.",
        "Based on kvmarm/next.",
        "kernel.user_worker branch:",
        "See the individual patches for details.",
        "which allows us to check the vhost owner thread's RLIMITs:",
        "And we have Contiguous bit[52] in stage2 VMSAv8-64 block and page descriptors.",
        "This reverts commit 8d65bc9a5be3f23c5e2ab36b6b8ef40095165b18.",
        "Patch 18 (KVM: arm64: Dump nVHE hypervisor stack on panic) was also squashed into "
        "earlier patches.",
        "For vhost-scsi you can set virtqueue_workers to:",
        "I'm not familiar with the affected code, so I may have overlooked something.",
        "Eric pointed out this missing part of use case, send it here again.",
        "It requires KVM SPE support which is in the RFC phase, hence why this series is also RFC.",
        "I was hoping the 2 items could be done independently since it helps vhost-scsi.",
        "[Same distribution list as Gavin's dirty-ring on arm64 series]",
        '11663111cd49 ("KVM: arm64: Hide PMU registers from userspace when not available")',
        "vdpa dev add mgmtdev vdpasim_blk name blk0 vdpa dev add mgmtdev vdpasim_blk name blk1",
        "qemu-system-x86_64 -m 512M -smp 2 -M q35,accel=kvm,memory-backend=mem -object mem",
        "(qemu) migrate -d tcp:0:3333",
        "- Benchmark: fio ioengine=pvsync2 numjobs=4 direct=1 - Guest: 4 vCPUs",
        "Test results: (1) when 20 vCPUs concurrently access 20G ram: 52.83s -> 3.70s",
        'For more background on this effort please see my talk from KVM Forum 2022 "MMU":',
        "Please see the cover letter of v1 for the motivation.",
        'More details can be found from fb04a1eddb1a ("KVM: X86: Implement ring-based dirty").',
        "180 arch/x86/kvm/mmu/tdp_iter.c 118 arch/x86/kvm/mmu/tdp_iter.h 1917 "
        "arch/x86/kvm/mmu/tdp_mmu.c 98 arch/x86/kvm/mmu/tdp_mmu.h 2313 total",
        "- Non-nested exception injection when executing at EL0 has been fixed.",
        "This patch set supports chained PMU counters.",
        "The patches are scheduled to be sent to Linus for 6.4.",
        "They also apply over the mst vhost branch if you revert the previous worker patchset.",
        "The following patches were built over linux-next which contains various vhost patches.",
        "The patches were made over Linus's tree but apply over mst's next/vhost branches.",
        "Support for process-scoped invalidations from nested guests will be added separately.",
        "SME is currently not supported for KVM guests, this will be done as a followup series.",
        "The following patches apply over mst's vhost branch and were tested againt that "
        "branch and also mkp's 5.13 branch which has some vhost-scsi changes.",
    ],
)
def test_boilerplate_does_not_explain(sentence: str) -> None:
    assert not explains(sentence, TITLE)


@pytest.mark.parametrize(
    "sentence",
    [
        "This patch series adds support for dirty log based on HW DBM.",
        "Here is v3, which moves the PMU state into the vcpu so that migration keeps the "
        "counters running across the switch.",
        "ARMv8 provides support for chained PMU counters, where an odd counter increments "
        "on each overflow of the preceding even counter.",
        "Without this, a guest that enables interrupts sees a timer interrupt storm.",
        "This is based on arm64 ASID allocator algorithm.",
        "The current upstream code leaks the page when the queue is full.",
        "Note: Without this patch, KVM: arm64 guests see the wrong value.",
        "This is based on the observation that current kernels fault on every access.",
        "v2 of the GIC driver fixes the race where the distributor is enabled before the "
        "redistributors are ready.",
        "With round robin scheduling, vCPUs starve.",
        "For example, a guest that enables the timer early sees an interrupt storm.",
        "A pseries guest can be run as a secure guest on Ultravisor-enabled POWER platforms.",
        "Marek reported a BUG resulting from the recent parallel faults changes, as the hyp "
        "stage-1 map walker attempted to allocate table memory while holding the RCU lock.",
        "The offset 0x40/0x80 of the redistributor frame holds the pending table address.",
        "This leads to a use-after-free in virtblk_getgeo() when HDIO_GETGEO is invoked:",
        "Warning: without this a guest that boots with the PMU disabled sees stale counters.",
        "The WARN_ON in mmu.c:1204 fires when the memslot is deleted while dirty logging.",
        "Based on the discussion at LPC, the vgic now owns the LPI translation cache.",
        "The trap applies over the whole range of ID registers, not just the first page.",
        "The missing check will be added later by a helper that every caller uses.",
        "Boot time drops from 52.83s to 3.70s with 20 vCPUs on 1G pages in arch/arm64/kvm/mmu.c.",
        "Without this, userspace must please the guest by replaying every MMIO exit.",
        "Since commit 11663111cd49 the PMU registers are hidden when the PMU is absent.",
        "Returning -EFAULT, -EINVAL or -ENOMEM from the ioctl tells userspace what failed.",
        "See, the guest cannot tell the two patches apart, so the host must track them.",
        "The RFC 7348 VXLAN header is parsed by the device, so the driver skips it.",
        "So fix that by using the correct type in virtio_gpu_create_object.",
        "Android's ART runtime relies on it (a word opening with And is not the conjunction).",
        "This reverts commit 8d65bc9a5be3 because it broke suspend on legacy PCI devices; "
        "the workaround is no longer needed.",
        "Patch 2 moves the doorbell setup into the vgic init, so a later failure unwinds it.",
        "As the thread [1] shows, the doorbell fires before the vPE is resident.",
        "When the guest disables the MMU, the cache must be cleaned in the following order:",
        "The race has been fixed by taking the MMU lock before walking the page tables.",
        "This patch adds support for batched IOTLB updating, so the device maps once.",
        "There is a performance benefit in waiting for an event to arrive before the trap.",
    ],
)
def test_sentences_that_say_what_and_why_stay(sentence: str) -> None:
    assert explains(sentence, TITLE)


@pytest.mark.parametrize(
    ("sentence", "says"),
    [
        ("KVM returns early and skips the checks, because the flag is false.", True),
        ("The functions are used at EL2, so mark them as __always_inline.", True),
        ("This leads to a use-after-free when the file is removed.", True),
        ("Use TCG instead of KVM in this case.", True),
        ("The inline keyword is a hint for the compiler to inline a function.", False),
        ("So far the series adds two helpers.", False),
        ("However H_PAGE_IN_NONSHARED is not defined in the header file.", True),
        ("There is a performance benefit in waiting for an event before the trap.", True),
        ("This triggers a WARN_ON(preemptible()) at enable_kernel_fp.", True),
        ("The PMUSERENR_EL0 bit isn't cleared on vcpu reset.", True),
        ("Unfortunately, userspace sees the old value.", True),
        ("This is not a new interface for userspace.", False),
        ("The hcall takes a flag parameter that is not covered here.", False),
    ],
)
def test_states_cause_or_fix(sentence: str, says: bool) -> None:
    assert states_cause_or_fix(sentence) is says


def test_what_counts_as_background() -> None:
    from kvmsearch.indexer.text.boilerplate import is_background, states_change

    assert is_background("KVM allows userspace to configure either all EL1 32bit or 64bit vCPUs.")
    assert is_background("These buffers are preallocated by the guest with a fixed size (4 KB).")
    assert is_background("Support for nested virtualization is being worked on in KVM [1].")
    assert is_background("We currently use BBM to replace the table entry with a block entry.")
    assert not is_background("This addresses a couple of issues Will has found with refcounts.")
    assert not is_background("Vilas reported that virtio-vsock no longer worked after resume.")
    assert not is_background("The fix is applied by hand here.")
    assert states_change("Drop the kvm pointer as it is unused.")
    assert states_change("This series adds a new set of gfn_to_pfn_page functions.")
    assert states_change("We introduce a new ioctl for the offsets.")
    assert not states_change("Use of the old helper is racy.")


def test_a_grab_bag_summary_is_background_and_future_work_explains_nothing() -> None:
    from kvmsearch.indexer.text.boilerplate import is_background, is_grab_bag

    for s in (
        "This series is a mix of bug fixes, cleanup and new support in KVM's huge pages.",
        "This series is mostly fixes and cleanups for things I found when playing with EFI.",
        "One fix reported by Akihiko, and another found while going over the driver.",
        "Here are a couple of fixes for issues in the XIVE KVM device when testing the limits.",
    ):
        assert is_grab_bag(s) and is_background(s), s
    # a bunch of anything else is not a grab bag
    assert not is_grab_bag('It produces a bunch of "debugfs: Directory already present!" errors.')
    assert not explains(
        "For vhost-vDPA, the packed virtqueue support still needs to be done at both vhost "
        "core and vhost-vDPA in the future."
    )
    assert not explains("Nested support is left as future work for now, as agreed.")


def test_an_earlier_commits_story_is_background_unless_it_names_a_defect() -> None:
    from kvmsearch.indexer.text.boilerplate import is_background

    assert is_background(
        'Commit bda324fd037a ("vdpasim: control virtqueue support") changed the allocation '
        "of iotlbs calling vhost_iotlb_init(), instead of vhost_iotlb_alloc()."
    )
    assert not is_background('Commit 1a2b3c4d5e6f ("x") introduced a regression on resume.')
    assert not is_background("With this change we forgot to use the max_iotlb_entries limit.")


def test_more_sentences_that_explain_nothing() -> None:
    from kvmsearch.indexer.text.boilerplate import is_grab_bag

    for s in (
        "This should not cause any behavioral change.",
        "This is a clean up and no functional change is intended.",
        "It is based on Eli's fixes: 2e4cda633a22 in the vhost tree.",
        "As introduced in v5, this one contains the patch to propagate the new state.",
        "It could be enabled by default again in the future if we fix the above issues.",
        "now fails to load the kernel, as the file descriptor cannot be seeked.",
        "seems wrong since guest_offloads is zero initialized after reset.",
        "We are uncertain if there are any aspects we may have overlooked here.",
    ):
        assert not explains(s), s
    assert is_grab_bag("Small batch of improvements for the 'Opt-in always-on nVHE' series.")
    assert is_grab_bag("This patchset contains the fixes for a few issues found in review.")


def test_coccinelle_output_and_a_heading_over_a_quote_explain_nothing() -> None:
    assert not explains(
        "arch/arm64/kvm/mmu.c:1114:9-10: WARNING: return of 0/1 in function 'kvm_age_gfn' "
        "with return type bool"
    )
    assert not explains("Building demand_paging_test.c with clang throws the following warning:")
    # a sentence that goes on past "the following ..." still says something
    assert explains(
        "Doing this at CPU starting time results in the following trace when "
        "CONFIG_DEBUG_ATOMIC_SLEEP is enabled:"
    )


def test_revision_talk_explains_nothing_and_performance_loss_is_a_defect() -> None:
    from kvmsearch.indexer.text.boilerplate import is_background

    assert not explains("Most of the changes are fixing up the numerous checkpatch failures.")
    assert not explains("Not a great deal has changed from the last posting, only tests.")
    assert not is_background("Now when LRO is disabled, that drops the forwarding performance.")
    assert not is_background("Walking the whole table on every exit is expensive on big hosts.")


def test_the_authors_puzzlement_explains_nothing_and_an_example_is_background() -> None:
    from kvmsearch.indexer.text.boilerplate import is_background, is_grab_bag

    assert not explains(
        "HCR_EL2.TID0 mandates trapping of JIDR, but I couldn't find a trace of it in QEMU."
    )
    assert not explains("I wonder if it should be implemented at all in this series.")
    assert is_background("Examples for PageOffline() pages are pages inflated in a balloon.")
    assert is_background("For example, both of them are 512MB with the following config.")
    assert not is_background("For example, a guest with 4GB crashes when the balloon deflates.")
    assert is_grab_bag("These are small timer improvement and buglet fix, from the C-ify series.")


def test_hopes_for_the_posting_explain_nothing_and_an_addition_does_not_lead() -> None:
    from kvmsearch.indexer.text.boilerplate import is_background

    assert not explains("It would be great to have at least patch 3 merged for v5.14 as well.")
    assert is_background("Furthermore, the driver now also lets -ENOMEM errors go to userspace.")
    assert not is_background("Moreover, this leaks the buffer on every reset of the device.")


def test_a_short_sentence_pointing_back_leans_on_the_one_before() -> None:
    from kvmsearch.indexer.text.boilerplate import leans_on_previous

    assert leans_on_previous("This causes a NULL pointer dereference.")
    assert leans_on_previous("But seems we can't forbid this example.")
    assert leans_on_previous("So fix that by using the correct type.")
    assert leans_on_previous("Let's check this at boot time.")
    assert leans_on_previous("Which seems pretty wrong.")
    assert leans_on_previous("This series fixes all of them.")
    assert leans_on_previous("Use it instead of open coding variant.")
    assert leans_on_previous("Update the MAINTAINERS file to reflect this change.")
    assert not leans_on_previous("Add a NULL check to the vgic init path.")
    # it names its own subject: a posting, or a long sentence that says its own cause
    assert not leans_on_previous("This series adds a NULL check.")
    assert not leans_on_previous("This small patch set adds a NULL check.")
    assert not leans_on_previous(
        "This is because with LTO, the compiler ends up placing hyp_panic() far away."
    )
    assert not leans_on_previous("Uninitialised vCPUs are wrongly counted.")


def test_the_first_diagnostic_of_a_tool_report() -> None:
    from kvmsearch.indexer.text.boilerplate import first_diagnostic

    text = (
        "drivers/vdpa/ifcvf/ifcvf_main.c:34:24: warning: variable 'ifcvf' set but not\n"
        "used [-Wunused-but-set-variable]\n"
        "drivers/vdpa/ifcvf/ifcvf_base.c:304:31: warning: variable 'ifcvf_lm' set ..."
    )
    assert first_diagnostic(text) == (
        "drivers/vdpa/ifcvf/ifcvf_main.c:34:24: warning: variable 'ifcvf' set but not used "
        "[-Wunused-but-set-variable]"
    )
    assert first_diagnostic("No report here, only prose about arm.c and its users.") is None
    # a hostile token is one try, not a scan from every position
    assert first_diagnostic("a" * 100_000 + ".c:1") is None


def test_a_wrong_quantity_or_step_names_a_defect() -> None:
    from kvmsearch.indexer.text.boilerplate import is_background, names_defect

    for s in (
        "Userspace requested command buffer allocations could be too large to make as a "
        "contiguous allocation.",
        "But this is useless since the packet could be modified by XDP.",
        "But we pass a pointer to this VMA after having released the mmap_sem, which isn't "
        "a good idea.",
    ):
        assert names_defect(s) and not is_background(s), s
    assert not names_defect("Nothing wrong with that.")
    assert not names_defect("The buffer is large enough for two pages.")


def test_a_defect_said_as_not_working_a_dump_and_a_from_line() -> None:
    from kvmsearch.indexer.text.boilerplate import explains, is_background, names_defect

    assert names_defect(
        "This function isn't currently working properly for VFs since it attempts "
        "reading device and vendor ID."
    )
    assert names_defect("The doorbell is not working after a reset.")
    assert not names_defect("The doorbell is working as the spec says.")
    # an earlier commit's story that says what it caused is the defect, not background
    assert not is_background(
        'Commit b1c5356e873c ("KVM: x86: rework gfn ranges") causes unmap_gfn_range and '
        "age_gfn callbacks to only work on the first gfn in the range."
    )
    assert is_background(
        'Commit bda324fd037a ("vdpasim: control virtqueue support") changed the allocation '
        "of iotlbs."
    )
    # a register dump is no why line; a sentence quoting one commit id still is
    assert not explains("NIP 000000007daf97e0 LR 000000007daf1aec CTR 000000007dafc0e0 XER 0")
    assert explains("Commit 0c24e061196c broke the freeing of physically allocated objects.")
    assert not explains("From: Like Xu <like.xu@linux.intel.com>")
    assert not explains("sparse warnings: (new ones prefixed by >>)")
