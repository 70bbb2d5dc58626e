"""The verifier portal in a real browser (Debian's chromium through Playwright), against a
real ``mrv api``: sign in with a token, click from a project to a period, its report, the
readings of a step and an entry with its revisions and photo; the quarantine and the
audit status; every report format and the evidence bundle downloaded; keyboard only;
WCAG AA contrast on every page; a verifier of one project sees nothing of another.
Screenshots go to the test artifacts (tests/support/browser.py)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import text

from tests.support.api import ENTRY, behind_the_api, prepare, run, serve, token
from tests.support.browser import contrast_problems, offline_page

SOLAR = "th-solar-rooftops"
CHILLER = "id-mall-chillers"
AUTHOR = "somchai.k"
HOSTILE = '<b id="bold">bold</b> & <script>document.title="owned"</script>'


@dataclass(frozen=True)
class Portal:
    url: str
    home: Path
    verifier: str  # the solar project's
    outsider: str  # a verifier of the chiller project only
    field: str
    entry_id: str
    photo_sha: str


#: The register is reset at this reading (seq RESET_AT + 2, 2026-06-26T00:00Z): it falls
#: from 89.4 MWh to 0.6 MWh and climbs on from there.
RESET_AT = 150
RESET_SEQ = RESET_AT + 2


def _june_readings(tmp: Path) -> Path:
    """The solar meter's register every four hours through June (the home already has
    June 1 and July 1 at midnight, seq 1 and 2): 180 readings in the period, two pages,
    with a reset on June 26 (the climb back to the old high, 88.8 MWh, is not counted: a
    material finding); and two readings of a meter the plan does not know, which are
    quarantined."""
    lines = ["time,site,device,seq,quantity,value,unit"]
    for n in range(1, 180):
        day, hour = 1 + n // 6, 4 * (n % 6)
        mwh = n * 0.6 if n < RESET_AT else (n - RESET_AT + 1) * 0.6
        lines.append(
            f"2026-06-{day:02d}T{hour:02d}:00:00Z,rayong-a,pv-a-meter,{n + 2},energy_export,{mwh:.1f},MWh"
        )
    lines.append("2026-06-03T00:00:00Z,rayong-a,pv-stray-meter,1,energy_export,5,MWh")
    lines.append("2026-06-04T00:00:00Z,rayong-a,pv-stray-meter,2,energy_export,9,MWh")
    path = tmp / "june.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, format="PNG")
    return out.getvalue()


def _field_work(url: str, field: str) -> tuple[str, str]:
    """Field staff upload a photo, cite it in a calibration entry, then edit the entry
    with a reason (hostile markup in it, which the portal must show as text)."""
    auth = {"Authorization": f"Bearer {field}"}
    base = f"{url}/v1/projects/{SOLAR}"
    png = _photo()
    up = httpx.post(f"{base}/photos", content=png, headers={**auth, "Content-Type": "image/png"})
    assert up.status_code == 201, up.text
    sha = hashlib.sha256(png).hexdigest()
    entry = {**ENTRY, "body": {**ENTRY["body"], "photos": [sha]}}
    made = httpx.post(f"{base}/entries", json=entry, headers=auth)
    assert made.status_code == 201, made.text
    edit = {"body": {**entry["body"], "error_pct": 0.15}, "reason": HOSTILE, "author": AUTHOR}
    edited = httpx.put(f"{base}/entries/{ENTRY['id']}", json=edit, headers=auth)
    assert edited.status_code == 200, edited.text
    return str(ENTRY["id"]), sha


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    tmp = tmp_path_factory.mktemp("portal")
    home = tmp / "home"
    prepare(home, f"sqlite:///{tmp / 'mrv.sqlite'}", tmp)
    run("readings", "import", "--project", SOLAR, str(_june_readings(tmp)), home=home)
    run(
        "periods",
        "define",
        "--project",
        SOLAR,
        "--start",
        "2026-01-01",
        "--end",
        "2026-06-30",
        home=home,
    )
    run(
        "periods",
        "define",
        "--project",
        CHILLER,
        "--start",
        "2026-04-01",
        "--end",
        "2026-06-30",
        home=home,
    )
    verifier = token(home, "--role", "verifier", "--project", SOLAR)
    outsider = token(home, "--role", "verifier", "--project", CHILLER)
    field = token(home, "--role", "field", "--project", SOLAR, "--label", AUTHOR)
    with serve(home) as (url, _):
        entry_id, sha = _field_work(url, field)
        yield Portal(url, home, verifier, outsider, field, entry_id, sha)


def sign_in(page: Page, portal: Portal, secret: str) -> None:
    page.goto(f"{portal.url}/portal")
    page.get_by_label("API token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/portal/projects$"))


def assert_readable(page: Page) -> None:
    """WCAG AA: every text element of the page against its background."""
    count, problems = contrast_problems(page)
    assert count > 3, "the scan found (almost) no text"
    assert problems == [], problems


def test_click_through_from_project_to_an_entry(browser: Browser, portal: Portal, shot):
    with offline_page(browser, viewport={"width": 1280, "height": 900}) as (page, guard):
        page.goto(f"{portal.url}/portal")
        shot(page, "1-sign-in")
        assert_readable(page)
        sign_in(page, portal, portal.verifier)
        expect(page.get_by_role("heading", level=1)).to_have_text("Projects")
        project_links = page.locator("main .cards a")
        expect(project_links).to_have_count(1)  # the token grants one project
        shot(page, "2-projects")
        assert_readable(page)

        project_links.first.click()
        expect(page.get_by_role("heading", name="Monitoring periods")).to_be_visible()
        shot(page, "3-project")
        assert_readable(page)

        page.get_by_role("link", name="Period 1: report").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Monitoring report: period 1")
        headline = page.locator(".headline").inner_text()
        assert "Emission reductions" in headline and "tCO2" in headline
        assert "2026-01-01 to 2026-06-30" in page.locator("main .meta").first.inner_text()
        downloads = page.locator(".downloads a").all_inner_texts()
        assert downloads[:5] == ["json", "csv", "xlsx", "pdf", "html"] or set(downloads) >= {
            "json",
            "pdf",
            "evidence bundle (zip)",
        }
        expect(page.get_by_role("heading", name="Findings")).to_be_visible()
        shot(page, "4-report")
        assert_readable(page)

        page.get_by_role("link", name="readings of MP-A").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Readings of "))
        rows = page.locator("main tbody tr")
        expect(rows).to_have_count(100)  # a page
        first = rows.first.locator("td").all_inner_texts()
        assert first[0] == "2026-06-01T00:00:00Z" and first[4] == "1"
        assert first[1] == "0" and first[3] == "0 MWh"  # stored in kWh, sent in MWh
        shot(page, "5-readings")
        assert_readable(page)
        page_one = page.locator("main tbody tr td:first-child").all_inner_texts()
        page.get_by_role("link", name="Next page").click()
        expect(rows).to_have_count(80)  # June 30 20:00 is the last; July 1 is not in it
        page_two = page.locator("main tbody tr td:first-child").all_inner_texts()
        assert page_two[-1] == "2026-06-30T20:00:00Z"
        assert sorted(set(page_one + page_two)) == page_one + page_two  # in order, no repeat
        expect(page.get_by_role("link", name="Next page")).to_have_count(0)

        page.get_by_role("link", name=SOLAR).click()
        page.get_by_role("link", name="Field entries").click()
        page.locator("main tbody a").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Calibration certificate")
        revisions = page.locator(".revisions > li")
        expect(revisions).to_have_count(2)
        # the reason is shown as the text it is: no element made of it, no script run
        assert HOSTILE in revisions.nth(1).inner_text()
        assert page.locator("#bold").count() == 0 and page.title() != "owned"
        image = page.locator(".photos img")
        expect(image).to_have_count(1)
        assert image.evaluate("img => img.complete && img.naturalWidth") == 64
        shot(page, "6-entry")
        assert_readable(page)

        page.get_by_role("link", name=SOLAR).click()
        page.get_by_role("link", name="Quarantine").click()
        expect(page.locator("main tbody tr")).to_have_count(2)
        assert "pv-stray-meter" in page.locator("main table").inner_text()
        shot(page, "7-quarantine")
        assert_readable(page)

        page.get_by_role("link", name=SOLAR).click()
        page.get_by_role("link", name="Audit status").click()
        expect(page.locator(".verdict")).to_contain_text("Intact.")
        shot(page, "8-audit")
        assert_readable(page)
    assert guard.blocked == []


def test_a_register_reset_is_a_material_finding_linked_to_its_readings(
    browser: Browser, portal: Portal, shot
):
    with offline_page(browser, viewport={"width": 1280, "height": 900}) as (page, guard):
        sign_in(page, portal, portal.verifier)
        page.goto(f"{portal.url}/portal/projects/{SOLAR}/periods/1")
        # the headline first: ER, the findings by severity, the tonnes they moved, the audit
        headline = page.locator(".headline")
        expect(headline).to_contain_text("Emission reductions")
        expect(headline.locator(".findings-count")).to_contain_text("1 material")
        # 88.8 MWh at 0.5 tCO2/MWh
        expect(headline.locator(".net-moved")).to_contain_text("-44.400 tCO2")
        expect(headline.locator(".audit-status")).to_contain_text("Intact")
        # the findings, material first, severity in words and in colour
        table = page.get_by_role("table", name=re.compile("^Findings, material first"))
        rows = table.locator("tbody tr")
        first = rows.first
        cells = first.locator("th, td").all_inner_texts()
        assert cells[:4] == ["F1", "material", "register", "EG_grid at MP-A"], cells
        assert cells[4] == "44.4" and cells[5] == "-44.4", cells
        severities = table.locator("tbody td:nth-child(2)").all_inner_texts()
        assert severities[0] == "material" and set(severities[1:]) == {"minor"}
        material = first.locator(".sev-material").evaluate("e => getComputedStyle(e).color")
        minor = rows.nth(1).locator(".sev-minor").evaluate("e => getComputedStyle(e).color")
        assert material != minor
        # the steps' inputs: the reset among the readings bracketing MP-A, fixed values
        inputs = page.get_by_role("table", name=re.compile("^EG_grid at MP-A: readings"))
        assert "reset" in inputs.inner_text() and "89,400 kWh" in inputs.inner_text()
        fixed = page.get_by_role("table", name=re.compile("^Values a step used"))
        expect(fixed.locator("thead")).to_contain_text("Version")
        shot(page, "1-report-findings")
        assert_readable(page)

        # the reset reading's evidence opens its readings page at it, the rows before shown
        first.get_by_role("link", name=f"reading pv-a-meter/energy_export/{RESET_SEQ}").click()
        page.wait_for_url(re.compile(rf"seq={RESET_SEQ}.*#seq-{RESET_SEQ}$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Readings of pv-a-meter/energy_export"
        )
        marked = page.locator("tr.marked td").all_inner_texts()
        assert marked[0] == "2026-06-26T00:00:00Z" and marked[4] == str(RESET_SEQ), marked
        assert marked[1] == "600" and marked[3] == "0.6 MWh", marked
        seqs = [int(t) for t in page.locator("main tbody td:nth-child(5)").all_inner_texts()]
        # ten readings before it, then on to the end of the period (seq 181: June 30 20:00)
        assert seqs == list(range(RESET_SEQ - 10, 182)), seqs
        before = page.locator(f"#seq-{RESET_SEQ - 1} td").all_inner_texts()
        assert before[1] == "89,400"  # the old high, which the climb back must pass
        shot(page, "2-readings-at-the-reset")
        assert_readable(page)

        # the reading after the period's end (July 1, seq 2) opens too: the window widens
        page.go_back()
        page.get_by_role("link", name="reading pv-a-meter/energy_export/2").first.click()
        expect(page.locator("tr.marked td").first).to_have_text("2026-07-01T00:00:00Z")

        # a quarantine finding's evidence opens the quarantine page at its row
        page.go_back()
        stray = page.locator("tbody tr", has_text="pv-stray-meter").first
        link = stray.get_by_role("link", name=re.compile(r"^quarantine \d+$")).first
        held = link.inner_text().split()[1]
        link.click()
        page.wait_for_url(re.compile(rf"/quarantine\?after={int(held) - 1}#q-{held}$"))
        expect(page.locator(f"#q-{held}")).to_contain_text("pv-stray-meter")
        shot(page, "3-quarantine-at-a-row")
    assert guard.blocked == []


def test_the_quarantine_pages_by_id(browser: Browser, server: tuple[str, Path], tmp_path: Path):
    """On each relational backend: 450 quarantined messages, shown 200 at a time, each
    page following the last id of the one before, none repeated or skipped."""
    url, home = server
    lines = ["time,site,device,seq,quantity,value,unit"]
    lines += [
        f"2026-06-01T{n // 60:02d}:{n % 60:02d}:00Z,rayong-a,pv-stray-meter,{n},energy_export,{n},MWh"
        for n in range(1, 451)
    ]
    csv = tmp_path / "stray.csv"
    csv.write_text("\n".join(lines) + "\n")
    run("readings", "import", "--project", SOLAR, str(csv), home=home)
    verifier = token(home, "--role", "verifier", "--project", SOLAR)
    api = httpx.get(
        f"{url}/v1/projects/{SOLAR}/quarantine",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {verifier}"},
    )
    every = [q["id"] for q in api.json()]
    assert len(every) == 450 and every == sorted(every)
    with offline_page(browser) as (page, _):
        sign_in(page, Portal(url, home, verifier, "", "", "", ""), verifier)
        page.goto(f"{url}/portal/projects/{SOLAR}/quarantine")
        seen: list[int] = []
        sizes = []
        while True:
            ids = [int(t) for t in page.locator("main tbody td:first-child").all_inner_texts()]
            seen += ids
            sizes.append(len(ids))
            following = page.get_by_role("link", name="Next page")
            if following.count() == 0:
                break
            following.click()
            expect(page.get_by_role("link", name="First page")).to_be_visible()
        assert sizes == [200, 200, 50] and seen == every
        # a cursor past the last id: an empty page, not an error
        answer = page.goto(f"{url}/portal/projects/{SOLAR}/quarantine?after={every[-1]}")
        assert answer is not None and answer.status == 200
        expect(page.locator("main")).to_contain_text("Nothing more is quarantined")
    for bad in ("-1", "x", str(2**63)):
        refused = httpx.get(
            f"{url}/portal/projects/{SOLAR}/quarantine?after={bad}",
            cookies={"mrv_portal": verifier},
        )
        assert refused.status_code == 422, bad
    paged = httpx.get(
        f"{url}/v1/projects/{SOLAR}/quarantine",
        params={"limit": 10, "after": every[4]},
        headers={"Authorization": f"Bearer {verifier}"},
    )
    assert [q["id"] for q in paged.json()] == every[5:15]


def test_every_format_and_the_bundle_download(browser: Browser, portal: Portal):
    with offline_page(browser) as (page, _):
        sign_in(page, portal, portal.verifier)
        page.goto(f"{portal.url}/portal/projects/{SOLAR}/periods/1")
        links = page.locator(".downloads a")
        targets = links.evaluate_all("links => links.map(a => [a.textContent, a.href])")
        assert len(targets) >= 6
        for label, href in targets:
            # the PDF (matplotlib charts) took 16 s with the machine loaded by the suite
            with page.expect_download(timeout=180_000) as caught:
                page.locator(".downloads a", has_text=label).click()
            download = caught.value
            saved = download.path()
            assert download.failure() is None, label
            data = Path(saved).read_bytes()
            assert len(data) > 100, label
            if label == "json":
                assert b'"inputs_sha256"' in data
            elif label.startswith("evidence bundle"):
                assert "manifest.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()
            assert SOLAR in download.suggested_filename, (label, href)


def test_keyboard_alone_signs_in_and_follows_links(browser: Browser, portal: Portal, shot):
    with offline_page(browser, viewport={"width": 1024, "height": 768}) as (page, _):
        page.goto(f"{portal.url}/portal")

        def tab_to(predicate_js: str, limit: int = 40) -> dict:
            for _ in range(limit):
                page.keyboard.press("Tab")
                focused = page.evaluate(
                    "() => { const e = document.activeElement; const s = getComputedStyle(e);"
                    " return {tag: e.tagName.toLowerCase(), id: e.id, text: e.textContent.trim(),"
                    " outline: s.outlineStyle, width: parseFloat(s.outlineWidth)} }"
                )
                if page.evaluate(f"e => ({predicate_js})", focused):
                    return focused
            raise AssertionError(f"Tab never reached {predicate_js}")

        skip = tab_to("e.text === 'Skip to content'")
        assert skip["outline"] != "none" and skip["width"] >= 2  # a visible focus ring
        field = tab_to("e.id === 'token'")
        assert field["outline"] != "none"
        page.keyboard.type(portal.verifier)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/portal/projects$"))

        tab_to("e.tag === 'a' && e.text.includes('Rooftop')")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(rf"/portal/projects/{SOLAR}$"))
        focused = tab_to("e.text === 'Period 1: report'")
        assert focused["outline"] != "none" and focused["width"] >= 2
        shot(page, "focus-on-period", full_page=False)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/periods/1$"))
        # the contents lead past the findings to the steps; a followed in-page link moves
        # where Tab goes next
        tab_to("e.text === 'Steps'")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/periods/1#s-parameters$"))
        tab_to("e.text === 'readings of MP-A'")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/periods/1/readings\?point="))
        tab_to("e.text === 'Sign out'")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/portal$"))
        expect(page.get_by_label("API token")).to_be_visible()


def test_a_verifier_of_one_project_sees_nothing_of_another(browser: Browser, portal: Portal, shot):
    solar = f"{portal.url}/portal/projects/{SOLAR}"
    with offline_page(browser) as (page, _):
        sign_in(page, portal, portal.outsider)
        listed = page.locator("main").inner_text()
        assert CHILLER in listed and SOLAR not in listed and "Rooftop" not in listed
        for path in (
            "",
            "/periods/1",
            "/periods/1/readings?point=MP-A",
            "/periods/1/report.json",
            "/periods/1/bundle",
            "/entries",
            f"/entries/{portal.entry_id}",
            f"/photos/{portal.photo_sha}",
            "/quarantine",
            "/audit",
        ):
            answer = page.goto(solar + path)
            assert answer is not None and answer.status == 403, path
            text = page.locator("main").inner_text()
            assert "does not grant project" in text, path
            assert "Rooftop" not in text and "pv-a-meter" not in text and AUTHOR not in text
            assert answer.headers["content-type"].startswith("text/html"), path
        shot(page, "403")
        assert_readable(page)
        links = page.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert not [link for link in links if SOLAR in link]
        # and a project of nobody's is refused the same way: nothing tells it exists
        assert page.goto(f"{portal.url}/portal/projects/no-such-project").status == 403


def test_sign_in_refusals_cookie_and_sign_out(browser: Browser, portal: Portal, shot):
    with offline_page(browser) as (page, _):
        answer = page.goto(f"{portal.url}/portal/projects")
        assert answer is not None and answer.status == 401
        expect(page.get_by_label("API token")).to_be_visible()  # signs in from there

        page.get_by_label("API token").fill("mrv_not-a-token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("a valid bearer token is required")
        shot(page, "wrong-token")
        assert_readable(page)

        page.get_by_label("API token").fill(portal.field)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("cannot sign in to the portal")

        sign_in(page, portal, portal.verifier)
        (cookie,) = page.context.cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/portal" and cookie["value"] == portal.verifier
        assert page.evaluate("document.cookie") == ""  # no script can read the token
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r"/portal$"))
        assert page.context.cookies() == []
        assert page.goto(f"{portal.url}/portal/projects").status == 401


def test_forms_from_elsewhere_and_bad_input_are_refused_as_pages(portal: Portal):
    sign_in_url = f"{portal.url}/portal/sign-in"
    forged = httpx.post(
        sign_in_url,
        data={"token": portal.verifier},
        headers={"Origin": "http://attacker.example"},
    )
    assert forged.status_code == 403 and "set-cookie" not in forged.headers
    assert "text/html" in forged.headers["content-type"]
    empty = httpx.post(sign_in_url, data={"token": ""})
    assert empty.status_code == 422 and "paste an API token" in empty.text
    huge = httpx.post(sign_in_url, content=b"token=" + b"x" * 100_000)
    assert huge.status_code == 422 and "at most 200 characters" in huge.text
    fields = httpx.post(sign_in_url, content=b"&".join([b"a=1"] * 50))
    assert fields.status_code == 422
    framed = httpx.post(sign_in_url, data={"token": portal.verifier}, headers={"Origin": "null"})
    assert framed.status_code == 403
    cookies = {"mrv_portal": portal.verifier}
    base = f"{portal.url}/portal/projects/{SOLAR}"
    for path, status in (
        ("/periods/0", 422),
        ("/periods/99", 404),
        ("/periods/1/readings?point=nowhere", 404),
        ("/periods/1/readings?point=MP-A&cursor=garbage", 422),
        ("/periods/1/report.docx", 422),
        ("/entries/not-a-uuid", 422),
        ("/entries/00000000-0000-0000-0000-000000000000", 404),
        ("/photos/" + "0" * 64, 404),
        ("/quarantine?status=whatever", 422),
        ("/quarantine?after=-5", 422),
        ("/periods/1/readings", 422),
        ("/periods/1/readings?device=pv-a-meter", 422),
        ("/periods/1/readings?point=MP-A&device=pv-a-meter&quantity=energy_export", 422),
        ("/periods/1/readings?device=%3Cb%3E&quantity=energy_export", 422),
        ("/periods/1/readings?device=pv-a-meter&quantity=energy_export&seq=999999", 404),
        ("/periods/1/readings?device=pv-a-meter&quantity=energy_export&seq=-1", 422),
        ("/periods/1/readings?device=pv-a-meter&quantity=energy_export&at=soon", 422),
        ("/periods/1/readings?device=pv-a-meter&quantity=energy_export&at=2026-06-01T00:00", 422),
    ):
        answer = httpx.get(base + path, cookies=cookies)
        assert answer.status_code == status, (path, answer.text[:300])
        assert answer.headers["content-type"].startswith("text/html"), path
        assert "<h1>" in answer.text
    # pages carry a policy: no script, nothing from elsewhere
    ok = httpx.get(base, cookies=cookies)
    assert "default-src 'none'" in ok.headers["content-security-policy"]
    # the API's own errors keep their JSON shape
    api = httpx.get(f"{portal.url}/v1/projects/{SOLAR}/periods")
    assert api.status_code == 401 and api.json()["error"]


def test_the_audit_status_names_an_entry_changed_behind_the_portals_back(
    browser: Browser, server: tuple[str, Path], shot
):
    """On each relational backend: intact, then an entry's body changed in the database
    directly, which the audit page names."""
    url, home = server
    verifier = token(home, "--role", "verifier", "--project", SOLAR)
    field = token(home, "--role", "field", "--project", SOLAR, "--label", AUTHOR)
    made = httpx.post(
        f"{url}/v1/projects/{SOLAR}/entries",
        json=ENTRY,
        headers={"Authorization": f"Bearer {field}"},
    )
    assert made.status_code == 201, made.text
    portal = Portal(url, home, verifier, "", field, str(ENTRY["id"]), "")
    with offline_page(browser) as (page, _):
        sign_in(page, portal, verifier)
        page.goto(f"{url}/portal/projects/{SOLAR}/audit")
        expect(page.locator(".verdict")).to_contain_text("Intact.")
        with behind_the_api(home) as conn:
            body = conn.execute(
                text("SELECT body FROM entries WHERE id = :i"), {"i": ENTRY["id"]}
            ).scalar()
            body = json.loads(body) if isinstance(body, str) else body
            conn.execute(
                text("UPDATE entries SET body = :b WHERE id = :i"),
                {"b": json.dumps({**body, "error_pct": 0.01}), "i": ENTRY["id"]},
            )
        page.reload()
        expect(page.locator(".verdict")).to_contain_text("Not intact.")
        changed = page.locator("main table").last.inner_text()
        assert ENTRY["id"] in changed and "its current body was changed" in changed
        shot(page, "audit-not-intact")
        assert_readable(page)
