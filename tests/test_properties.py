"""Property-based tests (Hypothesis): the parsers that read mail and queries take any
input without raising anything but their documented errors, and keep their invariants.
Each example has a deadline, so a parser that turns quadratic fails here too."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kvmsearch.indexer.mail.messages import parse_message
from kvmsearch.indexer.series.cover import parse_cover
from kvmsearch.indexer.text.diffstat import match_stat_line
from kvmsearch.indexer.text.links import is_link_line, message_id_from_user
from kvmsearch.indexer.text.subjects import parse_subject, strip_markers
from kvmsearch.models.errors import MailParseError, QueryError
from kvmsearch.models.query import SearchRequest
from kvmsearch.models.records import RawMail
from kvmsearch.query.understand import understand

SETTINGS = settings(
    max_examples=150,
    deadline=timedelta(milliseconds=500),
    suppress_health_check=[HealthCheck.too_slow],
)

# Text weighted toward what mail parsers key on: brackets, colons, markers, URLs,
# diffstat bars, long runs of one character.
PIECES = st.sampled_from(
    [
        "[PATCH",
        "v2",
        "]",
        "[",
        "RFC",
        "0/3",
        "Re:",
        ":",
        " ",
        "  ",
        "|",
        "+",
        "-",
        "\n",
        "http://",
        "https://lore.kernel.org/r/",
        "<",
        ">",
        "@",
        ",",
        ".",
        "(",
        ")",
        "=>",
        "{",
        "}",
        "create mode 100644 ",
        "rename ",
        "(90%)",
        "Signed-off-by:",
        "Changes in v3:",
        "---",
        "kvm-unit-tests",
        "KVM: arm64:",
        "\t",
        "\u202e",
        "\x1b[31m",
        "é",
        "\udcff",
    ]
)
MAILISH = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=60).map("".join)
RUNS = st.tuples(st.sampled_from([" ", ",", "a", "-", "|", "("]), st.integers(0, 5000)).map(
    lambda t: t[0] * t[1]
)
LINE = st.one_of(MAILISH, st.tuples(MAILISH, RUNS, MAILISH).map("".join))


@SETTINGS
@given(LINE)
def test_subject_parser_takes_anything(subject: str) -> None:
    info = parse_subject(subject)
    assert info.version >= 1
    assert info.kind in ("series", "pull", "stable")
    assert isinstance(strip_markers(subject), str)


@SETTINGS
@given(st.lists(LINE, max_size=30).map("\n".join))
def test_cover_parser_takes_anything(body: str) -> None:
    fields = parse_cover(body)
    assert isinstance(fields.motivation, str)
    assert all(isinstance(f, str) and f for f in fields.files)


@SETTINGS
@given(LINE)
@example("http://")  # found by this test: a scheme with no host raised IndexError
def test_line_rules_take_anything(line: str) -> None:
    match_stat_line(line)
    is_link_line(line)
    assert "<" not in message_id_from_user(line)[:1]


@SETTINGS
@given(st.binary(max_size=4000), st.lists(LINE, max_size=8))
def test_mail_decoder_takes_any_bytes(junk: bytes, headers: list[str]) -> None:
    head = "\n".join(headers).encode("utf-8", "surrogateescape")
    for data in (
        junk,
        head + b"\n\n" + junk,
        b"From: a <a@b>\nSubject: x\nMessage-ID: <p@x>\n" + head + b"\n\n" + junk,
    ):
        try:
            m = parse_message(RawMail(data, "prop", "byte 0"))
        except MailParseError:
            continue
        assert m.message_id and "\n" not in m.subject


@SETTINGS
@given(st.one_of(MAILISH, st.text(max_size=200)))
def test_query_parser_takes_anything(text: str) -> None:
    try:
        request = SearchRequest(text=text)
        plan = understand(request.text, request.filters)
    except QueryError:
        return  # a documented, one-line error (a bad date, a filter without a value)
    assert plan.kind in ("path", "ident", "prose")
    request.text.encode("utf-8")  # always valid Unicode once accepted
