"""The public surface is what we meant, and importing it stays cheap."""

import subprocess
import sys

import kvmsearch

EXPECTED = {
    "__version__",
    "KvmsearchError",
    "SourceError",
    "SourceGoneError",
    "MailParseError",
    "IndexNotFoundError",
    "IndexPathError",
    "FileSystemError",
    "IndexFormatError",
    "LockHeldError",
    "ModelError",
    "QueryError",
    "NotFoundError",
    "ChangelogEntry",
    "CoverFields",
    "Family",
    "Message",
    "ParseReport",
    "ParseResult",
    "PatchInfo",
    "SeriesVersion",
    "Skip",
    "parse",
    "Index",
    "Hit",
    "VersionRef",
    "MODES",
    "Filters",
    "SearchRequest",
    "BuildOutcome",
    "IndexStatus",
    "SourceFailure",
    "SourceStatus",
    "VerifyProblem",
    "VerifyReport",
    "DiskFullError",
}


def test_all_is_exactly_the_public_api():
    assert set(kvmsearch.__all__) == EXPECTED
    for name in kvmsearch.__all__:
        assert hasattr(kvmsearch, name), name


HEAVY = ("torch", "sentence_transformers", "faiss", "onnxruntime", "transformers")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def test_import_does_not_pull_heavy_modules():
    mods = _modules_after("import kvmsearch")
    assert not [m for m in HEAVY if m in mods]


def test_help_does_not_pull_heavy_modules():
    mods = _modules_after(
        "import sys\nfrom kvmsearch.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert not [m for m in HEAVY if m in mods]
