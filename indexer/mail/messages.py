"""Raw mails to decoded, trimmed :class:`Message` records.

Decoding leans on the stdlib ``email`` package (``compat32`` policy: the fastest and the
most forgiving with the malformed headers real archives hold). Only the header block is
run through the parser for single-part mails; their body is decoded here, which avoids
the parser's per-line work on megabyte-sized patches. Multipart mails get the full parse.

Bodies are trimmed to keep a 55k-mail corpus in memory: replies keep no body, and a
patch keeps its commit message, notes and diffstat but not the diff (its paths go to
``diff_files``).
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import multiprocessing
import re
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.header import decode_header
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from kvmsearch.indexer.text.diffs import diff_files, split_at_diff
from kvmsearch.indexer.text.patchid import PatchId, diff_patch_id
from kvmsearch.indexer.text.quotes import answered_quotes, own_text, reads_as_reply
from kvmsearch.indexer.text.subjects import parse_subject
from kvmsearch.models.errors import MailParseError
from kvmsearch.models.records import Message, RawMail, Skip

__all__ = ["parse_message", "decode_all", "is_reply_subject", "MAX_BODY_CHARS", "MAX_MESSAGE_BYTES"]

#: a cover letter of a 100-patch series fits; a mail larger than this is cut (with a warning)
MAX_BODY_CHARS = 256 * 1024
#: the most of a patch's diff kept for `kvmsearch diff` (a treewide rename can run to
#: megabytes; its first 4 MB say what it does)
MAX_DIFF_CHARS = 4 * 1024 * 1024
#: a raw mail larger than this is reported as skipped, not decoded (the corpus's largest
#: mail is under 2 MB; one crafted 400 MB mail cost 74 s and 1.3 GB to parse)
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
#: how much of an oversized mail is read for its headers
_HEAD_OF_LARGE = 64 * 1024
#: RFC 5322 line limit; longer "ids" are garbage (see peer-mail/fuzz/msgid-len*)
MAX_ID_CHARS = 995
_MAX_NAME_CHARS = 256
_MAX_SUBJECT_CHARS = 2000

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_BRACKETED_ID = re.compile(r"<([^<>\s]+)>")
_BARE_ID = re.compile(r"[^<>\s\"(),;]+@[^<>\s\"(),;]+")
_VALID_ID = re.compile(r"[!-;=?-~]+")  # printable ASCII without space, '<' and '>'
_VIA = re.compile(r"^(?P<name>.*?)\s+via\s+\S.*$", re.S)
# The footer Mailman appends ("___\nkvmarm mailing list\nkvmarm@...\nhttps://...").
_LIST_FOOTER = re.compile(
    r"\n_{20,}\n[^\n]*mailing list\n[^\n]*@[^\n]*\n(?:https?://[^\n]*\n?)?\s*\Z", re.I
)


def _too_large(raw: RawMail, size: int) -> Skip:
    """A mail over the size cap, reported by its Message-ID when its head has one."""
    where = _where(raw)
    try:
        head = replace(raw, data=raw.data[:_HEAD_OF_LARGE], too_large=None)
        msg = parse_message(head)
        if not msg.synthetic_id:
            where = msg.message_id
    except MailParseError:
        pass
    return Skip(
        where=where,
        reason="too-large",
        detail=f"{size} bytes, over the {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB "
        "cap for one mail; not indexed",
    )


_SKIP_DETAILS = {
    "empty": "nothing but whitespace between two message separators",
    "no-headers": "no From, Subject, Message-ID or Date header: not a mail",
}
_PATCH_PARTS = ("text/x-patch", "text/x-diff", "text/x-patch-file", "text/diff")
_PATCH_NAMES = (".patch", ".diff")


def is_reply_subject(subject: str) -> bool:
    """Whether a subject marks a reply; the subject parser is the one authority on that."""
    return parse_subject(subject).is_reply


# --------------------------------------------------------------------------- parse


def parse_message(raw: RawMail) -> Message:
    """Decode one raw mail. Raises :class:`MailParseError` when it holds no mail at all."""
    where = f"{raw.source} @ {raw.position}"
    data = raw.data
    if not data.strip():
        raise MailParseError("empty", where=where)
    m = _HEAD_END.search(data)
    head, body = (data[: m.start()], data[m.end() :]) if m else (data, b"")
    headers = BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n")
    hdrs: dict[str, list[str]] = {}
    for name, value in headers.raw_items():
        hdrs.setdefault(name.lower(), []).append(value)
    if not any(k in hdrs for k in ("from", "subject", "message-id", "date")):
        raise MailParseError("no-headers", where=where)

    warnings: list[str] = []
    message_id, synthetic = _message_id(hdrs, data)
    if synthetic:
        warnings.append("no usable Message-ID; made one from the content hash")

    subject = _fold(_header_text(_first(hdrs, "subject"), warnings, "Subject"))
    if len(subject) > _MAX_SUBJECT_CHARS:
        subject = subject[:_MAX_SUBJECT_CHARS]
        warnings.append(f"subject cut to {_MAX_SUBJECT_CHARS} characters")
    lists = _lists(hdrs, raw.default_list)
    from_name, from_addr = _sender(hdrs, lists, warnings)

    text, has_diff = "", False
    diff_z = b""
    files: tuple[str, ...] = ()
    answers: tuple[str, ...] = ()
    pid: PatchId | None = None
    reply = is_reply_subject(subject)
    ctype = headers.get_content_maintype()
    if ctype == "multipart":
        text = _multipart_text(BytesParser(policy=compat32).parsebytes(data), warnings)
    else:
        text = _single_part_text(headers, body, warnings)
    text = _without_list_footer(text.replace("\r\n", "\n"))
    in_reply_to = _in_reply_to(_first(hdrs, "in-reply-to"))
    # a reply sent under the original subject ("[PATCH 0/6] ..." without "Re:")
    unmarked = not reply and in_reply_to is not None and reads_as_reply(text)
    reply = reply or unmarked
    if reply:
        # what the replier wrote: where maintainers say "Applied" and reviewers
        # object; quotes and pasted diffs are not kept, only the quoted lines it
        # answers
        answers = answered_quotes(text)
        text = split_at_diff(own_text(text))[0].rstrip()
    else:
        text, diff = split_at_diff(text)
        if diff:
            has_diff, files = True, diff_files(diff)
            diff_z = zlib.compress(diff[:MAX_DIFF_CHARS].encode("utf-8", "surrogateescape"), 1)
            pid = diff_patch_id(diff)
            if pid is None:
                # a mangled diff (or a mode/binary-only change): lineage cannot match
                # it by content, so say so
                warnings.append("diff has no hunk with a changed line: no patch id")
        if len(text) > MAX_BODY_CHARS:
            text = text[:MAX_BODY_CHARS]
            warnings.append(f"body cut to {MAX_BODY_CHARS} characters")

    return Message(
        message_id=message_id,
        synthetic_id=synthetic,
        subject=subject,
        from_name=from_name,
        from_addr=from_addr,
        date=_date(_first(hdrs, "date"), warnings),
        in_reply_to=in_reply_to,
        references=_ids(" ".join(hdrs.get("references", []))),
        lists=lists,
        body=text,
        diff_files=files,
        has_diff=has_diff,
        patch_id=str(pid) if pid is not None else None,
        patch_lines=pid.changed if pid is not None else 0,
        source=raw.source,
        position=raw.position,
        warnings=tuple(warnings),
        diff_z=diff_z,
        answers=answers,
        reply_unmarked=unmarked,
    )


# --------------------------------------------------------------------------- headers


def _first(hdrs: dict[str, list[str]], name: str) -> str:
    values = hdrs.get(name)
    return values[0] if values else ""


def _fold(text: str) -> str:
    return " ".join(text.split())


def _header_text(value: str, warnings: list[str], name: str) -> str:
    """A header value with raw 8-bit bytes and RFC 2047 encoded words decoded."""
    if not value:
        return ""
    value = _raw_8bit(value, warnings, name)
    if "=?" not in value:
        return value
    try:
        parts = decode_header(value)
    except Exception as e:  # the email package raises several kinds on broken words
        warnings.append(f"{name} header: undecodable encoded word ({type(e).__name__})")
        return value
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        elif charset is None:
            # decode_header returns the text between encoded words this way
            out.append(chunk.decode("raw-unicode-escape", "replace"))
        else:
            out.append(_decode_bytes(chunk, charset, warnings, f"{name} header"))
    return "".join(out)


def _raw_8bit(value: str, warnings: list[str], name: str) -> str:
    """Decode the raw 8-bit bytes compat32 hands over as surrogate escapes."""
    if value.isascii():
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already decoded text
    return _decode_bytes(data, "utf-8", warnings, f"{name} header")


def _decode_bytes(data: bytes, charset: str | None, warnings: list[str], what: str) -> str:
    """Decode with the declared charset, falling back to UTF-8, then Latin-1."""
    if charset:
        charset = charset.strip().strip('"').lower()
    if charset and charset not in ("unknown-8bit", "x-unknown", "utf-8", "utf8"):
        codec = _codec(charset)
        if codec is None:
            warnings.append(f"{what}: unknown charset {charset[:40]!r}; decoded as UTF-8/Latin-1")
        else:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                warnings.append(f"{what}: not valid {charset[:40]!r}; decoded as UTF-8/Latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    high = sum(1 for b in data if b >= 0x80)
    if bad * 4 < high:
        warnings.append(f"{what}: invalid UTF-8 bytes replaced")
        return text
    warnings.append(f"{what}: not UTF-8; decoded as Latin-1")
    return data.decode("latin-1")


def _codec(charset: str) -> str | None:
    """The text codec a charset names, or None (unknown, or not a text encoding: mail
    may name ``rot-13``, ``zlib``, ``base64`` or ``hex``, which codecs also knows)."""
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError, TypeError):
        if not charset.startswith("windows-"):
            return None
        try:  # "windows-874" is Python's cp874
            info = codecs.lookup("cp" + charset.removeprefix("windows-"))
        except (LookupError, ValueError, TypeError):
            return None
    # CodecInfo marks the bytes<->str codecs; private, but the only such flag there is
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def _message_id(hdrs: dict[str, list[str]], data: bytes) -> tuple[str, bool]:
    """(Message-ID without brackets, synthetic?); a content hash stands in for bad ids."""
    for value in hdrs.get("message-id", []):
        found = _BRACKETED_ID.search(value)
        candidate = found.group(1) if found else value.strip()
        if 0 < len(candidate) <= MAX_ID_CHARS and _VALID_ID.fullmatch(candidate):
            return candidate, False
    return f"sha256-{hashlib.sha256(data).hexdigest()[:16]}@kvmsearch.invalid", True


def _ids(value: str) -> tuple[str, ...]:
    """Message-IDs in a References-like header: bracketed ones, else bare addr-like ones."""
    found = _BRACKETED_ID.findall(value) or _BARE_ID.findall(value)
    ok = (i for i in found if len(i) <= MAX_ID_CHARS and _VALID_ID.fullmatch(i))
    return tuple(dict.fromkeys(ok))


def _in_reply_to(value: str) -> str | None:
    ids = _ids(value)
    return ids[0] if ids else None


def _date(value: str, warnings: list[str]) -> datetime | None:
    """RFC 2822 date as an aware datetime; None (with a warning) when bad or absurd."""
    value = value.strip()
    if not value:
        return None
    if len(value) > 200:
        warnings.append("Date header too long; date unknown")
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError, OSError):
        warnings.append(f"unparseable Date {value[:60]!r}; date unknown")
        return None
    if when.tzinfo is None:  # "-0000": UTC with the sender's zone unknown (RFC 5322 3.3)
        when = when.replace(tzinfo=UTC)
    if not 1970 <= when.year <= 2100:
        warnings.append(f"Date year {when.year} out of range; date unknown")
        return None
    return when


def _lists(hdrs: dict[str, list[str]], default: str | None) -> tuple[str, ...]:
    """List ids from List-Id, X-Mailing-List (address form turned into id form), default."""
    out: list[str] = []
    for value in hdrs.get("list-id", []):
        found = _BRACKETED_ID.search(value)
        candidate = found.group(1) if found else value.strip()
        if candidate and " " not in candidate:
            out.append(candidate.lower())
    for value in hdrs.get("x-mailing-list", []):
        found = _BRACKETED_ID.search(value)
        candidate = (found.group(1) if found else value.strip()).lower()
        if candidate and " " not in candidate:
            out.append(candidate.replace("@", ".", 1))
    if default:
        out.append(default.lower())
    return tuple(dict.fromkeys(i for i in out if _VALID_ID.fullmatch(i)))


def _addresses(value: str, warnings: list[str], name: str) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; names RFC 2047-decoded."""
    if not value:
        return []
    value = _raw_8bit(value, warnings, name)
    try:
        pairs = getaddresses([value])
    except Exception:  # older stdlib versions trip over some garbage
        pairs = []
    out = []
    for display, addr in pairs:
        if not addr or "@" not in addr:
            continue
        out.append((_fold(_header_text(display, warnings, name)), addr.strip("<> ").lower()))
    if not out:
        found = _BARE_ID.search(value)
        if found:
            out.append(("", found.group(0).lower()))
    return out


