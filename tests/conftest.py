"""Session fixtures shared by the server and browser tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from served import Served, build_real_index, start_server, stop_server


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One real server (real model, real HTTP) over a small real index."""
    tmp = tmp_path_factory.mktemp("served")
    home, src = build_real_index(tmp)
    s = start_server(home, src, tmp / "run")
    try:
        yield s
    finally:
        stop_server(s)
