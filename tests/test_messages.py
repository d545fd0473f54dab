"""Message decoding: headers, bodies, trimming, and robustness against broken mail."""

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from kvmsearch.indexer.mail import messages
from kvmsearch.indexer.mail.messages import decode_all, is_reply_subject, parse_message
from kvmsearch.indexer.mail.sources import open_source
from kvmsearch.models.errors import MailParseError
from kvmsearch.models.records import Message, RawMail, Skip

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PEER_MAIL = SHARED / "peer-mail"
SAMPLES = Path(__file__).resolve().parent / "samples" / "messages"
PEER_FILES = sorted(PEER_MAIL.glob("*/*.mbox"))


def _sample(name: str, default_list: str | None = None) -> Message:
    return parse_message(RawMail((SAMPLES / name).read_bytes(), name, "file", default_list))


def _peer(relpath: str) -> list[Message | Skip]:
    path = PEER_MAIL / relpath
    if not path.exists():
        pytest.skip(f"{path} not available")
    return list(decode_all(open_source(path).read(), workers=1))


def _raw(text: str, **kw) -> RawMail:
    return RawMail(text.encode("utf-8"), kw.get("source", "test.mbox"), "byte 0", None)


# --------------------------------------------------------------------------- real samples


def test_sender_rewritten_by_the_list_is_recovered():
    m = _sample("via-virtualization.eml")
    assert m.from_name == "Nadav Amit"
    assert m.from_addr == "namit@vmware.com"
    assert m.lists == ("virtualization.lists.linux-foundation.org",)


def test_via_suffix_is_stripped_even_without_reply_to():
    raw = (
        'From: "Jane Dev via Virtualization" <virtualization@lists.linux-foundation.org>\n'
        "Subject: [PATCH] x\nMessage-ID: <a@b>\n\nbody\n"
    )
    m = parse_message(_raw(raw))
    assert m.from_name == "Jane Dev"
    assert m.from_addr == "virtualization@lists.linux-foundation.org"
    assert any("real address unknown" in w for w in m.warnings)


def test_x_original_from_wins_over_reply_to():
    raw = (
        "From: Jane Dev via Kvmarm <kvmarm@lists.cs.columbia.edu>\n"
        "Reply-To: Someone Else <other@example.org>\n"
        "X-Original-From: Jane Dev <Jane@Example.ORG>\n"
        "Subject: [PATCH] x\nMessage-ID: <a@b>\n\nbody\n"
    )
    m = parse_message(_raw(raw))
    assert (m.from_name, m.from_addr) == ("Jane Dev", "jane@example.org")


def test_base64_body_and_encoded_from():
    m = _sample("base64-patch.eml")
    assert m.from_name == "Rémi Denis-Courmont" and m.from_addr == "remi@remlab.net"
    assert "Signed-off-by: Rémi Denis-Courmont <remi@remlab.net>" in m.body
    assert m.has_diff and m.diff_files == ("arch/arm64/kernel/head.S",)
    assert "diff --git" not in m.body
    assert m.body.rstrip().endswith("1 file changed, 7 insertions(+), 5 deletions(-)")
    assert m.warnings == ()


def test_quoted_printable_body():
    m = _sample("quoted-printable-patch.eml")
    assert "ILR_INTTGT_MASK(=0xFF)" in m.body and "=3D" not in m.body
    assert m.diff_files == ("arch/powerpc/kvm/mpic.c",)
    assert m.date == datetime(2019, 11, 13, 22, 42, 8, tzinfo=timezone(timedelta(hours=5.5)))


def test_multipart_takes_the_text_plain_part():
    m = _sample("multipart.eml")
    assert m.subject == (
        "[PATCH] vhost vdpa: fix the irq check for invoking irq_bypass_unregister_producer"
    )
    assert "Signed-off-by: Gautam Dawar <gdawar@xilinx.com>" in m.body
    assert "<div" not in m.body and "<html" not in m.body.lower()
    assert m.diff_files == ("drivers/vhost/vdpa.c",)
    assert "mailing list" not in m.body  # the Mailman footer part is dropped


