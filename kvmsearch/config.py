"""Where things live. One function resolves the index directory for every command."""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "KVMSEARCH_HOME"


def index_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the index directory: ``--index`` > ``$KVMSEARCH_HOME`` > XDG data dir."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("kvmsearch", appauthor=False))


def default_data_dir() -> Path:
    """The bundled default corpus (``data/`` at the repository root)."""
    return Path(__file__).resolve().parent.parent / "data"
