"""Drive the real app with simulated touches: for the GUI tests and the screenshots.

``python -m mobile_app.drive SCENARIO --home DIR [--server URL --token T] --out FILE``
starts the app (headless with ``SDL_VIDEODRIVER=offscreen``), plays one scenario by
pressing its buttons through Kivy's own touch dispatch (hit-testing included), typing
into its fields and choosing from its spinners, and writes what the screens showed to
``--out`` as JSON. Each scenario is a separate process, like each start of the app on a
tablet: what survives between them is only what the app saved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mobile_app.forms import ENTRY_TYPES

STEP_S = 0.05


class Driver:
    def __init__(self, app: Any, args: argparse.Namespace) -> None:
        self.app = app
        self.args = args
        self.seen: dict[str, Any] = {}

    async def frame(self, seconds: float = STEP_S) -> None:
        await asyncio.sleep(seconds)

    async def find(self, test_id: str, timeout_s: float = 15.0) -> Any:
        from kivy.core.window import Window  # kivy: imported once the window is configured

        from mobile_app.app import find  # kivy: imported once the window is configured

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for root in [self.app.root, *Window.children]:
                widget = find(root, test_id) if root is not None else None
                if widget is not None and widget.get_root_window() is not None:
                    return widget
            await self.frame()
        shown = [
            f"{w.test_id}: {w.text}"
            for w in self.app.root.walk(restrict=True)
            if str(getattr(w, "test_id", "")).startswith(("error:", "form.status"))
            and str(getattr(w, "text", ""))
        ]
        raise TimeoutError(
            f"no widget {test_id!r} on screen {self.app.manager.current!r}; shown: {shown}"
        )

    async def tap(self, test_id: str) -> None:
        """Touch the widget's centre: the touch goes through the window's hit-testing
        like a finger's, so a widget covered or off screen is not pressed."""
        from kivy.tests.common import UnitTestTouch  # kivy: imported once the window is configured

        widget = await self.find(test_id)
        await self.scroll_to(widget)
        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        await self.frame()
        touch.touch_up()
        await self.frame()

    async def double_tap(self, test_id: str) -> None:
        """Two quick touches at one place, both handled before the next frame: what a
        finger's double tap does on a busy tablet."""
        from kivy.tests.common import UnitTestTouch  # kivy: imported once the window is configured

        widget = await self.find(test_id)
        await self.scroll_to(widget)
        x, y = widget.to_window(*widget.center)
        for _ in range(2):
            touch = UnitTestTouch(x, y)
            touch.touch_down()
            touch.touch_up()
        await self.frame()

    async def scroll_to(self, widget: Any) -> None:
        from kivy.uix.scrollview import ScrollView  # kivy: imported once the window is configured

        parent = widget.parent
        # the window is its own parent: a widget in a popup has no ScrollView above it
        while parent is not None and not isinstance(parent, ScrollView):
            parent = None if parent.parent is parent else parent.parent
        if parent is None or not parent.children:
            return
        # Set the position directly (ScrollView.scroll_to waits for a layout that a
        # column fitting its height to the view can keep re-triggering), then tell the
        # scroll effect, or it moves the view back on its next update.
        content = parent.children[0]
        span = content.height - parent.height
        if span > 0:
            offset = widget.to_window(widget.x, widget.y)[1] - content.to_window(0, content.y)[1]
            bottom = offset - (parent.height - widget.height) / 2
            parent.scroll_y = min(1.0, max(0.0, bottom / span))
            parent._update_effect_bounds()
        await self.frame(0.1)

    async def type(self, test_id: str, text: str) -> None:
        field = await self.find(test_id)
        await self.scroll_to(field)
        field.text = ""
        field.focus = True
        field.insert_text(text)  # through the field's input filter, as keys would be
        field.focus = False
        await self.frame()

    async def choose(self, test_id: str, label: str) -> None:
        """Open a spinner and touch the option with this label."""
        from kivy.tests.common import UnitTestTouch  # kivy: imported once the window is configured

        spinner = await self.find(test_id)
        await self.tap(test_id)
        await self.frame(0.2)
        dropdown = spinner._dropdown
        options = {b.text: b for b in dropdown.container.children}
        if label not in options:
            raise LookupError(f"{test_id}: no option {label!r} in {sorted(options)}")
        option = options[label]
        dropdown.scroll_to(option, animate=False)
        await self.frame(0.1)
        x, y = option.to_window(*option.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        await self.frame()
        touch.touch_up()
        await self.frame(0.2)

    async def text_of(self, test_id: str) -> str:
        return str((await self.find(test_id)).text)

    async def wait_text(self, test_id: str, contains: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            try:
                text = await self.text_of(test_id)
            except TimeoutError:
                text = ""
            if contains in text:
                return text
            await self.frame(0.1)
        raise TimeoutError(f"{test_id!r} shows {text!r}, not {contains!r}")

    async def screenshot(self, name: str) -> None:
        from kivy.core.window import Window  # kivy: imported once the window is configured

        if self.args.screenshots is None:
            return
        await self.frame(0.3)
        folder = Path(self.args.screenshots)
        folder.mkdir(parents=True, exist_ok=True)
        written = Window.screenshot(name=str(folder / f"{name}.png"))
        # Kivy adds a counter to the name; keep the name the README links to.
        if written:
            Path(written).replace(folder / f"{name}.png")


# --- scenarios ----------------------------------------------------------------------------


async def sign_in(d: Driver) -> None:
    await d.type("signin.server", d.args.server)
    await d.type("signin.token", d.args.token)
    await d.screenshot("1-sign-in")
    await d.tap("signin.submit")
    await d.find(f"site:{d.args.project}:{d.args.site}", timeout_s=30)
    d.seen["screen"] = d.app.manager.current


async def meter_reading(d: Driver, value: str, device: str = "pv-a-meter") -> None:
    """Choose the site and fill a meter reading (values as typed on the tablet)."""
    await d.tap(f"site:{d.args.project}:{d.args.site}")
    await d.tap("type:meter_reading")
    await d.choose("field:device", next(label for label in _device_labels(d) if device in label))
    await d.choose("field:quantity", "energy export")
    await d.type("field:value", value)
    await d.choose("field:unit", "MWh")
    await d.type("gps:lat", "12.7074")
    await d.type("gps:lon", "101.1481")
    await d.type("gps:accuracy_m", "8")


def _device_labels(d: Driver) -> list[str]:
    from mobile_app.app import find  # kivy: imported once the window is configured

    return list(find(d.app.root, "field:device").values)


async def offline_entry(d: Driver) -> None:
    """Make an entry with the server down; tap submit twice, quickly."""
    await meter_reading(d, d.args.value, d.args.device)
    await d.double_tap("form.submit")
    await d.find("outbox.sync_now")
    rows = d.app.session.outbox.entries()
    d.seen["entries"] = [(e.id, e.state) for e in rows]
    d.seen["row_state"] = await d.wait_text(f"state:{rows[0].id}", "Queued")
    d.seen["outbox_status"] = await d.wait_text("outbox.status", "Offline")


async def deliver(d: Driver) -> None:
    """Start again with the server back: the outbox is there and is delivered; each row
    ends up showing ``--expect`` ("Sent", or "Rejected" and the server's reason)."""
    await d.tap(f"site:{d.args.project}:{d.args.site}")
    await d.tap("nav.outbox")
    rows = d.app.session.outbox.entries()
    await d.tap("outbox.sync_now")  # it may have gone already, in the background
    d.seen["states"] = [await d.wait_text(f"state:{e.id}", d.args.expect) for e in rows]
    d.seen["after"] = [(e.id, e.state) for e in d.app.session.outbox.entries()]
    d.seen["outbox_status"] = await d.text_of("outbox.status")
    await d.screenshot("outbox-after-delivery")


async def invalid_form(d: Driver) -> None:
    """Mistakes are shown beside their fields and nothing is saved."""
    await d.tap(f"site:{d.args.project}:{d.args.site}")
    await d.tap("type:meter_reading")
    await d.choose("field:device", next(label for label in _device_labels(d) if "pv-a" in label))
    await d.choose("field:quantity", "energy export")
    await d.type("field:value", "-5")
    await d.type("field:time", "tomorrow")
    await d.tap("form.submit")
    d.seen["value_error"] = await d.text_of("error:value")
    d.seen["time_error"] = await d.text_of("error:time")
    d.seen["status"] = await d.text_of("form.status")
    d.seen["entries"] = len(d.app.session.outbox.entries())


async def tour(d: Driver) -> None:
    """Every screen, for the screenshots (a server with the example plans)."""
    await sign_in(d)
    await d.screenshot("2-projects")
    await d.tap(f"site:{d.args.project}:{d.args.site}")
    await d.screenshot("3-entry-types")
    await d.tap("type:meter_reading")
    await d.choose("field:device", next(label for label in _device_labels(d) if "pv-a" in label))
    await d.choose("field:quantity", "energy export")
    await d.type("field:value", "-5")
    await d.tap("form.submit")
    await d.screenshot("4-form-with-errors")
    await d.type("field:value", "61.2")
    await d.choose("field:unit", "MWh")
    await d.type("gps:lat", "12.7074")
    await d.type("gps:lon", "101.1481")
    await d.type("gps:accuracy_m", "8")
    await d.tap("form.submit")
    await d.find("outbox.sync_now")
    entry = d.app.session.outbox.entries()[0]
    await d.wait_text(f"state:{entry.id}", "Sent")
    await d.tap("nav.new_entry")
    await d.tap("type:site_visit_checklist")
    await d.tap("check:seals_intact")
    await d.tap("check:display_readable")
    await d.screenshot("5-checklist")
    await d.tap("nav.back")
    await d.tap("type:calibration_certificate")
    await d.screenshot("6-calibration-form")
    await d.tap("nav.back")
    await d.tap("nav.outbox")
    await d.screenshot("7-outbox")
    await d.tap(f"edit:{entry.id}")
    await d.type("field:reason", "misread the last digit")
    await d.screenshot("8-edit-with-reason")


# --- sign-in codes, outbox times, contrast (issue 14) ------------------------------------


async def pick_image(d: Driver, path: str | Path) -> None:
    """Open "read the code from a picture", choose ``path`` in the chooser, use it."""
    await d.tap("signin.qr_image")
    chooser = await d.find("qr.chooser")
    chooser.path = str(Path(path).parent)
    await d.frame(0.3)
    chooser.selection = [str(path)]
    await d.tap("qr.use")


async def status_after(d: Driver, test_id: str, busy: str, timeout_s: float = 30.0) -> str:
    """The label's text once it no longer says ``busy`` (work in the background)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = await d.text_of(test_id)
        if text and not text.startswith(busy):
            return text
        await d.frame(0.1)
    raise TimeoutError(f"{test_id!r} still shows {busy!r}")


async def qr_sign_in(d: Driver) -> None:
    """Sign in from a picture of the sign-in code, then make an entry and see it sent."""
    await d.screenshot("sign-in")
    await pick_image(d, d.args.qr_image)
    await d.find(f"site:{d.args.project}:{d.args.site}", timeout_s=30)
    d.seen["screen"] = d.app.manager.current
    d.seen["signed_in"] = await d.text_of("project.signed_in")
    await d.screenshot("qr-sign-in-result")
    await meter_reading(d, d.args.value, d.args.device)
    await d.tap("form.submit")
    await d.find("outbox.sync_now")
    entry = d.app.session.outbox.entries()[0]
    d.seen["entry"] = entry.id
    d.seen["state"] = await d.wait_text(f"state:{entry.id}", "Sent")


def _junk_pastes() -> dict[str, str]:
    code = "mrv://sign-in?v={v}&api={api}&token={token}"
    return {
        "words": "hello, is this the code?",
        "web address": "https://mrv.example.org/",
        "version 2": code.format(v=2, api="http%3A%2F%2Fmrv.example.org", token="mrv_abc"),
        "no version": "mrv://sign-in?api=http%3A%2F%2Fmrv.example.org&token=mrv_abc",
        "ftp server": code.format(v=1, api="ftp%3A%2F%2Fmrv.example.org", token="mrv_abc"),
        "script server": code.format(v=1, api="javascript%3Aalert(1)", token="mrv_abc"),
        "long token": code.format(v=1, api="http%3A%2F%2Fmrv.example.org", token="a" * 300),
        "odd token": code.format(v=1, api="http%3A%2F%2Fx.org", token="mrv_%3Cscript%3E"),
        "twice": code.format(v=1, api="http%3A%2F%2Fx.org", token="mrv_a") + "&token=mrv_b",
        "megabyte": "mrv://sign-in?v=1&" + "x" * 1_000_000,
        "control bytes": "\x00\x01\x02mrv://sign-in",
        "empty": "   ",
    }


async def junk_codes(d: Driver) -> None:
    """Junk pasted and junk pictures: each gets a message beside the code's field."""
    messages: dict[str, str] = {}
    for name, text in _junk_pastes().items():
        await d.type("signin.code", text)
        d.seen.setdefault("pasted_length", {})[name] = len(await d.text_of("signin.code"))
        await d.tap("signin.use_code")
        messages[name] = await d.text_of("signin.code_status")
    for image in sorted(Path(d.args.junk_dir).iterdir()):
        await pick_image(d, image)
        messages[image.name] = await status_after(d, "signin.code_status", "Reading")
    d.seen["messages"] = messages
    camera = await d.find("signin.scan")
    d.seen["camera"] = [camera.text, camera.disabled]
    await d.tap("signin.scan")  # a button that cannot scan here: nothing happens
    await d.screenshot("sign-in-refused")
    d.seen["screen"] = d.app.manager.current
    d.seen["signed_in"] = d.app.session.credentials is not None


async def fill_reading(d: Driver, value: str) -> None:
    await d.tap("type:meter_reading")
    await d.choose("field:device", next(label for label in _device_labels(d) if "pv-a" in label))
    await d.choose("field:quantity", "energy export")
    await d.type("field:value", value)
    await d.choose("field:unit", "MWh")


async def outbox_rows(d: Driver) -> dict[str, dict[str, str]]:
    rows = {}
    for entry in d.app.session.outbox.entries():
        rows[entry.id] = {
            "recorded_at": entry.recorded_at,
            "state": entry.state,
            "made": await d.text_of(f"made:{entry.id}"),
            "shown": await d.text_of(f"state:{entry.id}"),
        }
    return rows


async def outbox_times(d: Driver) -> None:
    """With the server down: one entry submitted, one saved as a draft; the outbox
    rows say when each was made and what state it is in."""
    await d.tap(f"site:{d.args.project}:{d.args.site}")
    await fill_reading(d, "61.2")
    await d.tap("form.submit")
    await d.find("outbox.sync_now")
    await d.tap("nav.new_entry")
    await fill_reading(d, "62.5")
    await d.tap("form.save_draft")
    await d.find("outbox.sync_now")
    await d.wait_text("outbox.status", "Offline")
    d.seen["rows"] = await outbox_rows(d)
    await d.screenshot("outbox")


async def outbox_later(d: Driver) -> None:
    """Started again with the server back: the submitted entry is sent, the draft is
    still a draft, and each row still says when it was made."""
    await d.tap(f"site:{d.args.project}:{d.args.site}")
    await d.tap("nav.outbox")
    await d.tap("outbox.sync_now")
    for entry in d.app.session.outbox.entries():
        if entry.state != "draft":
            await d.wait_text(f"state:{entry.id}", "Sent")
    d.seen["rows"] = await outbox_rows(d)
    await d.screenshot("outbox-delivered")


async def look(d: Driver, name: str, roots: list[Any] | None = None) -> None:
    """Audit what the screen shows, scrolled from top to bottom."""
    from kivy.core.window import Window
    from kivy.uix.scrollview import ScrollView

    from mobile_app.audit import Frame, audit, button_look
    from mobile_app.style import StyledButton

    roots = roots or [d.app.root]
    scroll = next((w for w in roots[0].walk(restrict=True) if isinstance(w, ScrollView)), None)
    steps = [1.0]
    if scroll is not None and roots[0] is d.app.root and scroll.children:
        pages = scroll.children[0].height / max(1.0, scroll.height)
        count = max(1, int(pages * 2))
        steps = [1 - i / count for i in range(count + 1)]
    seen: set[int] = set()
    for step in steps:
        if scroll is not None and roots[0] is d.app.root:
            scroll.scroll_y = step
            scroll._update_effect_bounds()  # or the scroll effect puts it back later
        await d.frame(0.2)
        Window.canvas.ask_update()
        await d.frame(0.1)
        frame = Frame()
        for finding in audit(roots, frame, name, seen):
            d.seen.setdefault("findings", []).append(finding.as_dict())
        for root in roots:
            for widget in root.walk(restrict=True):
                if isinstance(widget, StyledButton) and (found := button_look(widget, frame)):
                    d.seen.setdefault("buttons", []).append({**found, "screen": name})
    if scroll is not None and roots[0] is d.app.root:
        scroll.scroll_y = 1.0
        scroll._update_effect_bounds()


async def old_checklist_item(d: Driver) -> None:
    """The ticked checklist item as it was (Kivy's default ToggleButton, white text on
    its pressed image), measured the same way: the audit must fail it."""
    from kivy.core.window import Window
    from kivy.uix.togglebutton import ToggleButton

    from mobile_app.audit import Frame, check
    from mobile_app.style import FONT, ROW

    probe = ToggleButton(text="Meter seals intact", state="down", font_size=FONT)
    probe.size_hint = (None, None)
    probe.size = (Window.width * 0.8, ROW)
    probe.pos = (Window.width * 0.1, Window.height * 0.4)
    Window.add_widget(probe)
    await d.frame(0.3)
    finding = check(probe, Frame(), "old checklist item")
    Window.remove_widget(probe)
    d.seen["old_checklist"] = finding.as_dict() if finding else None


async def button_states(d: Driver) -> None:
    """Each kind of button pressed and disabled (states a screen shows only for a
    moment), drawn by the app's own StyledButton and audited the same way."""
    from kivy.core.window import Window

    from mobile_app.audit import Frame, check
    from mobile_app.style import LOOKS, ROW, StyledButton

    for state in ("down", "disabled"):
        probes = []
        for i, kind in enumerate(LOOKS):
            probe = StyledButton(text=f"{kind} {state}", kind=kind, size_hint=(None, None))
            probe.size = (Window.width * 0.8, ROW)
            probe.pos = (Window.width * 0.1, Window.height * 0.2 + i * ROW * 1.5)
            probe.disabled = state == "disabled"
            probe.state = "down" if state == "down" else "normal"
            Window.add_widget(probe)
            probes.append(probe)
        await d.frame(0.3)
        frame = Frame()
        for probe in probes:
            finding = check(probe, frame, f"buttons {state}")
            if finding is not None:
                d.seen.setdefault("findings", []).append(finding.as_dict())
            Window.remove_widget(probe)


async def contrast(d: Driver) -> None:
    """Every screen, with its messages, errors, choices and ticks on show, audited."""
    from kivy.core.window import Window

    await d.type("signin.code", "not a sign-in code")
    await d.tap("signin.use_code")
    await d.type("signin.token", "mrv_wrong")
    await d.type("signin.server", d.args.server)
    await d.tap("signin.submit")
    await d.wait_text("signin.status", "Sign in failed")
    await look(d, "sign in, with errors")
    await d.tap("signin.qr_image")
    await d.find("qr.chooser")
    await look(d, "picture chooser", [Window.children[0]])
    await d.tap("qr.cancel")
    await d.frame(0.3)
    await sign_in(d)
    await look(d, "projects")
    await d.tap(f"site:{d.args.project}:{d.args.site}")
    await look(d, "entry types")
    for entry_type in ENTRY_TYPES:
        await d.tap(f"type:{entry_type}")
        await look(d, f"form: {entry_type}")
        await d.tap("nav.back")
    await forms_with_errors_and_choices(d)
    await d.tap("type:site_visit_checklist")
    await d.tap("check:seals_intact")
    await d.tap("check:display_readable")
    await look(d, "checklist, two ticked")
    await old_checklist_item(d)
    await button_states(d)
    await d.scroll_to(await d.find("check:seals_intact"))
    await d.screenshot("checklist")
    await d.tap("nav.back")
    await outbox_with_every_kind(d)


async def forms_with_errors_and_choices(d: Driver) -> None:
    from kivy.core.window import Window

    await d.tap("type:meter_reading")
    await d.type("field:value", "-5")
    await d.type("field:time", "tomorrow")
    await d.tap("form.submit")
    await look(d, "form with errors")
    spinner = await d.find("field:device")
    await d.tap("field:device")
    await d.frame(0.3)
    await look(d, "device choices", [Window.children[0]])
    spinner._dropdown.dismiss()
    await d.frame(0.2)
    await d.tap("nav.back")


async def outbox_with_every_kind(d: Driver) -> None:
    """A sent entry (edit), a draft (open, discard), the status line; then an edit."""
    await fill_reading(d, "61.2")
    await d.type("gps:lat", "12.7074")
    await d.type("gps:lon", "101.1481")
    await d.tap("form.submit")
    await d.find("outbox.sync_now")
    sent = d.app.session.outbox.entries()[0]
    await d.wait_text(f"state:{sent.id}", "Sent")
    await d.tap("nav.new_entry")
    await fill_reading(d, "62.5")
    await d.tap("form.save_draft")
    await d.find("outbox.sync_now")
    await d.find(f"discard:{d.app.session.outbox.entries()[0].id}")
    await look(d, "outbox")
    await d.tap(f"edit:{sent.id}")
    await d.tap("form.submit")  # no reason given: the reason's error shows
    await look(d, "edit with a reason")


SCENARIOS: dict[str, Callable[[Driver], Awaitable[None]]] = {
    "sign_in": sign_in,
    "offline_entry": offline_entry,
    "deliver": deliver,
    "invalid_form": invalid_form,
    "tour": tour,
    "qr_sign_in": qr_sign_in,
    "junk_codes": junk_codes,
    "outbox_times": outbox_times,
    "outbox_later": outbox_later,
    "contrast": contrast,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--server", default="")
    parser.add_argument("--token", default="")
    parser.add_argument("--project", default="th-solar-rooftops")
    parser.add_argument("--site", default="rayong-a")
    parser.add_argument("--device", default="pv-a-meter")
    parser.add_argument("--value", default="61.2")
    parser.add_argument("--expect", default="Sent")
    parser.add_argument("--size", default="800x1280")
    parser.add_argument("--screenshots", default=None)
    parser.add_argument("--qr-image", default="")
    parser.add_argument("--junk-dir", default="")
    args = parser.parse_args(argv)
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    if os.environ.get("KIVY_HOME"):
        Path(os.environ["KIVY_HOME"]).mkdir(parents=True, exist_ok=True)  # Kivy will not
    args.out.parent.mkdir(parents=True, exist_ok=True)
    width, _, height = args.size.partition("x")
    from kivy.config import Config  # kivy: imported once the window is configured

    Config.set("graphics", "width", width)
    Config.set("graphics", "height", height)
    from mobile_app.app import FieldApp  # kivy: imported once the window is configured

    app = FieldApp(home=args.home)
    driver = Driver(app, args)
    result: dict[str, Any] = {"ok": False}

    async def play() -> None:
        try:
            while app.root is None:
                await asyncio.sleep(STEP_S)
            await driver.frame(0.3)
            await SCENARIOS[args.scenario](driver)
            result["ok"] = True
        except Exception:
            result["error"] = traceback.format_exc()
            result["screen"] = app.manager.current if app.root else None
            await driver.screenshot("failed-" + args.scenario)  # what the screen showed
        finally:
            result["seen"] = driver.seen
            app.stop()

    async def both() -> None:
        await asyncio.gather(app.async_run(async_lib="asyncio"), play())

    try:
        asyncio.run(both())
    except Exception:  # the app itself failed (to build, say): report it the same way
        result["error"] = traceback.format_exc()
    args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