def _sender(
    hdrs: dict[str, list[str]], lists: tuple[str, ...], warnings: list[str]
) -> tuple[str, str]:
    """(name, address) of the author, undoing mailing-list sender rewriting.

    Lists that rewrite From for DMARC (the Linux Foundation's "Name via Virtualization"
    <virtualization@lists.linux-foundation.org>) keep the real sender in Reply-To or
    X-Original-From.
    """
    raw_from = _first(hdrs, "from")
    pairs = _addresses(raw_from, warnings, "From")
    name, addr = pairs[0] if pairs else ("", "")
    if not pairs and raw_from:
        name = _fold(_header_text(raw_from, warnings, "From"))
    via = _VIA.match(name)
    if via:
        name = via.group("name").strip().strip('"').strip()
    list_addrs = {lst.replace(".", "@", 1) for lst in lists} | {
        a for v in hdrs.get("list-post", []) for a in re.findall(r"mailto:([^\s>]+)", v.lower())
    }
    if via or addr in list_addrs:
        real = _real_sender(hdrs, name, list_addrs, warnings)
        if real:
            return (real[0] or name)[:_MAX_NAME_CHARS], real[1]
        warnings.append("sender rewritten by the list; real address unknown")
    return name[:_MAX_NAME_CHARS], addr


