"""The browser tests' own tools: the WCAG contrast formula against known ratios, the
contrast scan of a live page, and the offline guard."""

from __future__ import annotations

import pytest

from tests.support.browser import (
    contrast_problems,
    contrast_ratio,
    offline_page,
    over,
    parse_css_color,
)

BLACK = (0.0, 0.0, 0.0, 1.0)
WHITE = (255.0, 255.0, 255.0, 1.0)


def test_contrast_ratio_known_values():
    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21.0)
    assert contrast_ratio(WHITE, WHITE) == pytest.approx(1.0)
    # #767676 is the lightest grey that passes AA on white, #777777 the darkest that fails.
    assert contrast_ratio(parse_css_color("rgb(118, 118, 118)"), WHITE) == pytest.approx(
        4.54, abs=0.01
    )
    assert contrast_ratio(parse_css_color("rgb(119, 119, 119)"), WHITE) < 4.5
    # Order does not matter: the lighter colour is always the numerator.
    assert contrast_ratio(WHITE, BLACK) == contrast_ratio(BLACK, WHITE)


def test_css_colours_parsed_or_refused():
    assert parse_css_color("rgba(0, 0, 0, 0.5)") == (0, 0, 0, 0.5)
    assert parse_css_color("rgb(10 20 30 / 50%)") == (10, 20, 30, 0.5)
    assert over(parse_css_color("rgba(0, 0, 0, 0.5)"), WHITE)[:3] == (127.5, 127.5, 127.5)
    with pytest.raises(ValueError, match="not an rgb"):
        parse_css_color("color(srgb 0 0 0)")


def test_the_scan_finds_faint_text_and_passes_dark_text(browser):
    html = """<body style="background:#fff">
      <p id=ok style="color:#333">dark enough</p>
      <p style="color:#aaa">too faint</p>
      <div style="background:rgba(0,0,0,0.9)"><span style="color:#222">dark on dark</span></div>
      <h1 style="color:#888;font-size:32px">large grey heading</h1>
    </body>"""
    with offline_page(browser) as (page, _):
        page.set_content(html)
        count, problems = contrast_problems(page)
    assert count == 4
    assert sorted(p.text for p in problems) == ["dark on dark", "too faint"]
    assert all(p.needed == 4.5 for p in problems)


def test_the_offline_guard_blocks_other_hosts(browser):
    with offline_page(browser) as (page, guard):
        page.set_content(
            '<img src="https://example.org/x.png"><script src="http://cdn.example.net/a.js"></script>'
        )
        page.wait_for_load_state("load")
    assert sorted(guard.blocked) == ["http://cdn.example.net/a.js", "https://example.org/x.png"]
