"""The Kivy field app: sign in, choose project and site, fill an entry form, and watch
the outbox deliver it.

Screens are built in Python from the form specifications (``forms.FORMS``); every
visible string comes from ``strings.t``. Widgets that matter to a person (and to the
tests, which press them with simulated touches) carry a ``test_id``; ``find(root, id)``
returns one. Touch targets are at least 64 dp high and text is 20 sp, dark on white
(or white on dark blue for buttons) for reading in sunlight; each screen scrolls, so it
works in portrait and landscape alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock, mainthread
from kivy.core.window import Window
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.filechooser import FileChooserListView
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
from kivy.uix.scrollview import ScrollView
from kivy.uix.textinput import TextInput
from kivy.uix.widget import Widget
from kivy.utils import platform

from mobile_app import qr, signin_code
from mobile_app.forms import (
    CHECK_ITEMS,
    ENTRY_TYPES,
    FORMS,
    FieldSpec,
    check,
    check_gps,
    defaults,
    refresh_choices,
    summary,
)
from mobile_app.outbox import EDITABLE, OutboxEntry, new_id
from mobile_app.photos import PhotoError, read_photo
from mobile_app.session import FieldSession, SignInError
from mobile_app.strings import EN, t
from mobile_app.style import (
    ERROR,
    FONT,
    GOOD,
    INK,
    MUTED,
    PAPER,
    ROW,
    TITLE,
    CheckToggle,
    StyledButton,
    choice,
    text_input,
)

SHOW_SAVED_S = 0.8
STATE_COLOURS = {"sent": GOOD, "rejected": ERROR, "conflict": ERROR}


def find(root: Widget, test_id: str) -> Any:
    """The widget under ``root`` with this test_id (None if there is none)."""
    for widget in root.walk(restrict=True):
        if getattr(widget, "test_id", None) == test_id:
            return widget
    return None


def _label(text: str = "", test_id: str = "", color: Any = INK, **kw: Any) -> Label:
    """A wrapping label as tall as its text (an empty one takes almost no room: error
    labels stay empty until there is something to say)."""
    kw.setdefault("font_size", FONT)
    label = Label(text=text, color=color, halign="left", valign="middle", **kw)
    label.size_hint_y = None

    def fit(*_: Any) -> None:
        label.height = max(ROW * 0.6, label.texture_size[1]) if label.text else dp(2)

    label.bind(width=lambda w, width: setattr(w, "text_size", (width, None)))
    label.bind(texture_size=fit, text=fit)
    fit()
    label.test_id = test_id
    return label


def _button(
    text: str, on_press: Callable[[], None], test_id: str, kind: str = "primary", **kw: Any
) -> Button:
    """A button of one of the three kinds (style.LOOKS): primary, secondary, destructive."""
    button = StyledButton(text=text, kind=kind, **kw)
    button.bind(on_release=lambda *_: on_press())
    button.test_id = test_id
    return button


def _input(test_id: str, text: str = "", **kw: Any) -> TextInput:
    field = text_input(
        text=text,
        size_hint_y=None,
        height=kw.pop("height", ROW),
        multiline=kw.pop("multiline", False),
        **kw,
    )
    field.test_id = test_id
    return field


def _column() -> tuple[ScrollView, GridLayout]:
    """A scrolling column: the same layout serves portrait and landscape. A one-column
    grid (not a box) so that rows start at the top when the screen is taller."""
    scroll = ScrollView(do_scroll_x=False)
    column = GridLayout(cols=1, size_hint_y=None, spacing=dp(8), padding=(dp(16), dp(12)))

    # At least as tall as the view, so that a short screen starts at the top.
    def fit(*_: Any) -> None:
        column.height = max(column.minimum_height, scroll.height)

    column.bind(minimum_height=fit)
    scroll.bind(height=fit)
    scroll.add_widget(column)
    return scroll, column


def made_at(recorded_at: str, now: datetime) -> str:
    """When an entry was made, in the tablet's local time zone, as a person reads it:
    "07 Dec 14:32", with the year when it is not ``now``'s. ``recorded_at`` is the
    outbox's ISO 8601 time (UTC); anything unreadable says so instead of failing."""
    try:
        moment = datetime.fromisoformat(recorded_at)
    except (TypeError, ValueError):
        return t("outbox.made_unknown")
    if moment.tzinfo is None:  # the outbox writes UTC; an older row may lack the offset
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(now.tzinfo)
    return local.strftime("%d %b %H:%M" if local.year == now.year else "%d %b %Y %H:%M")


