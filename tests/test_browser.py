"""The built book as a reader meets it: every page in headless Chromium, and every internal link.

Uses Debian's ``chromium`` (``make test`` installs it) driven by Playwright;
outside the container, Playwright's own browser download is never used. Screenshots of every page
are written to ``_build/test-artifacts/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from gcrl.core.paths import REPO_ROOT

pytestmark = pytest.mark.slow

ARTIFACTS = REPO_ROOT / "_build" / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
#: A term that occurs in Chapter 0 and nowhere else in the book.
SEARCH_TERM = "serialisation"


def toc_pages() -> list[str]:
    """Every page of _toc.yml, as paths relative to the HTML root."""
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [entry["file"] for entry in part["chapters"]]
    return [f"{page}.html" for page in pages]


def chromium_path() -> str | None:
    """Debian's chromium, or ``$GCRL_CHROMIUM``; ``GCRL_CHROMIUM=playwright`` selects Playwright's own
    Chromium (the container installs it: Ubuntu ships chromium only as a snap)."""
    chosen = os.environ.get("GCRL_CHROMIUM")
    if chosen == "playwright":
        return None
    found = chosen or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Debian's chromium is required for the browser tests: run `make test` as root, "
                    "or `sudo apt-get install chromium chromium-driver`")
    return found


@pytest.fixture(scope="module")
def site(smoke_book):
    """Serve the built HTML on 127.0.0.1 (search needs http, not file://)."""
    handler = functools.partial(QuietHandler, directory=str(smoke_book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def open_page(browser, url: str):
    """Open ``url``; return the page and the list that collects its console errors and failed requests."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url} ({request.failure})"))
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 else None)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, problems


@pytest.mark.parametrize("path", toc_pages())
def test_page_renders_cleanly(browser, site, path, smoke_book):
    source = (smoke_book.html / path).read_text()
    has_math = 'class="math' in source
    page, problems = open_page(browser, f"{site}/{path}")
    try:
        if has_math:
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
            page.evaluate("MathJax.startup.promise")
        # the screenshot comes before the assertions, so that a failing page leaves its picture
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / (path.replace("/", "_").removesuffix(".html") + ".png")), full_page=True)
        if has_math:
            assert page.locator("mjx-container").count() > 0, "math was not typeset"
            assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
        images = page.evaluate("Array.from(document.images).map(i => [i.currentSrc.slice(-60), i.naturalWidth])")
        assert all(width > 0 for _, width in images), f"images that did not load: {images}"
        videos = page.evaluate(
            "Promise.all(Array.from(document.querySelectorAll('video')).map(v => v.readyState >= 1 ? v.duration :"
            " new Promise(ok => { v.addEventListener('loadedmetadata', () => ok(v.duration)); v.load(); })))"
        )
        assert all(duration > 0 for duration in videos), f"videos that do not play: {videos}"
        if "chapters/" in path:
            assert images, "a chapter has at least one figure"
            assert page.locator("text=Produced by").count() > 0, "the provenance banner is visible"
            assert has_math
        assert not problems, problems
    finally:
        page.close()


def test_search_finds_a_chapter_zero_term(browser, site):
    page, problems = open_page(browser, f"{site}/search.html?q={SEARCH_TERM}")
    try:
        page.wait_for_selector("#search-results li", timeout=20_000)
        hits = page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.getAttribute('href'))")
        assert any("ch00_proof_of_life" in href for href in hits), hits
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "search.png"))
        assert not problems, problems
    finally:
        page.close()


def test_a_problems_worked_solution_opens_in_its_dropdown(browser, site):
    page, problems = open_page(browser, f"{site}/book/chapters/ch04_her.html")
    try:
        dropdown = page.locator("details.sd-dropdown", has_text="Solution").filter(
            has=page.locator("code, pre", has_text="def relabelled_fraction")).first
        code = dropdown.locator("pre", has_text="def relabelled_fraction")
        assert not code.is_visible(), "the solution is hidden until the reader opens it"
        dropdown.locator("summary").click()
        code.wait_for(state="visible", timeout=5_000)
        assert "return k / (k + 1)" in code.inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        dropdown.screenshot(path=str(ARTIFACTS / "ch04_solution_dropdown.png"))
        assert not problems, problems
    finally:
        page.close()


class LinkCollector(HTMLParser):
    ATTRIBUTES = {"a": "href", "img": "src", "script": "src", "link": "href", "video": "src", "source": "src"}

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for key in ("id", "name"):
            if attributes.get(key):
                self.anchors.add(attributes[key])
        wanted = self.ATTRIBUTES.get(tag)
        if wanted and attributes.get(wanted):
            self.links.append(attributes[wanted])


@functools.cache
def parse(path: Path) -> LinkCollector:
    collector = LinkCollector()
    collector.feed(path.read_text(errors="replace"))
    return collector


def test_internal_links_resolve(smoke_book):
    html_root = smoke_book.html
    broken = []
    pages = sorted(p for p in html_root.rglob("*.html") if "_static" not in p.relative_to(html_root).parts)
    assert len(pages) >= len(toc_pages())
    for page in pages:
        for link in parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith(("//", "data:", "mailto:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(html_root)}: {link} (no file)")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in parse(target).anchors:
                broken.append(f"{page.relative_to(html_root)}: {link} (no anchor)")
    assert not broken, "\n".join(broken[:30])
