"""The web UI in a real browser: Debian's chromium driven by Playwright (no browser
download), against the real server of ``served``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from sample_index import DBM, XSS_COVER
from served import Served

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
#: as root in a sandbox with no network: no sandboxing, no background connections
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing; scripts/bootstrap.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    pg = ctx.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    yield pg
    ctx.close()
    assert not dialogs, f"mail text ran as script: {dialogs}"


def test_search_from_the_box_then_open_a_series(served: Served, page: Any) -> None:
    page.goto(served.url + "/")
    page.fill("input[name=q]", "dirty log DBM")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector(".hit")
    first = page.locator(".hit h2 a").first
    assert "DBM" in first.inner_text()
    assert page.locator("mark").count() > 0  # matched words highlighted
    lore = page.locator(".hit .versions a").first.get_attribute("href")
    assert lore == f"https://lore.kernel.org/r/{DBM}"
    first.click()
    page.wait_for_selector("section.version")
    assert "DBM" in page.locator("h1").inner_text()
    assert page.locator("section.version h2 a", has_text="lore").count() >= 1
    assert "landed:" in page.locator("section.version").first.inner_text()


def test_a_facet_narrows_the_hits(served: Served, page: Any) -> None:
    page.goto(served.url + "/?q=KVM+guest")
    page.wait_for_selector(".facets")
    before = page.locator(".hit").count()
    page.locator(".facets a", has_text="kvmarm").first.click()
    page.wait_for_selector(".hit")
    assert "list%3Akvmarm" in page.url
    metas = page.locator(".hit .meta").all_inner_texts()
    assert metas and len(metas) < before and all("kvmarm" in m for m in metas)


def test_markup_and_escapes_in_mail_render_as_text(served: Served, page: Any) -> None:
    page.goto(served.url + "/?q=zorkmid")
    page.wait_for_selector(".hit")
    for tag in ("script", "img", "svg", "iframe"):
        assert page.locator(tag).count() == 0, tag
    titles = page.locator(".hit h2").all_inner_texts()
    xss = next(t for t in titles if "alert" in t)
    assert '<script>alert("xss")</script>' in xss and "<img src=x onerror=alert(1)>" in xss
    assert "\\x1b[2J" in xss and "\x1b" not in xss
    assert page.locator("[onmouseover], [onerror], [onload]").count() == 0
    page.goto(served.url + f"/series/{XSS_COVER}")
    page.wait_for_selector("section.version")
    for tag in ("script", "img", "svg", "iframe"):
        assert page.locator(tag).count() == 0, tag
    body = page.locator("main").inner_text()
    assert "<iframe src=javascript:alert(5)>" in body
    # the review's words and the quoted line it answers, as text
    html = page.content()
    assert "Please &lt;iframe src=javascript:alert(9)&gt;&lt;/iframe&gt; zorkmid" in html
    assert "&lt;script&gt;alert(10)&lt;/script&gt;" in html
    assert page.locator("a[href^='javascript:']").count() == 0


def test_search_and_series_work_without_javascript(served: Served, browser: Any) -> None:
    ctx = browser.new_context(java_script_enabled=False)
    try:
        pg = ctx.new_page()
        pg.goto(served.url + "/")
        pg.fill("input[name=q]", "KVM_CAP_STEAL_TIME")
        pg.press("input[name=q]", "Enter")
        pg.wait_for_selector(".hit")
        pg.locator(".hit h2 a").first.click()
        pg.wait_for_selector("section.version")
        assert pg.locator("section.version").count() >= 1
    finally:
        ctx.close()


def test_an_error_is_a_page_not_a_traceback(served: Served, page: Any) -> None:
    resp = page.goto(served.url + "/?q=kvm+since:20x1")
    assert resp.status == 400
    assert "since" in page.locator(".error").inner_text()
    resp = page.goto(served.url + "/series/nosuch@example.org")
    assert resp.status == 404 and "no series" in page.locator(".error").inner_text()


def test_a_series_page_links_each_version_to_its_diff(served: Served, page: Any) -> None:
    from sample_index import VIRTIO_BT_V2

    page.goto(served.url + f"/series/{VIRTIO_BT_V2}")
    page.wait_for_selector("section.version")
    page.locator("section.version h2 a", has_text="diff v3→v4").first.click()
    page.wait_for_selector("ol.patches")
    assert "v3 → v4" in page.locator("p.meta").first.inner_text()
    assert "1 changed" in page.locator("p.meta").first.inner_text()