def in_background(work: Callable[[], Any], done: Callable[[Any, Exception | None], None]) -> None:
    """Run network work off the UI thread; ``done(result, error)`` runs back on it."""

    def run() -> None:
        try:
            result, error = work(), None
        except Exception as exc:  # handed to the screen, which says what went wrong
            result, error = None, exc
        mainthread(done)(result, error)

    threading.Thread(target=run, daemon=True).start()


def camera_available() -> bool:
    """Whether this device has a camera Kivy can show (Android: its camera provider,
    once the permission is granted; a desktop: only with OpenCV or GStreamer)."""
    if platform == "android":
        return True
    try:
        from kivy.core.camera import Camera as CoreCamera
    except Exception:  # a provider that fails to load: no camera, not a crash
        return False
    return CoreCamera is not None


def _capped(field: TextInput, limit: int) -> TextInput:
    """Let at most ``limit`` characters into a field: a pasted megabyte is cut before
    Kivy lays it out (the check after it then says it is too long)."""

    def only_room(text: str, from_undo: bool) -> str:
        return text[: max(0, limit - len(field.text))]

    field.input_filter = only_room
    return field


class SignInScreen(Screen):
    """Sign in by the sign-in code (camera, a picture, or pasted) or by typing the
    server address and token; both end in the same ``FieldSession.sign_in``."""

    def __init__(self, app: FieldApp) -> None:
        super().__init__(name="signin")
        self.app = app
        self.busy = False
        scroll, column = _column()
        column.add_widget(_label(t("signin.title"), font_size=TITLE))
        self._code_part(column)
        column.add_widget(_label(t("signin.or_type")))
        column.add_widget(_label(t("signin.server")))
        known = app.session.credentials
        self.server = _input("signin.server", known.server if known else "")
        self.server.hint_text = t("signin.server_hint")
        column.add_widget(self.server)
        column.add_widget(_label(t("signin.token")))
        self.token = _input("signin.token", known.token if known else "", password=True)
        self.token.hint_text = t("signin.token_hint")
        column.add_widget(self.token)
        self.status = _label("", "signin.status", color=ERROR)
        column.add_widget(_button(t("signin.submit"), self.submit, "signin.submit"))
        column.add_widget(self.status)
        self.add_widget(scroll)

    def _code_part(self, column: GridLayout) -> None:
        column.add_widget(_label(t("signin.with_code")))
        if camera_available():
            column.add_widget(_button(t("signin.scan"), self.app.show_scan, "signin.scan"))
        else:
            # said on the button itself, which cannot be pressed
            camera = _button(t("signin.no_camera"), lambda: None, "signin.scan")
            camera.disabled = True
            column.add_widget(camera)
        column.add_widget(
            _button(t("signin.from_image"), self.choose_image, "signin.qr_image", "secondary")
        )
        column.add_widget(_label(t("signin.paste")))
        self.code = _capped(_input("signin.code"), signin_code.MAX_CODE + 1)
        self.code.hint_text = "mrv://sign-in?v=1&api=...&token=..."
        column.add_widget(self.code)
        self.code_status = _label("", "signin.code_status", color=ERROR)
        column.add_widget(self.code_status)
        column.add_widget(
            _button(t("signin.use_code"), self.use_pasted, "signin.use_code", "secondary")
        )

    def say(self, text: str, colour: Any = ERROR) -> None:
        """A message beside the sign-in code's field."""
        self.code_status.color = colour
        self.code_status.text = text

    def use_pasted(self) -> None:
        self.use_code(self.code.text)

    def use_code(self, text: str) -> bool:
        """Read a sign-in code; a good one fills the fields and signs in."""
        try:
            code = signin_code.decode(text)
        except signin_code.CodeError as exc:
            self.say(t("signin.code_bad", reason=str(exc)))
            return False
        self.server.text, self.token.text = code.api, code.token
        self.say(t("signin.code_read", server=code.api), INK)
        self.submit(self.code_status)
        return True

    def use_texts(self, texts: list[str]) -> None:
        """QR texts read from a picture or a frame: the first good one signs in."""
        if not texts:
            self.say(t("signin.no_qr"))
            return
        for text in texts:
            try:
                signin_code.decode(text)
            except signin_code.CodeError:
                continue
            self.use_code(text)
            return
        self.use_code(texts[0])  # none is good: say what is wrong with the first

    def choose_image(self) -> None:
        ImageChooser(self.read_image).open()

    def read_image(self, path: str) -> None:
        self.say(t("signin.reading"), INK)

        def done(texts: list[str] | None, error: Exception | None) -> None:
            if isinstance(error, qr.QrUnavailable):
                self.say(t("signin.qr_unavailable"))
            elif isinstance(error, qr.QrUnreadable):
                self.say(t("signin.image_bad", reason=str(error)))
            elif error is not None:
                self.say(t("signin.image_bad", reason=type(error).__name__))
            else:
                self.use_texts(texts or [])

        in_background(lambda: qr.read_image(Path(path)), done)

    def submit(self, status: Label | None = None) -> None:
        status = status or self.status
        if self.busy:
            return
        server, token = self.server.text.strip(), self.token.text.strip()
        if not server or not token:
            status.color = ERROR
            status.text = t("signin.need_both")
            return
        self.busy = True
        status.color = INK
        status.text = t("signin.checking")

        def done(online: bool | None, error: Exception | None) -> None:
            self.busy = False
            if error is not None:
                status.color = ERROR
                reason = str(error) if isinstance(error, SignInError) else repr(error)
                status.text = t("signin.failed", reason=reason)
                return
            status.text = "" if online else t("signin.offline")
            self.app.show_projects()

        in_background(lambda: self.app.session.sign_in(server, token), done)