def test_a_reply_keeps_only_what_its_sender_wrote():
    m = _sample("rfc2047-subject.eml")
    assert m.subject == (
        "Re: [PATCH v3 2/2] virtio: replace arch_has_restricted_virtio_memory_access()"
    )
    # the quoted patch is gone; the ack stays (landing and review read it)
    assert m.body.endswith("Acked-by: Borislav Petkov <bp@suse.de>")
    assert "\n>" not in m.body and len(m.body) < 200
    assert m.diff_files == () and not m.has_diff and m.patch_id is None
    assert m.in_reply_to == "20220504155703.13336-3-jgross@suse.com"
    assert m.references == (
        "20220504155703.13336-1-jgross@suse.com",
        "20220504155703.13336-3-jgross@suse.com",
    )


UNMARKED_REPLY = """From: Stefano <sgarzare@redhat.com>
Subject: [PATCH 0/6] virtio/vsock: introduce dgrams
Message-ID: <reply@gmail.com>
In-Reply-To: <cover.1@bytedance.com>

Hi Bobby,
I'm on vacation so I'll review this series when I'm back.

On Monday, August 15, 2022, Bobby <bobby@gmail.com> wrote:

> Hey everybody,
>
> This series introduces datagrams, packet scheduling, and sk_buff usage
> to virtio vsock.
>
> The socket layer no longer forces errors to be -ENOMEM.
> The datagram work is based off previous patches.
"""


def test_a_reply_without_re_that_quotes_its_parent_is_a_reply():
    m = parse_message(_raw(UNMARKED_REPLY))
    assert m.reply_unmarked
    assert "datagrams" not in m.body and "vacation" in m.body  # its own text only
    # the same text without a parent is a mail of its own
    assert not parse_message(_raw(UNMARKED_REPLY.replace("In-Reply-To", "X-Old"))).reply_unmarked
    # a cover letter sent in reply to the last version quotes a line, not the thread
    cover = (
        "From: a@b.c\nSubject: [PATCH v2 0/3] KVM: arm64: x\nMessage-ID: <v2@x>\n"
        "In-Reply-To: <v1@x>\n\nThis series fixes the vgic.\n\nAs Marc wrote:\n\n"
        "> the ITS needs a lock\n\nso this version takes one. It also fixes the\n"
        "race in the distributor and adds a test.\n"
    )
    assert not parse_message(_raw(cover)).reply_unmarked
    # a "Re:" subject is a reply by itself, not an unmarked one
    marked = UNMARKED_REPLY.replace("Subject: ", "Subject: Re: ")
    assert not parse_message(_raw(marked)).reply_unmarked


def test_lists_from_list_id_plus_default_deduped():
    m = _sample("quoted-printable-patch.eml", default_list="kvm-ppc.vger.kernel.org")
    assert m.lists == ("kvm-ppc.vger.kernel.org",)
    m = _sample("quoted-printable-patch.eml", default_list="Other.Example.org")
    assert m.lists == ("kvm-ppc.vger.kernel.org", "other.example.org")


def test_x_mailing_list_address_becomes_list_id():
    raw = "From: a@b.c\nSubject: s\nMessage-ID: <x@y>\nX-Mailing-List: <kvm@vger.kernel.org>\n\nb\n"
    assert parse_message(_raw(raw)).lists == ("kvm.vger.kernel.org",)


def test_message_fields_carry_source_and_position():
    m = parse_message(RawMail((SAMPLES / "base64-patch.eml").read_bytes(), "a.mbox", "byte 42"))
    assert (m.source, m.position) == ("a.mbox", "byte 42")
    assert m.message_id == "20200312094002.153302-1-remi@remlab.net" and not m.synthetic_id


# --------------------------------------------------------------------------- peer-mail


