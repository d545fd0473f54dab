"""Screenshots of the web UI for docs/: a running `kvmsearch serve` and Debian's
chromium (driven by Playwright, no browser download).

    .venv/bin/python scripts/screenshots.py [--url http://127.0.0.1:8737] [--out docs]
"""

from __future__ import annotations

import argparse
import urllib.parse
from pathlib import Path

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8737")
    ap.add_argument("--query", default="dirty log DBM")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = b.new_page(viewport={"width": 1280, "height": 900})
        page.goto(a.url + "/?" + urllib.parse.urlencode({"q": a.query}))
        page.screenshot(path=str(a.out / "search.png"))
        page.locator(".hit h2 a").first.click()
        page.wait_for_selector("section.version")
        page.screenshot(path=str(a.out / "series.png"))
        b.close()


if __name__ == "__main__":
    main()