class ImageChooser(Popup):
    """Pick a picture holding a sign-in code (a screenshot, a photo of a print-out)."""

    def __init__(self, chosen: Callable[[str], None]) -> None:
        self.chosen = chosen
        box = BoxLayout(orientation="vertical", spacing=dp(8))
        self.chooser = FileChooserListView(
            filters=["*.png", "*.jpg", "*.jpeg", "*.webp", "*.gif", "*.bmp"],
            path=str(Path.home()),
        )
        self.chooser.test_id = "qr.chooser"
        self.chooser.bind(on_submit=lambda *_: self.use())
        box.add_widget(self.chooser)
        buttons = BoxLayout(size_hint_y=None, height=ROW, spacing=dp(8))
        buttons.add_widget(_button(t("qr.use"), self.use, "qr.use"))
        buttons.add_widget(_button(t("qr.cancel"), self.dismiss, "qr.cancel", "secondary"))
        box.add_widget(buttons)
        super().__init__(title=t("signin.from_image"), content=box, size_hint=(0.95, 0.95))
        self.title_size = FONT

    def use(self) -> None:
        if not self.chooser.selection:
            return
        self.dismiss()
        self.chosen(self.chooser.selection[0])


class ScanScreen(Screen):
    """The camera's picture; each frame (every ``SCAN_EVERY_S``) is searched for a QR
    code off the UI thread until one is found or the person cancels."""

    SCAN_EVERY_S = 0.4

    def __init__(self, app: FieldApp) -> None:
        super().__init__(name="scan")
        self.app = app
        self.camera: Any = None
        self.reading = False
        self.event: Any = None
        box = BoxLayout(orientation="vertical", padding=dp(12), spacing=dp(8))
        self.view = BoxLayout()
        box.add_widget(self.view)
        self.status = _label(t("scan.looking"), "scan.status")
        box.add_widget(self.status)
        box.add_widget(_button(t("qr.cancel"), self.cancel, "scan.cancel", "secondary"))
        self.add_widget(box)

    def on_enter(self, *args: Any) -> None:
        try:
            if platform == "android":
                from android.permissions import Permission, request_permissions

                request_permissions([Permission.CAMERA])
            from kivy.uix.camera import Camera

            self.camera = Camera(play=True, resolution=(1280, 720))
        except Exception as exc:  # no camera, or the permission refused
            self.app.back_to_signin(t("signin.camera_failed", reason=type(exc).__name__))
            return
        self.view.add_widget(self.camera)
        self.event = Clock.schedule_interval(self._grab, self.SCAN_EVERY_S)

    def on_leave(self, *args: Any) -> None:
        if self.event is not None:
            self.event.cancel()
        if self.camera is not None:
            self.camera.play = False
            self.view.remove_widget(self.camera)
            self.camera = None

    def _grab(self, _dt: float) -> None:
        texture = getattr(self.camera, "texture", None)
        if self.reading or texture is None:
            return
        self.reading = True
        rgba, (width, height) = texture.pixels, texture.size

        def done(texts: list[str] | None, error: Exception | None) -> None:
            self.reading = False
            if isinstance(error, qr.QrUnavailable):
                self.app.back_to_signin(t("signin.qr_unavailable"))
            elif texts and self.manager and self.manager.current == "scan":
                self.app.show_signin()
                self.app.signin.use_texts(texts)

        in_background(lambda: qr.read_gray(qr.gray_of_rgba(rgba), width, height), done)

    def cancel(self) -> None:
        self.app.show_signin()