def test_invalid_charset_falls_back_with_a_warning():
    (m,) = _peer("mail/0010-invalid-charset.mbox")
    assert isinstance(m, Message)
    assert any("unknown charset 'none'" in w for w in m.warnings)
    assert "pow" in m.body and m.diff_files == ("sysdeps/x86_64/fpu/multiarch/e_pow.c",)


def test_null_bytes_in_charset_do_not_crash():
    first = _peer("fuzz/codec-null.mbox")[0]
    assert isinstance(first, Message)
    assert any("unknown charset" in w for w in first.warnings)
    assert first.diff_files == ("net/ieee802154/socket.c",)


@pytest.mark.parametrize(
    "name",
    ["mail/0014-with-unencoded-utf8-headers.mbox", "mail/0015-with-invalid-utf8-headers.mbox"],
)
def test_raw_and_encoded_utf8_headers(name):
    (m,) = _peer(name)
    assert m.from_name == "Rafał Miłecki" and m.from_addr == "zajec5@gmail.com"


def test_missing_message_id_is_synthesised_and_stable():
    (a,) = _peer("mail/0008-git-rename.mbox")
    (b,) = _peer("mail/0008-git-rename.mbox")
    assert a.synthetic_id and a.message_id == b.message_id
    assert re.fullmatch(r"sha256-[0-9a-f]{16}@kvmsearch\.invalid", a.message_id)
    (other,) = _peer("mail/0009-git-rename-with-diff.mbox")
    assert other.message_id != a.message_id


@pytest.mark.parametrize(
    "name", ["fuzz/msgid-len2.mbox", "fuzz/dateheader.mbox", "fuzz/email-len.mbox"]
)
def test_unusable_message_ids_are_synthesised(name):
    m = _peer(name)[0]
    assert isinstance(m, Message) and m.synthetic_id


def test_absurdly_long_message_id_is_synthesised():
    raw = f"From: a@b.c\nSubject: s\nMessage-ID: <{'x' * 1200}@example.org>\n\nbody\n"
    m = parse_message(_raw(raw))
    assert m.synthetic_id and len(m.message_id) < 60


@pytest.mark.parametrize(
    "name", ["fuzz/year-out-of-range.mbox", "fuzz/date-too-long.mbox", "fuzz/date-oserror.mbox"]
)
def test_bad_dates_become_none_with_a_warning(name):
    m = _peer(name)[0]
    assert isinstance(m, Message) and m.date is None
    assert any("date unknown" in w.lower() for w in m.warnings)


def test_dates_are_timezone_aware():
    raw = "From: a@b.c\nSubject: s\nMessage-ID: <x@y>\nDate: Mon, 1 Jan 2024 10:00:00 -0000\n\nb\n"
    assert parse_message(_raw(raw)).date == datetime(2024, 1, 1, 10, tzinfo=UTC)


def test_garbage_references_and_multiple_in_reply_to():
    raw = (
        "From: a@b.c\nSubject: s\nMessage-ID: <x@y>\n"
        "In-Reply-To: <first@a> (Jane's message of Mon) <second@a>\n"
        "References: junk <r1@a>\n <r2@a> <r1@a> <broken\n\nb\n"
    )
    m = parse_message(_raw(raw))
    assert m.in_reply_to == "first@a"
    assert m.references == ("r1@a", "r2@a")


def test_no_subject_is_empty_string():
    (m,) = _peer("mail/0016-no-subject.mbox")
    assert m.subject == "" and m.message_id == "ABC@DEF"


def test_cvs_attachment_patch_is_trimmed_to_the_prose():
    (m,) = _peer("mail/0007-cvs-format-diff.mbox")
    assert m.diff_files == ("bfd/elf-bfd.h", "bfd/elflink.c", "bfd/elfxx-mips.c")
    assert "Ok to commit?" in m.body and "RCS file" not in m.body


