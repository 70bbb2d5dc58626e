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
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.filechooser import FileChooserListView
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
from kivy.uix.scrollview import ScrollView
from kivy.uix.spinner import Spinner
from kivy.uix.textinput import TextInput
from kivy.uix.togglebutton import ToggleButton
from kivy.uix.widget import Widget
from kivy.utils import platform

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

ROW = dp(64)
FONT = sp(20)
INK = (0.05, 0.05, 0.05, 1)
PAPER = (1, 1, 1, 1)
BUTTON = (0.0, 0.22, 0.5, 1)  # dark blue: white text on it is above 9:1 contrast
ERROR = (0.65, 0.0, 0.0, 1)
GOOD = (0.0, 0.4, 0.0, 1)
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


def _button(text: str, on_press: Callable[[], None], test_id: str, **kw: Any) -> Button:
    button = Button(
        text=text,
        font_size=FONT,
        size_hint_y=None,
        height=ROW,
        background_normal="",
        background_color=BUTTON,
        color=PAPER,
        **kw,
    )
    button.bind(on_release=lambda *_: on_press())
    button.test_id = test_id
    return button


def _input(test_id: str, text: str = "", **kw: Any) -> TextInput:
    field = TextInput(
        text=text,
        font_size=FONT,
        size_hint_y=None,
        height=kw.pop("height", ROW),
        multiline=kw.pop("multiline", False),
        write_tab=False,
        foreground_color=INK,
        background_color=(0.95, 0.95, 0.95, 1),
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


def in_background(work: Callable[[], Any], done: Callable[[Any, Exception | None], None]) -> None:
    """Run network work off the UI thread; ``done(result, error)`` runs back on it."""

    def run() -> None:
        try:
            result, error = work(), None
        except Exception as exc:  # handed to the screen, which says what went wrong
            result, error = None, exc
        mainthread(done)(result, error)

    threading.Thread(target=run, daemon=True).start()


class SignInScreen(Screen):
    def __init__(self, app: FieldApp) -> None:
        super().__init__(name="signin")
        self.app = app
        scroll, column = _column()
        column.add_widget(_label(t("signin.title"), font_size=FONT * 1.3))
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
        self.busy = False

    def submit(self) -> None:
        if self.busy:
            return
        server, token = self.server.text.strip(), self.token.text.strip()
        if not server or not token:
            self.status.text = t("signin.need_both")
            return
        self.busy = True
        self.status.color = INK
        self.status.text = t("signin.checking")

        def done(online: bool | None, error: Exception | None) -> None:
            self.busy = False
            if error is not None:
                self.status.color = ERROR
                reason = str(error) if isinstance(error, SignInError) else repr(error)
                self.status.text = t("signin.failed", reason=reason)
                return
            self.status.text = "" if online else t("signin.offline")
            self.app.show_projects()

        in_background(lambda: self.app.session.sign_in(server, token), done)


class ProjectScreen(Screen):
    def __init__(self, app: FieldApp) -> None:
        super().__init__(name="projects")
        self.app = app

    def _chooser(self, project: str, site: str) -> Callable[[], None]:
        return lambda: self.app.choose(project, site)

    def on_pre_enter(self, *args: Any) -> None:
        self.clear_widgets()
        scroll, column = _column()
        column.add_widget(_label(t("project.title"), font_size=FONT * 1.3))
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
        column.add_widget(_button(t("nav.sign_out"), self.app.sign_out, "nav.sign_out"))
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
        column.add_widget(_label(t("type.title"), font_size=FONT * 1.3))
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
            _button(t("nav.outbox", count=pending), self.app.show_outbox, "nav.outbox")
        )
        column.add_widget(_button(t("nav.projects"), self.app.show_projects, "nav.projects"))
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
        column.add_widget(_label(title, font_size=FONT * 1.3))
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
                _button(t("form.save_draft"), lambda: self.submit(draft=True), "form.save_draft")
            )
        self.status = _label("", "form.status")
        column.add_widget(self.status)
        column.add_widget(_button(t("nav.back"), self.app.show_types, "nav.back"))
        self.add_widget(scroll)

    def _input_for(self, spec: FieldSpec, ctx: Any) -> Widget:
        value = self.values.get(spec.name, "")
        if spec.kind == "choice":
            options = spec.choices(ctx, self.values) if spec.choices else []
            labels = {label: v for v, label in options}
            if not spec.required:
                labels[t("choice.none")] = ""
            shown = next((label for label, v in labels.items() if v == value and v), "")
            spinner = Spinner(
                text=shown or t("choice.pick"),
                values=list(labels),
                font_size=FONT,
                size_hint_y=None,
                height=ROW,
                background_normal="",
                background_color=(0.85, 0.88, 0.95, 1),
                color=INK,
            )
            spinner.test_id = f"field:{spec.name}"
            spinner.bind(text=lambda _, text, n=spec.name, m=labels: self._chose(n, m.get(text)))
            self.inputs[spec.name] = spinner
            return spinner
        if spec.kind == "checklist":
            box = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(4))
            box.height = len(CHECK_ITEMS) * (ROW + dp(4))
            ticked = set(value.split(",")) if value else set()
            for item in CHECK_ITEMS:
                toggle = ToggleButton(
                    text=t(f"check.{item}"),
                    state="down" if item in ticked else "normal",
                    font_size=FONT,
                    size_hint_y=None,
                    height=ROW,
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
        column.add_widget(_button(t("form.gps_get"), self.get_gps, "form.gps_get"))

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
        column.add_widget(_button(t("form.photo_add"), self.choose_photo, "form.photo_add"))

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
        column.add_widget(_label(t("outbox.title"), font_size=FONT * 1.3))
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
        column.add_widget(_button(t("outbox.sync_now"), self.sync_now, "outbox.sync_now"))
        entries = session.outbox.entries()
        if not entries:
            column.add_widget(_label(t("outbox.empty"), "outbox.empty"))
        for entry in entries:
            column.add_widget(self._row(entry))
        column.add_widget(_button(t("nav.new_entry"), self.app.show_types, "nav.new_entry"))
        self.add_widget(scroll)

    def _row(self, entry: OutboxEntry) -> Widget:
        row = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(4))
        state = t(f"state.{entry.state}", reason=entry.reason)
        line = t(
            "outbox.row", type=t(f"type.{entry.type}"), summary=summary(entry.type, entry.body)
        )
        row.add_widget(_label(line, f"row:{entry.id}"))
        row.add_widget(
            _label(state, f"state:{entry.id}", color=STATE_COLOURS.get(entry.state, INK))
        )
        height = ROW * 1.4
        if entry.state in EDITABLE and not entry.is_edit:
            row.add_widget(
                _button(t("outbox.open"), lambda: self.app.reopen(entry), f"open:{entry.id}")
            )
            height += ROW
            if entry.state == "draft":
                row.add_widget(
                    _button(t("outbox.discard"), lambda: self.discard(entry), f"discard:{entry.id}")
                )
                height += ROW
        elif entry.revision is not None and entry.state != "sending":
            row.add_widget(
                _button(t("outbox.edit"), lambda: self.app.edit(entry), f"edit:{entry.id}")
            )
            height += ROW
        row.height = height + dp(8)
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
        self.outbox_screen = OutboxScreen(self)
        for screen in (
            self.signin,
            ProjectScreen(self),
            TypeScreen(self),
            self.form,
            self.outbox_screen,
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