class ProjectScreen(Screen):
    def __init__(self, app: FieldApp) -> None:
        super().__init__(name="projects")
        self.app = app

    def _chooser(self, project: str, site: str) -> Callable[[], None]:
        return lambda: self.app.choose(project, site)

    def on_pre_enter(self, *args: Any) -> None:
        self.clear_widgets()
        scroll, column = _column()
        column.add_widget(_label(t("project.title"), font_size=TITLE))
        known = self.app.session.credentials
        if known is not None:
            who = t("project.signed_in", who=known.label or "?", server=known.server)
            column.add_widget(_label(who, "project.signed_in", color=MUTED))
        pairs = self.app.session.sites()
        if not pairs:
            column.add_widget(_label(t("project.none"), "project.none"))
        for project, site in pairs:
            where = t("project.site", site=site.get("name", site["id"]))
            button = _button(
                f"{project.get('name', project['id'])}\n{where}",
                self._chooser(project["id"], site["id"]),
                f"site:{project['id']}:{site['id']}",
            )
            button.height = ROW * 1.5
            button.halign = "center"
            column.add_widget(button)
        column.add_widget(
            _button(t("nav.sign_out"), self.app.sign_out, "nav.sign_out", kind="secondary")
        )
        self.add_widget(scroll)


class TypeScreen(Screen):
    def __init__(self, app: FieldApp) -> None:
        super().__init__(name="types")
        self.app = app

    def _starter(self, entry_type: str) -> Callable[[], None]:
        return lambda: self.app.new_entry(entry_type)

    def on_pre_enter(self, *args: Any) -> None:
        self.clear_widgets()
        scroll, column = _column()
        column.add_widget(_label(t("type.title"), font_size=TITLE))
        for entry_type in ENTRY_TYPES:
            column.add_widget(
                _button(
                    t(f"type.{entry_type}"),
                    self._starter(entry_type),
                    f"type:{entry_type}",
                )
            )
        pending = sum(n for state, n in self.app.session.outbox.counts().items() if state != "sent")
        column.add_widget(
            _button(t("nav.outbox", count=pending), self.app.show_outbox, "nav.outbox", "secondary")
        )
        column.add_widget(
            _button(t("nav.projects"), self.app.show_projects, "nav.projects", "secondary")
        )
        self.add_widget(scroll)


