"""Small search indexes for the search, render and library tests.

Built with the FakeEmbedder so they take well under a second and never load torch.
"""

from __future__ import annotations

import base64
from pathlib import Path

from fakes import FakeEmbedder

from kvmsearch.index import Index

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

#: the bundled patchwork exports of cover letters (not data/'s archive slice: a small,
#: fixed corpus keeps these tests fast and their expectations stable) plus real threads
#: with patches: a coverless pair, a v1/v2 family, pull requests, an AUTOSEL stable backport
SOURCES = [
    *sorted((REPO / "data").glob("*.txt")),
    *sorted((TESTS / "samples" / "series").glob("*.mbox")),
    TESTS / "samples" / "sources" / "kvm-ppc-mboxrd.mbox",
    # a real thread with a maintainer's b4 thank-you reply (landing)
    TESTS / "samples" / "landing" / "landed-b4-thanks.mbox",
]

#: modules a lexical-only query path must never import
HEAVY = ("torch", "sentence_transformers", "transformers", "faiss", "onnxruntime")

# Known series in SOURCES, by what the tests ask about them.
DBM = "20200702135556.36896-1-zhukeqian1@huawei.com"  # "Support HW dirty log based on DBM"
PTP_FAMILY = "20191125104506.36850-1-jianyong.wu@arm.com"  # RFC v8, RFC v13, v13
PTP_V13 = "20200619130120.40556-1-jianyong.wu@arm.com"
VIRTIO_BT_V2 = "20221024134033.30142-1-Igor.Skalkin@opensynergy.com"
VIRTIO_BT_V2_PATCH = "20221024134033.30142-2-Igor.Skalkin@opensynergy.com"
VIRTIO_BT_FAMILY = "20221018191911.589564-1-Igor.Skalkin@opensynergy.com"
STEAL_TIME = "20200619184629.58653-1-drjones@redhat.com"  # "Introduce KVM_CAP_STEAL_TIME"


def build_index(dest: Path, sources: list[Path] | None = None) -> Path:
    """Build an index of ``sources`` (default: SOURCES) at ``dest``; returns ``dest``."""
    Index(dest, embedder_factory=FakeEmbedder).add([str(s) for s in sources or SOURCES])
    return dest


def open_index(dest: Path) -> Index:
    return Index.open(dest, embedder_factory=FakeEmbedder)


# --------------------------------------------------------------------------- hostile mail

#: what a hostile sender can put in a mail to take over a terminal: CSI (clear screen),
#: OSC 52 (write the clipboard), OSC 8 (disguised hyperlink), 8-bit C1 CSI, a bidi
#: override that makes ".exe" read as "txt", a NUL
HOSTILE_TITLE = "zorkmid \x1b[2J\x1b]52;c;ZXZpbA==\x07 done \x9b31m \u202etxt.exe\u202c \x00nul"
HOSTILE_AUTHOR = "Mallory \x1b]8;;http://evil.example\x07Evil\x1b]8;;\x07"
HOSTILE_COVER = "hostile-0@example.org"
HOSTILE_PATCH = "hostile-1@example.org"


def _encoded_word(text: str) -> bytes:
    # RFC 2047 carries any character, control characters included, through a header.
    return b"=?utf-8?b?" + base64.b64encode(text.encode()) + b"?="


def hostile_mbox() -> bytes:
    """A two-message series whose headers and bodies carry terminal escapes, C1
    controls, bidi overrides, NULs and bytes that are not valid UTF-8."""
    cover = (
        b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
        b"From: " + _encoded_word(HOSTILE_AUTHOR) + b" <mallory@example.org>\n"
        b"To: kvm@vger.kernel.org\n"
        b"Subject: [PATCH 0/1] KVM: arm64: " + _encoded_word(HOSTILE_TITLE) + b"\n"
        b"Date: Tue, 11 Aug 2020 10:57:09 +0800\n"
        b"Message-Id: <" + HOSTILE_COVER.encode() + b">\n"
        b"List-Id: <kvm.vger.kernel.org>\n"
        b"X-Junk: caf\xe9 \xff\xfe\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: 8bit\n\n"
        b"This series makes the zorkmid handling \x1b[31mred\x1b[0m and clears \x1b[2J the "
        b"screen.\n"
        b"The zorkmid path now sends \x1b]52;c;cGF5bG9hZA==\x07 to the clipboard and "
        b"\xc2\x9b31m a C1 CSI.\n"
        b"Invalid bytes \xff\xfe\x9b here, a NUL \x00 and a bidi \xe2\x80\xae reversed "
        b"zorkmid text.\n\n"
        b"Changes since v1:\n- zorkmid \x1b[5m blink\n\n"
        b"Mallory (1):\n  KVM: arm64: zorkmid\n\n"
        b" arch/arm64/kvm/zork\x1b[2Jmid.c | 2 +-\n"
        b" 1 file changed, 1 insertion(+), 1 deletion(-)\n\n"
    )
    patch = (
        b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
        b"From: Mall\xf6ry <mallory@example.org>\n"
        b"To: kvm@vger.kernel.org\n"
        b"Subject: [PATCH 1/1] KVM: arm64: zorkmid \xff\x1b[2J raw\n"
        b"Date: Tue, 11 Aug 2020 10:57:10 +0800\n"
        b"Message-Id: <" + HOSTILE_PATCH.encode() + b">\n"
        b"In-Reply-To: <" + HOSTILE_COVER.encode() + b">\n"
        b"References: <" + HOSTILE_COVER.encode() + b">\n"
        b"List-Id: <kvm.vger.kernel.org>\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: 8bit\n\n"
        b"The zorkmid \x9b2J change \x1b[2J is explained \x1b]8;;http://x\x1b\\here\x1b]8;;"
        b"\x1b\\.\n\n"
        b"Signed-off-by: Mallory <mallory@example.org>\n---\n"
        b" arch/arm64/kvm/zorkmid.c | 2 +-\n\n"
        b"diff --git a/arch/arm64/kvm/zorkmid.c b/arch/arm64/kvm/zorkmid.c\n"
        b"--- a/arch/arm64/kvm/zorkmid.c\n+++ b/arch/arm64/kvm/zorkmid.c\n"
        b"@@ -1 +1 @@\n-a\n+b\n\n"
    )
    # a review whose own words and the quoted line it answers are markup
    review = (
        b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
        b"From: Mallory <mallory@example.org>\n"
        b"Subject: Re: [PATCH 1/1] KVM: x86: zorkmid\n"
        b"Date: Wed, 12 Aug 2020 12:00:00 +0800\n"
        b"Message-Id: <xss-r1@example.org>\n"
        b"In-Reply-To: <" + XSS_PATCH.encode() + b">\n"
        b"References: <" + XSS_COVER.encode() + b"> <" + XSS_PATCH.encode() + b">\n"
        b"List-Id: <kvm.vger.kernel.org>\n\n"
        b"> <script>alert(10)</script>\n\n"
        b"Please <iframe src=javascript:alert(9)></iframe> zorkmid harder.\n\n"
    )
    return cover + patch + review


