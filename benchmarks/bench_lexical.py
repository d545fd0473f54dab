"""Speed of the lexical index on synthetic series versions of realistic size.

Sizes follow the kvmarm archive: cover letters ~2-3 KB of prose, ~6 patches per series
with ~600 B commit messages, 5-25 files. Words follow a Zipf law over a vocabulary of
English words, kernel identifiers and paths, so the lexicon grows like a real one.

    .venv/bin/python benchmarks/bench_lexical.py [--docs 4300] [--procs 1 2] [--queries 200]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kvmsearch.indexer.index.lexical import build_lexical, update_lexical
from kvmsearch.models.records import ChangelogEntry, CoverFields, PatchInfo, SeriesVersion
from kvmsearch.query.lexical import LexicalSearcher

_EN = (
    "the of to and a in is that for it with as on be by this are we from at or an not "
    "can which but have has if when so all will also there than more only other into "
    "guest host vcpu memory page table fault interrupt timer migration dirty log track "
    "stage mapping unmap cache flush barrier lock unlock mutex spinlock race condition "
    "support add remove fix cleanup refactor introduce handle handling expose enable "
    "disable feature capability register trap emulate emulation hypervisor nested "
    "virtual physical address range size granule block huge pages hugepage tlb "
    "invalidate invalidation vmid asid context switch save restore state userspace "
    "ioctl device virtio vhost ring queue descriptor buffer notify notification irq "
    "gic vgic its lpi redistributor distributor pmu counter event steal time stolen "
    "accounting pvtime paravirtual hypercall smccc psci firmware sve fpsimd pointer "
    "authentication mte tag allocation tracking write protect protection logging "
    "bitmap ring reset boot reboot shutdown suspend resume power management "
    "performance latency overhead benchmark test selftest unit series patch version "
    "previous changes since rebase reviewed comments feedback thanks".split()
)
_IDENTS = (
    "KVM_CAP_ARM_MTE KVM_CAP_STEAL_TIME KVM_CAP_DIRTY_LOG_RING KVM_SET_USER_MEMORY_REGION "
    "KVM_ARM_VCPU_PMU_V3 kvm_pgtable_stage2_map kvm_pgtable_stage2_unmap kvm_vcpu_ioctl "
    "kvm_arch_vcpu_ioctl_run __kvm_vcpu_run kvm_mmu_notifier_invalidate_range "
    "stage2_map_walker kvm_set_spte_gfn vgic_v3_dispatch_sgi ID_AA64PFR0_EL1 "
    "HCR_EL2 VTCR_EL2 kvm_handle_guest_abort user_mem_abort vhost_vq_get_desc "
    "virtqueue_add_split vring_interrupt kvmppc_h_enter kvmppc_xive_set_irq".split()
)
_PATHS = (
    "arch/arm64/kvm/pvtime.c arch/arm64/kvm/mmu.c arch/arm64/kvm/hyp/pgtable.c "
    "arch/arm64/kvm/hyp/nvhe/switch.c arch/arm64/kvm/vgic/vgic-its.c arch/arm64/kvm/arm.c "
    "arch/arm64/include/asm/kvm_host.h arch/x86/kvm/mmu/mmu.c arch/x86/kvm/x86.c "
    "drivers/vhost/vhost.c drivers/vhost/net.c drivers/vhost/vdpa.c "
    "drivers/virtio/virtio_ring.c drivers/virtio/virtio_balloon.c "
    "arch/powerpc/kvm/book3s_hv.c arch/powerpc/kvm/book3s_xive.c virt/kvm/kvm_main.c "
    "include/uapi/linux/kvm.h Documentation/virt/kvm/api.rst "
    "tools/testing/selftests/kvm/dirty_log_test.c".split()
)


def _vocab(n: int = 20000) -> list[str]:
    # one fixed vocabulary, so queries use the words the documents use
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    made = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(n)}
    return list(_EN) + _IDENTS + sorted(made)


class _Text:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.vocab = _vocab()
        weights = [1.0 / (i + 1) for i in range(len(self.vocab))]
        self.cum = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)

    def words(self, n: int) -> str:
        picks = self.rng.choices(self.vocab, cum_weights=self.cum, k=n)
        out = []
        for i, w in enumerate(picks):
            out.append(w)
            if i % 14 == 13:
                out[-1] += ".\n" if i % 56 == 55 else "."
        return " ".join(out)


def synthetic_versions(n: int, seed: int = 1) -> list[SeriesVersion]:
    rng = random.Random(seed)
    text = _Text(rng)
    t0 = datetime(2019, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        npatch = max(1, int(rng.expovariate(1 / 6)))
        files = tuple(rng.sample(_PATHS, rng.randint(1, 6))) + tuple(
            f"arch/arm64/kvm/f{rng.randint(0, 400)}.c" for _ in range(rng.randint(3, 18))
        )
        patches = tuple(
            PatchInfo(
                message_id=f"p{i}.{k}@bench",
                subject=f"[PATCH v2 {k + 1}/{npatch}] KVM: arm64: {text.words(8)}",
                index=k + 1,
                commit_message=text.words(rng.randint(40, 160))
                + "\n\nSigned-off-by: Some One <some@one.org>\n",
                files=files[k % len(files) : k % len(files) + 3],
            )
            for k in range(npatch)
        )
        cover = CoverFields(
            motivation=text.words(rng.randint(150, 450)),
            changelog=(ChangelogEntry("v2", text.words(rng.randint(20, 90))),),
            shortlog=tuple(p.subject.split("] ", 1)[1] for p in patches),
            files=files,
        )
        out.append(
            SeriesVersion(
                message_id=f"s{i}@bench",
                family=f"s{i - i % 3}@bench",
                kind="series" if i % 20 else "pull",
                version=1 + i % 3,
                rfc=False,
                resend=False,
                tree=None,
                title=f"KVM: arm64: {text.words(7)}",
                subject="",
                tags=("KVM", "arm64"),
                author=f"Dev{i % 300} Person <dev{i % 300}@example.org>",
                author_addr=f"dev{i % 300}@example.org",
                date=t0 + timedelta(hours=7 * i),
                lists=("kvmarm.lists.cs.columbia.edu",),
                has_cover=True,
                patch_ids=tuple(p.message_id for p in patches),
                n_patches=npatch,
                cover=cover,
                patches=patches,
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=4300)
    ap.add_argument("--procs", type=int, nargs="+", default=[1])
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()

    versions = synthetic_versions(args.docs)
    chars = sum(
        len(v.cover.motivation) + sum(len(p.commit_message) for p in v.patches) for v in versions
    )
    print(f"{len(versions)} versions, {chars / len(versions) / 1024:.1f} KiB text each")
    tmp = Path(tempfile.mkdtemp(prefix="bench-lexical-"))
    try:
        for procs in args.procs:
            d = tmp / f"ix{procs}"
            t, c = time.perf_counter(), os.times()
            build_lexical(d, versions, procs=procs)
            c2 = os.times()
            cpu = (c2.user - c.user) + (c2.children_user - c.children_user)
            size = sum(f.stat().st_size for f in d.iterdir()) / 2**20
            print(
                f"build procs={procs}: {time.perf_counter() - t:.1f} s "
                f"(cpu {cpu:.1f} s), {size:.0f} MiB"
            )
        d = tmp / f"ix{args.procs[0]}"
        copy = tmp / "copy"
        shutil.copytree(d, copy)
        t = time.perf_counter()
        update_lexical(copy, synthetic_versions(60, seed=2), [v.message_id for v in versions[:40]])
        print(f"update (60 upserts, 40 deletes): {time.perf_counter() - t:.2f} s")

        s = LexicalSearcher(d)
        rng = random.Random(3)
        text = _Text(rng)
        queries = [
            "dirty log tracking",
            "KVM_CAP_ARM_MTE",
            '"steal time" accounting',
            "stage2 page table mapping",
            "vgic its lpi migration",
        ] + [text.words(rng.randint(1, 4)).replace(".", "") for _ in range(args.queries)]
        # the allowed set the filter resolver would hand over for author:dev7
        dev7 = frozenset(v.message_id for v in versions if "dev7" in v.author.lower())
        for label, fn in (
            ("search", lambda q: s.search(q)),
            ("search+filters", lambda q: s.search(q, allowed=dev7)),
            ("search_identifier", lambda q: s.search_identifier(q.split()[0] if q else "x")),
            ("search_paths", lambda q: s.search_paths([rng.choice(_PATHS)])),
        ):
            fn(queries[0])
            times, cpu = [], []
            for q in queries:
                t, c = time.perf_counter(), time.process_time()
                fn(q)
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
            times.sort()
            print(
                f"{label}: p50 {statistics.median(times):.1f} ms, "
                f"p90 {times[int(len(times) * 0.9)]:.1f} ms, max {times[-1]:.1f} ms "
                f"(cpu p50 {statistics.median(cpu):.1f} ms)"
            )
        s.close()
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