def _real_sender(
    hdrs: dict[str, list[str]], name: str, list_addrs: set[str], warnings: list[str]
) -> tuple[str, str] | None:
    for header in ("x-original-from", "reply-to"):
        candidates = [
            p
            for value in hdrs.get(header, [])
            for p in _addresses(value, warnings, header)
            if p[1] not in list_addrs
        ]
        if not candidates:
            continue
        for cand in candidates:
            if name and cand[0].lower() == name.lower():
                return cand
        if len(candidates) == 1:
            return candidates[0]
    return None


# --------------------------------------------------------------------------- bodies


def _single_part_text(headers: EmailMessage, body: bytes, warnings: list[str]) -> str:
    ctype = headers.get_content_type()
    if not ctype.startswith("text/") and not _is_patch_part(headers):
        warnings.append(f"no text body ({ctype})")
        return ""
    cte = str(headers.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        try:
            body = binascii.a2b_base64(body)
        except (binascii.Error, ValueError):
            warnings.append("broken base64 body; kept as sent")
    elif cte == "quoted-printable":
        body = binascii.a2b_qp(body)
    return _decode_bytes(body, _charset(headers), warnings, "body")


def _without_list_footer(text: str) -> str:
    tail = max(0, len(text) - 1000)
    m = _LIST_FOOTER.search(text, tail)
    return text[: m.start() + 1] if m else text


def _multipart_text(msg: EmailMessage, warnings: list[str]) -> str:
    """The inline text/plain parts and the attached patches, in order."""
    texts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        attached = str(part.get("content-disposition", "")).lower().startswith("attachment")
        if (ctype == "text/plain" and not attached) or _is_patch_part(part):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(_decode_bytes(payload, _charset(part), warnings, "body part"))
    if not texts:
        warnings.append("no text/plain part")
    return "\n".join(texts)


def _is_patch_part(part: EmailMessage) -> bool:
    if part.get_content_type() in _PATCH_PARTS:
        return True
    try:
        filename = part.get_filename() or ""
    except Exception:  # malformed RFC 2231 parameters
        return False
    return filename.lower().endswith(_PATCH_NAMES)


def _charset(part: EmailMessage) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # malformed parameters; decode by fallback instead
        return None


# --------------------------------------------------------------------------- many mails


def decode_all(raws: Iterable[RawMail], *, workers: int = 2) -> Iterator[Message | Skip]:
    """Decode mails in order; a mail that cannot be decoded becomes a :class:`Skip`.

    With ``workers`` > 1 the decoding runs in that many forked processes, fed in
    batches with a bounded number in flight so a large archive is never queued whole.
    """
    if workers <= 1:
        for raw in raws:
            yield _decode_one(raw)
        return
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform: decode in-process
        yield from decode_all(raws, workers=1)
        return
    pool = ctx.Pool(workers)
    pending: deque = deque()
    try:
        for batch in _batches(raws):
            pending.append(pool.apply_async(_decode_batch, (batch,)))
            if len(pending) >= 2 * workers + 2:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _batches(
    raws: Iterable[RawMail], max_mails: int = 200, max_bytes: int = 4 << 20
) -> Iterator[list[RawMail]]:
    batch: list[RawMail] = []
    size = 0
    for raw in raws:
        batch.append(raw)
        size += len(raw.data)
        if len(batch) >= max_mails or size >= max_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _decode_batch(batch: list[RawMail]) -> list[Message | Skip]:
    return [_decode_one(raw) for raw in batch]


def _decode_one(raw: RawMail) -> Message | Skip:
    size = raw.too_large
    if size is None and len(raw.data) > MAX_MESSAGE_BYTES:
        size = len(raw.data)
    if size is not None:
        return _too_large(raw, size)
    try:
        return parse_message(raw)
    except MailParseError as e:
        detail = _SKIP_DETAILS.get(e.reason, str(e))
        return Skip(where=e.where or _where(raw), reason=e.reason, detail=detail)
    except Exception as e:  # one broken mail must never stop an archive
        return Skip(where=_where(raw), reason="undecodable", detail=f"{type(e).__name__}: {e}")


def _where(raw: RawMail) -> str:
    found = re.search(rb"^Message-I[dD]:[ \t]*<([^<>\s]{1,995})>", raw.data, re.M | re.I)
    if found:
        return found.group(1).decode("ascii", "replace")
    return f"{raw.source} @ {raw.position}"