def build_hostile_index(tmp: Path) -> Path:
    """An index of :func:`hostile_mbox` alone; returns its directory."""
    mbox = tmp / "hostile.mbox"
    mbox.write_bytes(hostile_mbox())
    return build_index(tmp / "index", [mbox])


# --------------------------------------------------------------------------- hostile HTML

#: a subject that is markup and terminal control at once: the web UI must show it as
#: text, run nothing, load nothing
XSS_TITLE = (
    'zorkmid <script>alert("xss")</script> <img src=x onerror=alert(1)> '
    '"><svg onload=alert(2)> \x1b[2J\x1b]8;;http://evil.example\x07link\x1b]8;;\x07'
)
XSS_COVER = "xss-0@example.org"
XSS_PATCH = "xss-1@example.org"


def xss_mbox() -> bytes:
    """A cover and a patch whose subject, author and body are HTML and escapes."""
    subject = _encoded_word(f"[PATCH 0/1] KVM: x86: {XSS_TITLE}")
    author = _encoded_word('Eve <b onmouseover="alert(3)">"Evil"</b>')
    cover = (
        b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
        b"From: " + author + b" <eve@example.org>\n"
        b"To: kvm@vger.kernel.org\n"
        b"Subject: " + subject + b"\n"
        b"Date: Wed, 12 Aug 2020 10:57:09 +0800\n"
        b"Message-Id: <" + XSS_COVER.encode() + b">\n"
        b"List-Id: <kvm.vger.kernel.org>\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: 8bit\n\n"
        b"This series makes the zorkmid emulation <script>alert(4)</script> faster by "
        b"caching the <iframe src=javascript:alert(5)> zorkmid state.\n"
        b"Without it the zorkmid exit costs \x1b[31m every time\x1b[0m.\n\n"
        b"Changes since v1:\n- zorkmid <a href=javascript:alert(6)>link</a>\n\n"
        b"Eve (1):\n  KVM: x86: zorkmid\n\n"
        b" arch/x86/kvm/zorkmid.c | 2 +-\n"
        b" 1 file changed, 1 insertion(+), 1 deletion(-)\n\n"
    )
    patch = (
        b"From mboxrd@z Thu Jan  1 00:00:00 1970\n"
        b"From: Eve <eve@example.org>\n"
        b"To: kvm@vger.kernel.org\n"
        b"Subject: [PATCH 1/1] KVM: x86: zorkmid <img src=x onerror=alert(7)>\n"
        b"Date: Wed, 12 Aug 2020 10:57:10 +0800\n"
        b"Message-Id: <" + XSS_PATCH.encode() + b">\n"
        b"In-Reply-To: <" + XSS_COVER.encode() + b">\n"
        b"References: <" + XSS_COVER.encode() + b">\n"
        b"List-Id: <kvm.vger.kernel.org>\n\n"
        b"Cache the zorkmid state <script>alert(8)</script>.\n\n"
        b"Signed-off-by: Eve <eve@example.org>\n---\n"
        b" arch/x86/kvm/zorkmid.c | 2 +-\n\n"
        b"diff --git a/arch/x86/kvm/zorkmid.c b/arch/x86/kvm/zorkmid.c\n"
        b"--- a/arch/x86/kvm/zorkmid.c\n+++ b/arch/x86/kvm/zorkmid.c\n"
        b"@@ -1 +1 @@\n-a\n+b\n\n"
    )
    return cover + patch
