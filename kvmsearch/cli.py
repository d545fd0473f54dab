"""The kvmsearch command line (placeholder until commands land)."""

def main() -> None:  # pragma: no cover
    raise SystemExit(0)