class FormScreen(Screen):
    """One entry's form: new, reopened (a draft or a rejected entry), or an edit of a sent
    entry (which asks for the reason)."""

    def __init__(self, app: FieldApp) -> None:
        super().__init__(name="form")
        self.app = app
        self.entry_type = ""
        self.entry_id = ""
        self.values: dict[str, str] = {}
        self.photos: list[str] = []
        self.editing: OutboxEntry | None = None
        self.inputs: dict[str, Any] = {}
        self.errors: dict[str, Label] = {}
        self.busy = False

    def open(
        self,
        entry_type: str,
        values: dict[str, str] | None = None,
        entry: OutboxEntry | None = None,
        editing: bool = False,
    ) -> None:
        ctx = self.app.session.context()
        self.entry_type = entry_type
        # The id is made when the form opens: however often "submit" is pressed, and
        # however often it is sent, it is one entry.
        self.entry_id = entry.id if entry else new_id()
        self.editing = entry if editing else None
        self.photos = list(entry.body.get("photos", [])) if entry else []
        start = values if values is not None else defaults(entry_type, ctx)
        self.values = refresh_choices(entry_type, ctx, start)
        self.gps = dict(entry.gps or {}) if entry else {}
        self.busy = False
        self.build()

    def build(self) -> None:
        ctx = self.app.session.context()
        self.clear_widgets()
        self.inputs, self.errors = {}, {}
        scroll, column = _column()
        title = t("form.edit_title") if self.editing else t(f"type.{self.entry_type}")
        column.add_widget(_label(title, font_size=TITLE))
        for spec in FORMS[self.entry_type]:
            column.add_widget(_label(spec.label))
            column.add_widget(self._input_for(spec, ctx))
            self.errors[spec.name] = _label("", f"error:{spec.name}", color=ERROR)
            column.add_widget(self.errors[spec.name])
        self._position(column)
        self._photo_row(column)
        if self.editing:
            column.add_widget(_label(t("field.reason")))
            self.reason = _input("field:reason")
            column.add_widget(self.reason)
            self.errors["reason"] = _label("", "error:reason", color=ERROR)
            column.add_widget(self.errors["reason"])
            column.add_widget(_button(t("form.edit_submit"), self.submit, "form.submit"))
        else:
            column.add_widget(_button(t("form.submit"), self.submit, "form.submit"))
            column.add_widget(
                _button(
                    t("form.save_draft"),
                    lambda: self.submit(draft=True),
                    "form.save_draft",
                    "secondary",
                )
            )
        self.status = _label("", "form.status")
        column.add_widget(self.status)
        column.add_widget(_button(t("nav.back"), self.app.show_types, "nav.back", "secondary"))
        self.add_widget(scroll)

    def _input_for(self, spec: FieldSpec, ctx: Any) -> Widget:
        value = self.values.get(spec.name, "")
        if spec.kind == "choice":
            options = spec.choices(ctx, self.values) if spec.choices else []
            labels = {label: v for v, label in options}
            if not spec.required:
                labels[t("choice.none")] = ""
            shown = next((label for label, v in labels.items() if v == value and v), "")
            spinner = choice(text=shown or t("choice.pick"), values=list(labels))
            spinner.test_id = f"field:{spec.name}"
            spinner.bind(text=lambda _, text, n=spec.name, m=labels: self._chose(n, m.get(text)))
            self.inputs[spec.name] = spinner
            return spinner
        if spec.kind == "checklist":
            box = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(4))
            box.height = len(CHECK_ITEMS) * (ROW + dp(4))
            ticked = set(value.split(",")) if value else set()
            for item in CHECK_ITEMS:
                toggle = CheckToggle(
                    t(f"check.{item}"), state="down" if item in ticked else "normal"
                )
                toggle.test_id = f"check:{item}"
                box.add_widget(toggle)
            self.inputs[spec.name] = box
            return box
        field = _input(
            f"field:{spec.name}",
            value,
            multiline=spec.kind == "multiline",
            height=ROW * 2 if spec.kind == "multiline" else ROW,
            input_filter="float" if spec.kind == "number" else None,
        )
        self.inputs[spec.name] = field
        return field

    def _chose(self, name: str, value: str | None) -> None:
        if value is None or self.values.get(name) == value:
            return
        self._collect()
        self.values[name] = value
        # A device decides its quantities, a quantity its units: offer what now fits.
        self.values = refresh_choices(self.entry_type, self.app.session.context(), self.values)
        Clock.schedule_once(lambda _: self.build())

    def _position(self, column: GridLayout) -> None:
        column.add_widget(_label(t("field.gps")))
        row = BoxLayout(size_hint_y=None, height=ROW, spacing=dp(8))
        for key in ("lat", "lon", "accuracy_m"):
            field = _input(f"gps:{key}", str(self.gps.get(key, "")), input_filter="float")
            field.hint_text = t(f"field.{key}")
            self.inputs[f"gps:{key}"] = field
            row.add_widget(field)
        column.add_widget(row)
        self.errors["gps"] = _label("", "error:gps", color=ERROR)
        column.add_widget(self.errors["gps"])
        column.add_widget(
            _button(t("form.gps_get"), self.get_gps, "form.gps_get", kind="secondary")
        )

    def get_gps(self) -> None:
        try:
            from plyer import gps  # Android and iOS; a desktop has none

            gps.configure(on_location=self._located)
            gps.start(minTime=1000, minDistance=0)
            self.errors["gps"].text = t("form.gps_waiting")
        except Exception:  # plyer raises NotImplementedError, ImportError ... on desktops
            self.errors["gps"].text = t("form.gps_unavailable")

    @mainthread
    def _located(self, **fix: Any) -> None:
        self.inputs["gps:lat"].text = f"{fix.get('lat', '')}"
        self.inputs["gps:lon"].text = f"{fix.get('lon', '')}"
        if fix.get("accuracy") is not None:
            self.inputs["gps:accuracy_m"].text = f"{fix['accuracy']}"
        self.errors["gps"].text = ""

    def _photo_row(self, column: GridLayout) -> None:
        self.photo_label = _label(t("field.photos", count=len(self.photos)), "form.photos")
        column.add_widget(self.photo_label)
        column.add_widget(
            _button(t("form.photo_add"), self.choose_photo, "form.photo_add", kind="secondary")
        )

    def choose_photo(self) -> None:
        if platform in ("android", "ios"):
            try:
                from plyer import camera

                target = self.app.session.home / f"photo-{new_id()}.jpg"
                camera.take_picture(
                    filename=str(target),
                    on_complete=mainthread(lambda path: self.attach_photo(path) if path else None),
                )
                return
            except Exception:  # no camera here: choose a file instead
                pass
        chooser = FileChooserListView(
            filters=["*.jpg", "*.jpeg", "*.png", "*.webp"], path=str(Path.home())
        )
        popup = Popup(title=t("form.photo_add"), content=chooser, size_hint=(0.95, 0.95))

        def chosen(_: Any, selection: list[str], *args: Any) -> None:
            popup.dismiss()
            if selection:
                self.attach_photo(selection[0])

        chooser.bind(on_submit=chosen)
        popup.open()

    def attach_photo(self, path: str) -> None:
        try:
            content, media_type = read_photo(Path(path))
        except PhotoError as exc:
            self.status.text = t("form.photo_refused", reason=str(exc))
            return
        assert self.app.session.project
        sha = self.app.session.outbox.add_photo(self.app.session.project, content, media_type)
        if sha not in self.photos:
            self.photos.append(sha)
        self.photo_label.text = t("field.photos", count=len(self.photos))
        self.status.text = t("form.photo_added", size=len(content) // 1024)

    def _collect(self) -> None:
        for spec in FORMS[self.entry_type]:
            widget = self.inputs.get(spec.name)
            if spec.kind == "checklist" and widget is not None:
                ticked = [w.test_id.split(":", 1)[1] for w in widget.children if w.state == "down"]
                self.values[spec.name] = ",".join(i for i in CHECK_ITEMS if i in ticked)
            elif isinstance(widget, TextInput):
                self.values[spec.name] = widget.text
        for key in ("lat", "lon", "accuracy_m"):
            self.gps[key] = self.inputs[f"gps:{key}"].text

    def submit(self, draft: bool = False) -> None:
        if self.busy:  # a second tap while the first is handled
            return
        self._collect()
        session = self.app.session
        body, errors = check(self.entry_type, session.context(), self.values)
        gps, gps_errors = check_gps(
            str(self.gps.get("lat", "")),
            str(self.gps.get("lon", "")),
            str(self.gps.get("accuracy_m", "")),
        )
        if gps_errors:
            errors["gps"] = " ".join(gps_errors.values())
        reason = self.reason.text.strip() if self.editing else ""
        if self.editing and not reason:
            errors["reason"] = t("error.reason")
        for name, label in self.errors.items():
            label.text = errors.get(name, "")
        if errors or body is None:
            self.status.color = ERROR
            self.status.text = t("form.fix")
            return
        if self.photos:
            body["photos"] = list(self.photos)
        self.busy = True
        find(self, "form.submit").disabled = True
        assert session.project
        if self.editing:
            session.outbox.edit(self.entry_id, body, reason)
        else:
            session.outbox.save(
                self.entry_id,
                session.project,
                self.entry_type,
                body,
                session.author,
                datetime.now(UTC).isoformat(),
                gps,
                submit=not draft,
            )
        self.status.color = GOOD
        self.status.text = t("form.saved") if draft else t("form.queued")
        session.syncer.wake()
        # Stay a moment on the form, its button disabled, so the person sees it was
        # taken (and a second tap lands on the disabled button, not on the next screen).
        Clock.schedule_once(lambda _: self.app.show_outbox(), SHOW_SAVED_S)


class OutboxScreen(Screen):
    def __init__(self, app: FieldApp) -> None:
        super().__init__(name="outbox")
        self.app = app

    def on_pre_enter(self, *args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        session = self.app.session
        self.clear_widgets()
        scroll, column = _column()
        column.add_widget(_label(t("outbox.title"), font_size=TITLE))
        status = session.syncer.status
        if status.paused_reason:
            text, colour = t("outbox.paused", reason=status.paused_reason), ERROR
        elif status.online is None:
            text, colour = t("outbox.unknown"), INK
        elif status.online:
            text, colour = t("outbox.online", sent=status.sent), GOOD
        else:
            text, colour = t("outbox.offline"), ERROR
        column.add_widget(_label(text, "outbox.status", color=colour))
        column.add_widget(
            _button(t("outbox.sync_now"), self.sync_now, "outbox.sync_now", kind="secondary")
        )
        entries = session.outbox.entries()
        if not entries:
            column.add_widget(_label(t("outbox.empty"), "outbox.empty"))
        for entry in entries:
            column.add_widget(self._row(entry))
        column.add_widget(_button(t("nav.new_entry"), self.app.show_types, "nav.new_entry"))
        self.add_widget(scroll)

    def _row(self, entry: OutboxEntry) -> Widget:
        row = BoxLayout(
            orientation="vertical", size_hint_y=None, spacing=dp(4), padding=(0, 0, 0, dp(12))
        )
        # as tall as what it holds: labels wrap, buttons come and go with the state
        row.bind(minimum_height=row.setter("height"))
        state = t(f"state.{entry.state}", reason=entry.reason)
        line = t(
            "outbox.row", type=t(f"type.{entry.type}"), summary=summary(entry.type, entry.body)
        )
        row.add_widget(_label(line, f"row:{entry.id}"))
        made = t("outbox.made", when=made_at(entry.recorded_at, datetime.now().astimezone()))
        row.add_widget(_label(made, f"made:{entry.id}", color=MUTED))
        row.add_widget(
            _label(state, f"state:{entry.id}", color=STATE_COLOURS.get(entry.state, INK))
        )
        if entry.state in EDITABLE and not entry.is_edit:
            row.add_widget(
                _button(
                    t("outbox.open"),
                    lambda: self.app.reopen(entry),
                    f"open:{entry.id}",
                    kind="secondary",
                )
            )
            if entry.state == "draft":
                row.add_widget(
                    _button(
                        t("outbox.discard"),
                        lambda: self.discard(entry),
                        f"discard:{entry.id}",
                        kind="destructive",
                    )
                )
        elif entry.revision is not None and entry.state != "sending":
            row.add_widget(
                _button(
                    t("outbox.edit"), lambda: self.app.edit(entry), f"edit:{entry.id}", "secondary"
                )
            )
        return row

    def discard(self, entry: OutboxEntry) -> None:
        self.app.session.outbox.discard(entry.id)
        self.refresh()

    def sync_now(self) -> None:
        self.app.session.syncer.wake(now=True)


class FieldApp(App):
    title = t("app.title")

    def __init__(self, home: Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # No home given (Android): the app's private storage, which other apps cannot read.
        self.session = FieldSession(home or Path(self.user_data_dir))

    def build(self) -> ScreenManager:
        Window.clearcolor = PAPER
        self.manager = ScreenManager(transition=NoTransition())
        self.signin = SignInScreen(self)
        self.form = FormScreen(self)
        self.scan = ScanScreen(self)
        self.outbox_screen = OutboxScreen(self)
        for screen in (
            self.signin,
            ProjectScreen(self),
            TypeScreen(self),
            self.form,
            self.outbox_screen,
            self.scan,
        ):
            self.manager.add_widget(screen)
        self.session.syncer.status.listeners.append(self._sync_changed)
        self.session.syncer.start()
        if self.session.credentials and self.session.sites():
            self.manager.current = "projects"
            # Fresh plans if the server is there; the cached ones otherwise.
            in_background(self.session.refresh, lambda *_: None)
        return self.manager

    def on_stop(self) -> None:
        self.session.close()

    @mainthread
    def _sync_changed(self) -> None:
        if self.manager.current == "outbox":
            self.outbox_screen.refresh()

    # --- navigation ------------------------------------------------------------------

    def show_projects(self) -> None:
        self.manager.current = "projects"

    def show_signin(self) -> None:
        self.manager.current = "signin"

    def show_scan(self) -> None:
        self.manager.current = "scan"

    def back_to_signin(self, message: str) -> None:
        self.show_signin()
        self.signin.say(message)

    def choose(self, project: str, site: str) -> None:
        self.session.project, self.session.site = project, site
        self.show_types()

    def show_types(self) -> None:
        self.manager.current = "types"

    def show_outbox(self) -> None:
        if self.manager.current == "outbox":
            self.outbox_screen.refresh()
        self.manager.current = "outbox"

    def new_entry(self, entry_type: str) -> None:
        self.form.open(entry_type)
        self.manager.current = "form"

    def _values_of(self, entry: OutboxEntry) -> dict[str, str]:
        values: dict[str, str] = {}
        for spec in FORMS[entry.type]:
            head, _, rest = spec.name.partition(".")
            raw = entry.body.get(head)
            if rest and isinstance(raw, dict):
                raw = raw.get(rest)
            if spec.kind == "checklist" and isinstance(raw, dict):
                labels = {EN[f"check.{item}"]: item for item in CHECK_ITEMS}
                raw = ",".join(labels[k] for k, ok in raw.items() if ok and k in labels)
            elif spec.kind == "datetime" and isinstance(raw, str):
                raw = datetime.fromisoformat(raw).astimezone().strftime("%Y-%m-%d %H:%M")
            values[spec.name] = "" if raw is None else str(raw)
        return values

    def _open_entry(self, entry: OutboxEntry, editing: bool) -> None:
        # The form offers the devices of one site: the entry's own (by its device).
        plan = self.session.plan(entry.project)
        device = next(
            (d for d in plan.get("devices", []) if d["id"] == entry.body.get("device")), None
        )
        sites = [s["id"] for s in plan.get("sites", [])]
        site = device["site"] if device else entry.body.get("site")
        if site not in sites:
            site = self.session.site if self.session.site in sites else sites[0]
        self.session.project, self.session.site = entry.project, site
        self.form.open(entry.type, self._values_of(entry), entry, editing=editing)
        self.manager.current = "form"

    def reopen(self, entry: OutboxEntry) -> None:
        self._open_entry(entry, editing=False)

    def edit(self, entry: OutboxEntry) -> None:
        self._open_entry(entry, editing=True)

    def sign_out(self) -> None:
        self.session.sign_out()
        self.manager.current = "signin"
