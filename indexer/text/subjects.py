"""Subject markers: what ``[PATCH RFC v3 02/12]`` and its many spellings say.

One pass over the subject with a handful of precompiled regexes, because it runs on
every mail of an archive (55k subjects in well under a second).
"""

from __future__ import annotations

import re

from kvmsearch.models.records import SubjectInfo

__all__ = ["parse_subject", "normalise_title", "strip_markers", "TREES"]

# "Re:", "RE:", "Re[2]:", "Fwd:", "AW:", "Antw:", "回复:" ... and "PING:", which is a
# reply to the patch being pinged, never a new posting.
_REPLY = re.compile(
    r"\s*(?:ping\s+)?(?:re|res|aw|antw|sv|vs|wg|fwd?|tr|odp|rif|ynt|ping|回复|答复|转发)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_LEAD_GROUP = re.compile(r"\s*\[([^\[\]]*)\]\s*")
_TAIL_GROUP = re.compile(r"\s*\[([^\[\]]*)\]\s*$")
# A missing opening bracket ("PATCH v2 1/3] KVM: ...") or bracketless "GIT PULL".
_BARE_MARKER = re.compile(
    r"\s*((?:rfc\s+)?patch(?:v\d+)?(?:\s+[\w.-]+)*?\s+\d+\s*/\s*\d+)\s*\]\s*"
    r"|\s*(git\s+pull|pull\s+request)\b\s*[:-]?\s*",
    re.IGNORECASE,
)
# "3/8", "03/12", "1 / 3", and Mercurial's "1 of 2".
_N_OF_M = re.compile(r"(?<![\w.])(\d{1,4})\s*(?:/|\bof\b)\s*(\d{1,4})(?![\w.])")
_TOKEN_SPLIT = re.compile(r"[\s,;]+")
# Version spellings: v3, V3, v3.1, PATCHv3, RFCv2, RFC-v2, PATCH_v4, "version 3" is rare.
_VERSION = re.compile(r"(?:patch|rfc|rft|resend|pull)?[-_]?v(\d{1,3})(?:\.\d+)?")
_KERNEL_VERSION = re.compile(r"(?:linux-)?v?(\d+\.\d+)(?:\.\d+|\.y|-rc\d+)?")
_FOR_TREE = re.compile(r"for[-_]?(\d+\.\d+(?:-rc\d+)?|next|linus|stable)")
_STABLE = re.compile(r"(?:for-)?stable(?:[-:][\w.{}]*)?|autosel|manualsel|stable:patch")
# "repo:branch" groups are build-robot reports ("[vhost:vhost 1/2] drivers/...: warning"),
# not postings.
_ROBOT = re.compile(r"^[\w.-]+:[\w./-]+$")
_PULL_TITLE = re.compile(
    r"^(?:please\s+pull\b|[\w-]+/[\w-]+\s+(?:fixes|updates)\s+for\s)", re.IGNORECASE
)
# Greg's "Patch "X" has been added to the 5.10-stable tree" notifications.
_STABLE_ADDED = re.compile(r'^patch\s+"(.+)"\s+has\s+been\s+added\s+to\s+the\s+', re.IGNORECASE)
_TAG = re.compile(r"([A-Za-z0-9_{][\w\-./{}, ]{0,39}?)\s*:\s+")
_WS = re.compile(r"\s+")
_NORM_DROP = re.compile(r"[^\w]+")

_PATCH_WORDS = frozenset({"patch", "patches", "patchset", "patch-set", "series"})
_RFC_WORDS = frozenset(
    {"rfc", "rft", "rfc/rft", "rft/rfc", "rfc/patch", "rfc-patch", "rfc_patch", "cft", "rfc/cft"}
)
_RESEND_WORDS = frozenset({"resend", "resent", "repost", "resubmit", "(resend)"})
_PULL_WORDS = frozenset({"pull", "git-pull"})

#: Tree spellings seen on the lists, normalised (lower case, one name per tree).
TREES: dict[str, str] = {
    "kvm-unit-tests": "kvm-unit-tests",
    "kvm-unit-test": "kvm-unit-tests",
    "kvm-unit-tests-": "kvm-unit-tests",
    "kut": "kvm-unit-tests",
    "unit-tests": "kvm-unit-tests",
    "kvmtool": "kvmtool",
    "kvm-tool": "kvmtool",
    "kvmtools": "kvmtool",
    "qemu": "qemu",
    "virtiofsd": "virtiofsd",
    "kernel": "kernel",
    "net-next": "net-next",
    "net": "net",
    "bpf": "bpf",
    "bpf-next": "bpf-next",
    "vhost": "vhost",
    "virtio": "virtio",
    "vdpa": "vdpa",
    "vfio": "vfio",
    "linux-next": "linux-next",
    "-next": "linux-next",
    "next": "linux-next",
    "mlx5-next": "mlx5-next",
    "mlx5-vhost": "mlx5-vhost",
    "rdma-next": "rdma-next",
    "iproute2": "iproute2",
    "iproute2-next": "iproute2-next",
    "rcu": "rcu",
    "trivial": "trivial",
}
_TREE_KEYS = {k.lower(): v for k, v in TREES.items()}
# Words that carry no field but still make a trailing group a marker ("[DO NOT MERGE]").
_NOISE = frozenset(
    {
        "git",
        "untested",
        "donotmerge",
        "do",
        "not",
        "merge",
        "for",
        "don't",
        "apply",
        "dont",
        "doc",
        "rebased",
        "fixed",
        "urgent",
        "wip",
        "test",
    }
)


class _Markers:
    __slots__ = ("patch", "rfc", "resend", "pull", "stable", "version", "index", "total", "tree")

    def __init__(self) -> None:
        self.patch = self.rfc = self.resend = self.pull = self.stable = False
        self.version: int | None = None
        self.index: int | None = None
        self.total: int | None = None
        self.tree: str | None = None


def _read_group(text: str, mk: _Markers) -> bool:
    """Fold one bracket group into ``mk``; return False when it holds no marker at all."""
    low = text.strip().lower()
    if not low:
        return False
    tokens = [t for t in _TOKEN_SPLIT.split(low) if t]
    if any(_ROBOT.match(t) and t != "stable:patch" for t in tokens):
        return False
    found = False
    m = _N_OF_M.search(low)
    if m:
        mk.index, mk.total = int(m.group(1)), int(m.group(2))
        low = low[: m.start()] + " " + low[m.end() :]
        tokens = [t for t in _TOKEN_SPLIT.split(low) if t]
        found = True
    kernel_version = False
    noise_only = True
    prev = ""
    for tok in tokens:
        tok = tok.strip("()")
        if tok in _PATCH_WORDS:
            mk.patch = found = True
        elif tok in _RFC_WORDS:
            mk.rfc = mk.patch = found = True
        elif tok in _RESEND_WORDS:
            mk.resend = found = True
        elif tok in _PULL_WORDS:
            mk.pull = mk.patch = found = True
        elif (v := _VERSION.fullmatch(tok)) is not None:
            mk.version = int(v.group(1))
            found = True
            if tok.startswith(("patch", "rfc", "rft", "resend", "pull")):
                mk.patch = True
                mk.rfc = mk.rfc or tok.startswith(("rfc", "rft"))
                mk.resend = mk.resend or tok.startswith("resend")
                mk.pull = mk.pull or tok.startswith("pull")
        elif (f := _FOR_TREE.fullmatch(tok)) is not None:
            target = f.group(1)
            if target == "stable":
                mk.stable = found = True
            else:
                mk.tree = "linux-next" if target == "next" else f"for-{target}"
                found = True
        elif _STABLE.fullmatch(tok):
            mk.stable = found = True
            if tok.endswith("patch"):
                mk.patch = True
        elif _KERNEL_VERSION.fullmatch(tok):
            if prev == "for":
                mk.tree = f"for-{_KERNEL_VERSION.fullmatch(tok).group(1)}"  # type: ignore[union-attr]
            else:
                kernel_version = True
            found = True
        elif tok in _TREE_KEYS:
            mk.tree = _TREE_KEYS[tok]
            found = True
        elif tok.startswith("patch") and tok[5:] in _TREE_KEYS:  # "[PATCH][kvmtool]" glued
            mk.patch = found = True
            mk.tree = _TREE_KEYS[tok[5:]]
        elif tok not in _NOISE:
            noise_only = False
        prev = tok
    # "[PATCH 5.10 12/34]", "[PATCH 4.19]": a backport to a stable kernel.
    if kernel_version and (mk.patch or mk.index is not None):
        mk.stable = True
    return found or noise_only


def _tags(title: str) -> tuple[str, ...]:
    tags: list[str] = []
    pos = 0
    while len(tags) < 8:
        m = _TAG.match(title, pos)
        if not m:
            break
        tag = m.group(1).strip()
        # A tag is a short name ("KVM", "Book3S HV", "tools/virtio"), not a clause.
        if tag.count(" ") > 2 or ". " in tag or tag.endswith(","):
            break
        tags.append(tag)
        pos = m.end()
    return tuple(tags)


def parse_subject(subject: str) -> SubjectInfo:
    """Split a mail subject into its markers, its title and its subsystem tags.

    ``Re: [kvm-unit-tests PATCH v2 3/8] arm64: pmu: Fix x`` gives is_reply, tree
    ``kvm-unit-tests``, version 2, 3 of 8, title ``arm64: pmu: Fix x``, tags
    ``("arm64", "pmu")``. Unknown bracket groups at the start ("[Question]") are dropped
    from the title; trailing groups only when they hold markers.
    """
    s = subject or ""
    is_reply = False
    mk = _Markers()
    any_marker = False
    while True:
        m = _REPLY.match(s)
        if m:
            is_reply = True
            s = s[m.end() :]
            continue
        m = _LEAD_GROUP.match(s)
        if m:
            any_marker |= _read_group(m.group(1), mk)
            s = s[m.end() :]
            continue
        if not any_marker and s[:1] in "PpGg":
            m = _BARE_MARKER.match(s)
            if m:
                any_marker |= _read_group(m.group(1) or m.group(2).replace(" ", "-"), mk)
                s = s[m.end() :]
                continue
        break
    while True:
        m = _TAIL_GROUP.search(s)
        if not m or m.start() == 0:
            break
        probe = _Markers()
        if not _read_group(m.group(1), probe):
            break
        any_marker |= _read_group(m.group(1), mk)
        s = s[: m.start()]
    # "[Patch 2/2]: powerpc/..." puts a colon after the markers.
    title = _WS.sub(" ", s).strip().lstrip(":").lstrip()
    kind = "series"
    stable_added = _STABLE_ADDED.match(title)
    if stable_added:
        # A notice about a backport, not a posting: kind "stable" but no patch marker.
        title = stable_added.group(1).strip()
        mk.stable = True
    if mk.stable:
        kind = "stable"
    elif mk.pull or _PULL_TITLE.match(title):
        kind = "pull"
        mk.patch = mk.patch or bool(any_marker)
    # A version or n/M marks a patch even without the word ("[kvmtool v2 1/3]", "[3/5]");
    # a tree name alone does not ("[kvm-unit-tests] question about ...").
    is_patch = mk.patch or mk.version is not None or mk.index is not None
    return SubjectInfo(
        title=title,
        is_reply=is_reply,
        is_patch=bool(is_patch),
        version=mk.version if mk.version is not None else 1,
        rfc=mk.rfc,
        resend=mk.resend,
        index=mk.index,
        total=mk.total,
        tree=mk.tree,
        kind=kind,
        tags=_tags(title),
    )


def normalise_title(title: str) -> str:
    """Fold a title for family matching: lower case, punctuation and spacing collapsed."""
    return _NORM_DROP.sub(" ", title.lower()).strip()


_LEADING_MARKERS = re.compile(r"^\s*(?:\[[^\]]*\]\s*)+")


def strip_markers(subject: str) -> str:
    """``subject`` without its leading bracketed markers (``[PATCH v2 3/7]``)."""
    return _LEADING_MARKERS.sub("", subject)
