"""How a benchmark hands back its figures: one indented JSON object on stdout, and in
``--json FILE`` when given (what BENCHMARKS.md quotes)."""

from __future__ import annotations

import json
from pathlib import Path


def emit(result: object, path: Path | None) -> None:
    text = json.dumps(result, indent=1)
    if path:
        path.write_text(text + "\n")
    print(text)