@pytest.mark.parametrize("path", PEER_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_peer_mail_file_decodes_without_exceptions(path):
    out = list(decode_all(open_source(path).read(), workers=1))
    assert out
    for item in out:
        if isinstance(item, Skip):
            assert item.where and item.reason and item.detail
        else:
            assert item.message_id and isinstance(item.subject, str)
            assert item.date is None or item.date.tzinfo is not None


def test_worker_pool_gives_the_same_results_in_order():
    if not PEER_FILES:
        pytest.skip("peer-mail not available")
    raws = [raw for path in PEER_FILES for raw in open_source(path).read()]
    assert list(decode_all(raws, workers=2)) == list(decode_all(raws, workers=1))


# --------------------------------------------------------------------------- skips


def test_text_without_headers_is_skipped_with_position():
    (skip,) = decode_all([_raw("just some words\n\nand more\n")], workers=1)
    assert isinstance(skip, Skip)
    assert skip.reason == "no-headers" and skip.where == "test.mbox @ byte 0"


def test_parse_message_raises_mail_parse_error():
    with pytest.raises(MailParseError) as err:
        parse_message(_raw("  \n"))
    assert err.value.reason == "empty"


def test_unexpected_exception_becomes_a_skip(monkeypatch):
    def broken(raw):
        raise LookupError("boom")

    monkeypatch.setattr(messages, "parse_message", broken)
    raw = RawMail(b"Message-ID: <id@x>\nSubject: s\n\nb\n", "a.mbox", "byte 7")
    ok = RawMail((SAMPLES / "base64-patch.eml").read_bytes(), "a.mbox", "byte 9")
    out = list(decode_all([raw, ok], workers=1))
    assert out[0] == Skip(where="id@x", reason="undecodable", detail="LookupError: boom")
    assert isinstance(out[1], Skip)  # the stream goes on


# --------------------------------------------------------------------------- trimming


@pytest.mark.parametrize(
    ("subject", "reply"),
    [
        ("Re: [PATCH] x", True),
        ("RE: x", True),
        ("Fwd: [PATCH] x", True),
        ("AW: Re: x", True),
        ("Aw: x", True),
        ("[PATCH] KVM: Re-enable something", False),
        ("[PATCH v2 0/3] Rework read-only memslots", False),
    ],
)
def test_is_reply_subject(subject, reply):
    assert is_reply_subject(subject) is reply


def test_non_reply_without_diff_keeps_whole_body():
    raw = "From: a@b.c\nSubject: [PATCH 0/2] cover\nMessage-ID: <x@y>\n\nWhy.\n\n a.c | 1 +\n"
    m = parse_message(_raw(raw))
    assert m.body == "Why.\n\n a.c | 1 +\n" and not m.has_diff


@pytest.mark.parametrize("charset", ["rot-13", "zlib", "base64", "hex", "bogus-8"])
def test_a_charset_that_is_no_text_encoding_falls_back(charset: str) -> None:
    from kvmsearch.indexer.mail.messages import parse_message
    from kvmsearch.models.records import RawMail

    raw = RawMail(
        b"From: A <a@b.org>\nSubject: x\nMessage-ID: <r@x>\n"
        + f"Content-Type: text/plain; charset={charset}\n\n".encode()
        + b"Hello caf\xc3\xa9\n",
        "s",
        "p",
    )
    m = parse_message(raw)
    assert m.body.startswith("Hello caf\u00e9")
    assert any("charset" in w for w in m.warnings)


def test_problems_are_reported_with_their_message_id() -> None:
    from kvmsearch.indexer.mail.messages import parse_message
    from kvmsearch.indexer.series.assemble import assemble
    from kvmsearch.models.records import RawMail

    raw = RawMail(
        b"From: A <a@b.org>\nSubject: [PATCH] KVM: x\nMessage-ID: <d@x>\n"
        b"Date: the day after tomorrow\n\nFix.\n",
        "s",
        "p",
    )
    report = assemble([parse_message(raw)]).report
    assert [(p.where, p.reason) for p in report.problems] == [("d@x", "decoded with a problem")]
    assert "Date" in report.problems[0].detail
