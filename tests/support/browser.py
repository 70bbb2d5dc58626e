"""A real headless browser for the tests: Debian's chromium (scripts/setup.sh installs it)
driven by Playwright, with the network closed to all but the server under test,
screenshots kept as test artifacts, and the WCAG contrast ratio of what a page shows.

Playwright downloads its own browser builds, which cannot be fetched here, so the tests
launch the system's ``chromium`` by path. Its absence is a failure, not a skip: set-up
installs it, and a browser test that silently skips proves nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route

from tests.support.paths import ROOT

#: The browser the tests drive; ``MRV_CHROMIUM`` names another binary.
CHROMIUM = Path(os.environ.get("MRV_CHROMIUM", "/usr/bin/chromium"))
#: Hosts a page may reach: the servers the tests start listen on loopback only.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def artifacts_dir() -> Path:
    """Where screenshots go: ``$MRV_TEST_ARTIFACTS``, else ``build/test-artifacts``."""
    folder = Path(os.environ.get("MRV_TEST_ARTIFACTS") or ROOT / "build" / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def launch(pw: Playwright) -> Browser:
    """Debian's chromium, headless; AssertionError (a failed test) if it is missing."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: scripts/setup.sh installs Debian's chromium "
        "(apt-get install chromium); the browser tests need it"
    )
    # The tests run as root in containers, where chromium's sandbox cannot start.
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, chromium_sandbox=False)


@dataclass
class Offline:
    """Aborts every request to a host other than loopback, and remembers it: a page
    that needs the internet shows up as ``blocked`` instead of passing on a machine that
    happens to be online."""

    blocked: list[str] = field(default_factory=list)

    def __call__(self, route: Route) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:", "about:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")


# What the page's Content-Security-Policy refused to load (such a load never reaches the
# network, so the offline guard does not see it).
_WATCH_POLICY_JS = """
window.__refused = [];
document.addEventListener('securitypolicyviolation',
  e => window.__refused.push(e.effectiveDirective + ' ' + e.blockedURI));
"""


def policy_refusals(page: Page) -> list[str]:
    """``"<directive> <url>"`` for each load the page's policy refused."""
    refused: list[str] = page.evaluate("window.__refused || []")
    return refused


@contextmanager
def offline_page(browser: Browser, **options: object) -> Iterator[tuple[Page, Offline]]:
    """A page in a fresh context (own cookies) that may reach loopback only."""
    context: BrowserContext = browser.new_context(**options)  # type: ignore[arg-type]
    guard = Offline()
    context.route("**/*", guard)
    context.add_init_script(_WATCH_POLICY_JS)
    try:
        yield context.new_page(), guard
    finally:
        context.close()


def screenshot(page: Page, test_id: str, name: str, full_page: bool = True) -> Path:
    """Save a screenshot (of the whole page, or of the window) under the artifacts folder,
    one folder per test."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_id).strip("_")[:150]
    path = artifacts_dir() / safe / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --- WCAG 2.x contrast (https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio) ---------------

RGBA = tuple[float, float, float, float]
_RGB = re.compile(r"rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)")


def parse_css_color(text: str) -> RGBA:
    """A computed CSS colour (``rgb(r, g, b)`` or ``rgba(r, g, b, a)``, channels 0-255,
    alpha 0-1) as floats; ValueError for anything else, so that a colour the check cannot
    read fails the test instead of passing it."""
    match = _RGB.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not an rgb() colour: {text!r}")
    r, g, b, a = match.groups()
    alpha = 1.0 if a is None else float(a[:-1]) / 100 if a.endswith("%") else float(a)
    return float(r), float(g), float(b), alpha


def over(top: RGBA, below: RGBA) -> RGBA:
    """``top`` composited onto an opaque ``below`` (source-over)."""
    a = top[3]
    r, g, b = (a * top[i] + (1 - a) * below[i] for i in range(3))
    return r, g, b, 1.0


def relative_luminance(color: RGBA) -> float:
    """WCAG relative luminance of an sRGB colour, 0 (black) to 1 (white):
    L = 0.2126 R + 0.7152 G + 0.0722 B of the linearised channels."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(color[i]) for i in range(3))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: RGBA, bg: RGBA) -> float:
    """(L1 + 0.05) / (L2 + 0.05), the lighter luminance over the darker: 1 to 21."""
    light, dark = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# Every element with text of its own, visible: its colour, its size and weight, and the
# background colours from it up to the root (the first opaque one ends the list).
_TEXT_STYLES_JS = """
() => {
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const isField = el.matches('input:not([type=hidden]), button, select, textarea');
    if (!own && !isField) continue;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility !== 'visible' || style.display === 'none' || box.width === 0) continue;
    const backgrounds = [];
    for (let node = el; node; node = node.parentElement) {
      const bg = getComputedStyle(node).backgroundColor;
      backgrounds.push(bg);
      if (/^rgb\\(/.test(bg) || /,\\s*1\\)$/.test(bg)) break;
    }
    out.push({
      text: (el.innerText || el.value || '').trim().slice(0, 60),
      tag: el.tagName.toLowerCase(),
      color: style.color,
      size: parseFloat(style.fontSize),
      weight: parseInt(style.fontWeight, 10) || 400,
      backgrounds,
    });
  }
  return out;
}
"""

WHITE: RGBA = (255.0, 255.0, 255.0, 1.0)


@dataclass(frozen=True)
class ContrastProblem:
    tag: str
    text: str
    ratio: float
    needed: float


def contrast_problems(page: Page) -> tuple[int, list[ContrastProblem]]:
    """How many text elements the page shows, and those below WCAG AA: 4.5:1 for normal
    text, 3:1 for large text (at least 24 px, or 18.66 px bold)."""
    items = page.evaluate(_TEXT_STYLES_JS)
    problems = []
    for item in items:
        background = WHITE  # the canvas under a page that paints nothing
        for css in reversed(item["backgrounds"]):
            background = over(parse_css_color(css), background)
        text = over(parse_css_color(item["color"]), background)
        large = item["size"] >= 24 or (item["size"] >= 18.66 and item["weight"] >= 700)
        needed = 3.0 if large else 4.5
        ratio = contrast_ratio(text, background)
        if ratio < needed:
            problems.append(ContrastProblem(item["tag"], item["text"], round(ratio, 2), needed))
    return len(items), problems
