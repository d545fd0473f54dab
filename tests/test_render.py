"""Human rendering: mail text is hostile, and our own colours are the only escapes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fakes import fake_version
from sample_index import HOSTILE_AUTHOR, HOSTILE_TITLE

from kvmsearch.models.records import ChangelogEntry, Hit, PatchInfo, VersionRef
from kvmsearch.models.serialize import json_line
from kvmsearch.render import clean, format_hits, format_series, format_version

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Select Graphic Rendition only: the colours format_hits adds on a terminal.
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("\x1b[2J", "\\x1b[2J"),  # CSI: clear screen
        ("\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07"),  # OSC 52: set the clipboard
        ("\x1b]8;;http://e\x1b\\x\x1b]8;;\x1b\\", "\\x1b]8;;http://e\\x1b\\x\\x1b]8;;\\x1b\\"),
        ("\x9b31m", "\\x9b31m"),  # 8-bit CSI
        ("\x90q\x9c", "\\x90q\\x9c"),  # 8-bit DCS ... ST
        ("a\x00b\x7fc\x08", "a\\x00b\\x7fc\\x08"),
        ("x\ry", "x\\x0dy"),  # carriage return would overwrite the line
        ("\u202etxt.exe\u202c", "\\u202etxt.exe\\u202c"),  # bidi override ("Trojan Source")
        (
            "\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
            "\\u2066\\u2067\\u2068\\u2069\\u200e\\u200f\\u061c",
        ),
        ("bad \udcff\udc9b byte", "bad \\xff\\x9b byte"),  # surrogateescape'd bytes
        ("\ud800", "\\ud800"),
        ("tab\tand\nnewline kept, café ümlaut 日本", "tab\tand\nnewline kept, café ümlaut 日本"),
    ],
)
def test_clean(raw: str, shown: str) -> None:
    assert clean(raw) == shown
    assert not UNSAFE.search(clean(raw))
    clean(raw).encode("utf-8")  # printable: no lone surrogate left


def test_clean_oneline_folds_every_line_break() -> None:
    assert clean("a\nb\r\nc\u2028d\u2029e\x85f\tg", oneline=True) == "a b c d e f g"


ALL_CONTROLS = (
    "".join(map(chr, range(0x00, 0xA0))) + "\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069\ud800\udc80\udfff"
)


def test_clean_leaves_nothing_unsafe() -> None:
    for oneline in (False, True):
        assert not UNSAFE.search(clean(ALL_CONTROLS, oneline=oneline))


# --------------------------------------------------------------------------- hits


def _hit(**kw) -> Hit:
    d = datetime(2020, 7, 2, 13, 55, tzinfo=UTC)
    base = dict(
        family="fam@x",
        title="KVM: arm64: Support HW dirty log based on DBM",
        score=0.5,
        versions=(
            VersionRef(2, False, False, "v2@x", d, "[PATCH v2 0/8] KVM: ...", 8),
            VersionRef(1, True, False, "v1@x", None, "[RFC PATCH 0/8] KVM: ...", 8),
        ),
        author="Keqian Zhu <zhukeqian1@huawei.com>",
        lists=("kvm.vger.kernel.org",),
        tree=None,
        files=("arch/arm64/kvm/",),
        why=("This adds dirty log support based on HW DBM, with logs in a catalog.",),
        changelog=(
            ChangelogEntry("v2", "Add parallel dirty log sync.", ("Add parallel dirty log sync.",)),
        ),
        terms=("DBM", "dirty", "log"),
    )
    base.update(kw)
    return Hit(**base)


def test_format_hits_layout() -> None:
    out = format_hits([_hit(), _hit(title="second")])
    lines = out.splitlines()
    assert lines[0] == " 1. KVM: arm64: Support HW dirty log based on DBM"
    assert lines[1] == "    Keqian Zhu <zhukeqian1@huawei.com> | kvm.vger.kernel.org"
    assert lines[2] == "    v2 2020-07-02 <v2@x>  https://lore.kernel.org/r/v2@x"
    assert lines[3] == "    RFC v1 ????-??-?? <v1@x>  https://lore.kernel.org/r/v1@x"
    assert lines[4] == "    files: arch/arm64/kvm/"
    assert lines[5].startswith("    why: ")
    assert lines[6] == "    v2: Add parallel *dirty* *log* sync."
    assert "\n\n 2. second\n" in out
    assert not SGR.search(out)


def test_highlight_marks_whole_words_by_stem() -> None:
    why = next(x for x in format_hits([_hit()]).splitlines() if x.startswith("    why:"))
    assert "*dirty* *log* support" in why and "HW *DBM*" in why
    assert "*logs*" in why  # same stem
    assert "catalog" in why and "*catalog*" not in why and "cata*log*" not in why


def test_colour_only_on_request_and_only_ours() -> None:
    hostile = _hit(
        title=HOSTILE_TITLE,
        author=HOSTILE_AUTHOR,
        why=(HOSTILE_TITLE + " dirty",),
        tree="\x1b[2Jqemu",
        lists=("\x1b]52;c;x\x07",),
        changelog=(ChangelogEntry("\x1b[5m", "dirty \x9b1m", ()),),
        files=("arch/\x1b[2J.c",),
        explain={"x\x1b[2J": "\u202e"},
    )
    plain = format_hits([hostile], explain=True)
    assert not UNSAFE.search(plain)
    coloured = format_hits([hostile], color=True, explain=True)
    assert SGR.search(coloured)
    assert not UNSAFE.search(SGR.sub("", coloured))
    # the highlight colour wraps the word, not the escaped mail bytes around it
    assert "\x1b[1m\x1b[33mdirty\x1b[0m" in coloured


def test_long_why_is_shortened() -> None:
    out = format_hits([_hit(why=("dirty " * 500,))], width=80)
    why = next(x for x in out.splitlines() if x.startswith("    why:"))
    assert len(why) < 260 and why.endswith("…")


def test_version_lines_keep_a_named_version_and_link_to_lore(monkeypatch) -> None:
    from dataclasses import replace as dc_replace

    from kvmsearch.models.records import VersionRef

    refs = tuple(
        VersionRef(n, False, False, f"v{n}@x/y z", None, f"[PATCH v{n}] x") for n in range(6, 0, -1)
    )
    h = dc_replace(_hit(), versions=refs, asked_versions=(1,))
    out = format_hits([h])
    assert "v1 ????-??-?? <v1@x/y z>  https://lore.kernel.org/r/v1@x%2Fy%20z" in out
    assert "v2 ????" not in out and "(+1 older)" in out
    monkeypatch.setenv("KVMSEARCH_LORE_URL", "https://lore.example.org/kvm")
    assert "https://lore.example.org/kvm/v6@x" in format_hits([h])


def test_explain_line() -> None:
    out = format_hits([_hit(explain={"kind": "prose", "lexical": 3.5})], explain=True)
    assert out.splitlines()[-1] == "    score 0.5: kind=prose, lexical=3.5"
    assert "score" not in format_hits([_hit(explain={"kind": "prose"})])


def test_hit_json_is_json_whatever_the_mail_held() -> None:
    h = _hit(
        title=HOSTILE_TITLE + "\udcff",
        author=HOSTILE_AUTHOR,
        explain={"fused": 0.5, "lexical_rank": 0},
    )
    text = json_line(h)
    assert text.isascii() and "\x1b" not in text
    back = json.loads(text)
    assert back["title"] == HOSTILE_TITLE + "\udcff"
    assert back["versions"][0] == {
        "version": 2,
        "rfc": False,
        "resend": False,
        "message_id": "v2@x",
        "date": "2020-07-02T13:55:00+00:00",
        "subject": "[PATCH v2 0/8] KVM: ...",
        "n_patches": 8,
        "landing": "none",
    }
    assert back["versions"][1]["date"] is None
    assert back["changelog"] == [
        {
            "version": "v2",
            "text": "Add parallel dirty log sync.",
            "items": ["Add parallel dirty log sync."],
            "credits": [],
        }
    ]
    assert back["explain"] == {"fused": 0.5, "lexical_rank": 0}
    assert json.loads(json_line(_hit()))["explain"] is None


# --------------------------------------------------------------------------- versions


def _hostile_version():  # noqa: ANN202
    patch = PatchInfo("p1@x", "[PATCH 1/1] \x1b[2J", 1, "body \x1b]52;c;x\x07", ("a/\x9b.c",))
    v = fake_version(
        "\x1b[2J@x",
        HOSTILE_TITLE,
        "motivation \x1b[31m red \u202e",
        changelog=(ChangelogEntry("v\x1b[2J", "x\x1b[2J", ("i\x1b[2J",)),),
        patches=(patch,),
    )
    from dataclasses import replace

    return replace(
        v,
        author=HOSTILE_AUTHOR,
        tree="qemu\x1b[2J",
        lists=("l\x1b[2J",),
        cover=replace(v.cover, files=("f\x1b[2J.c",), links=("http://\x1b[2J",)),
    )


def test_format_version_and_series_are_safe() -> None:
    v = _hostile_version()
    for out in (format_version(v), format_series([v, v])):
        assert "zorkmid" in out
        assert not UNSAFE.search(out), UNSAFE.findall(out)
