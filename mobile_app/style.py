"""The app's look, defined once: colours, sizes and the widgets every screen uses.

Every text colour here meets WCAG 2.1 AA against the background it is drawn on (4.5:1
for normal text, 3:1 for large text: 18 pt, or 14 pt bold), computed with
``contrast_ratio`` (the WCAG formula) and checked on the rendered screens by
``tests/app/test_field_site.py`` (pixels read back from the window). Field outlines and
the secondary button's outline reach 3:1 too (WCAG 1.4.11, non-text contrast).

Three kinds of button, told apart by more than colour (fill, outline, red):

- ``primary``: filled dark blue, white text; the screen's main action.
- ``secondary``: white with a dark-blue outline and dark-blue text; the other actions.
- ``destructive``: filled red, white text; deletes something (a draft).

A pressed button darkens (primary, destructive) or tints (secondary) and stays above
4.5:1; a disabled one is grey with dark grey text (7:1), readable but plainly inactive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kivy.metrics import dp, sp
from kivy.properties import OptionProperty
from kivy.uix.button import Button
from kivy.uix.spinner import Spinner, SpinnerOption
from kivy.uix.textinput import TextInput
from kivy.uix.togglebutton import ToggleButton

Colour = tuple[float, float, float, float]

ROW = dp(64)  # touch targets (dp): above the 48 dp guideline, for gloved fingers
FONT = sp(20)  # body text (sp)
TITLE = FONT * 1.3

INK: Colour = (0.05, 0.05, 0.05, 1)  # body text on PAPER: 19:1
PAPER: Colour = (1, 1, 1, 1)
MUTED: Colour = (0.33, 0.33, 0.33, 1)  # secondary text (times) on PAPER: 7.5:1
BLUE: Colour = (0.0, 0.22, 0.5, 1)  # PAPER on it: 11:1
BLUE_DOWN: Colour = (0.0, 0.15, 0.36, 1)
BLUE_TINT: Colour = (0.86, 0.9, 0.97, 1)  # BLUE on it: 8.9:1
RED: Colour = (0.7, 0.07, 0.07, 1)  # PAPER on it: 7.0:1
RED_DOWN: Colour = (0.5, 0.03, 0.03, 1)
ERROR: Colour = (0.65, 0.0, 0.0, 1)  # on PAPER: 8.0:1; on FIELD: 7.3:1
GOOD: Colour = (0.0, 0.4, 0.0, 1)  # on PAPER: 7.2:1
FIELD: Colour = (0.96, 0.96, 0.96, 1)  # text inputs' fill
FIELD_LINE: Colour = (0.45, 0.45, 0.45, 1)  # their outline on PAPER: 4.8:1
HINT: Colour = (0.36, 0.36, 0.36, 1)  # placeholder text on FIELD: 6.1:1
GREY: Colour = (0.85, 0.85, 0.85, 1)  # a disabled button's fill
GREY_INK: Colour = (0.25, 0.25, 0.25, 1)  # its text: 7.4:1
CHOICE: Colour = (0.85, 0.88, 0.95, 1)  # a spinner's fill; INK on it: 14.8:1
#: A font with the ballot-box glyphs (Kivy ships it; Roboto has none).
SYMBOL_FONT = "DejaVuSans"


def _channel(value: float) -> float:
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def luminance(colour: tuple[float, ...]) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour (channels 0-1)."""
    r, g, b = (_channel(float(c)) for c in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """WCAG 2.1 contrast ratio of two opaque colours, 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def over(colour: tuple[float, ...], background: tuple[float, ...]) -> Colour:
    """``colour`` (with its alpha) drawn over an opaque background."""
    alpha = float(colour[3]) if len(colour) > 3 else 1.0
    r, g, b = (
        alpha * float(c) + (1 - alpha) * float(k)
        for c, k in zip(colour[:3], background[:3], strict=True)
    )
    return (r, g, b, 1.0)


def is_large(font_size_px: float, bold: bool) -> bool:
    """WCAG's large text: at least 18 pt, or 14 pt bold (1 pt = 4/3 px at 96 dpi)."""
    points = font_size_px * 0.75
    return points >= 18 or (bold and points >= 14)


@dataclass(frozen=True)
class Look:
    fill: Colour
    text: Colour
    pressed: Colour
    line: Colour | None  # an outline, drawn inside the button's edge


LOOKS: dict[str, Look] = {
    "primary": Look(BLUE, PAPER, BLUE_DOWN, None),
    "secondary": Look(PAPER, BLUE, BLUE_TINT, BLUE),
    "destructive": Look(RED, PAPER, RED_DOWN, None),
}
LINE_W = dp(2)


class StyledButton(Button):
    """A button of one of the three kinds (``kind``), drawn as LOOKS says."""

    kind = OptionProperty("primary", options=list(LOOKS))

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("font_size", FONT)
        kwargs.setdefault("size_hint_y", None)
        kwargs.setdefault("height", ROW)
        super().__init__(
            background_normal="",
            background_down="",
            background_disabled_normal="",
            background_disabled_down="",
            disabled_color=GREY_INK,
            **kwargs,
        )
        from kivy.graphics import Color, Line

        with self.canvas.after:
            self._line_colour = Color(0, 0, 0, 0)
            self._line = Line(width=LINE_W)
        self.bind(pos=self._paint, size=self._paint, state=self._paint, kind=self._paint)
        self.bind(disabled=self._paint)
        self._paint()

    def _paint(self, *_: Any) -> None:
        look = LOOKS[self.kind]
        if self.disabled:
            self.background_color = GREY
        else:
            self.background_color = look.pressed if self.state == "down" else look.fill
        self.color = look.text
        line = look.line if look.line and not self.disabled else (0, 0, 0, 0)
        self._line_colour.rgba = line
        inset = LINE_W
        self._line.rectangle = (
            self.x + inset,
            self.y + inset,
            max(0, self.width - 2 * inset),
            max(0, self.height - 2 * inset),
        )


class CheckToggle(ToggleButton):
    """A checklist item: a box that is ticked (filled blue, a ticked box glyph) or not
    (white, outlined, an empty box): told apart by shape as well as colour."""

    def __init__(self, label: str, **kwargs: Any) -> None:
        self.label = label
        super().__init__(
            font_size=FONT,
            font_name=SYMBOL_FONT,
            size_hint_y=None,
            height=ROW,
            halign="left",
            valign="middle",
            padding=(dp(16), 0),
            background_normal="",
            background_down="",
            **kwargs,
        )
        from kivy.graphics import Color, Line

        with self.canvas.after:
            self._line_colour = Color(*FIELD_LINE)
            self._line = Line(width=dp(1.5))
        self.bind(pos=self._paint, size=self._paint, state=self._paint)
        self._paint()

    def _paint(self, *_: Any) -> None:
        ticked = self.state == "down"
        self.text = ("\u2611  " if ticked else "\u2610  ") + self.label
        self.background_color = BLUE if ticked else PAPER
        self.color = PAPER if ticked else INK
        self.text_size = (max(0, self.width - dp(32)), None)
        self._line_colour.rgba = BLUE if ticked else FIELD_LINE
        self._line.rectangle = (self.x + 1, self.y + 1, self.width - 2, self.height - 2)


class ChoiceOption(SpinnerOption):
    """An option in a spinner's list: dark text on white, an outline between options."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.background_normal = ""
        self.background_down = ""
        self.background_color = PAPER
        self.color = INK
        self.font_size = FONT
        self.height = ROW
        from kivy.graphics import Color, Line

        with self.canvas.after:
            Color(*FIELD_LINE)
            self._line = Line(width=1)
        self.bind(pos=self._edge, size=self._edge)

    def _edge(self, *_: Any) -> None:
        self._line.points = [self.x, self.y, self.right, self.y]


def choice(**kwargs: Any) -> Spinner:
    """A drop-down choice: INK on a light blue fill; its options are ChoiceOption."""
    return Spinner(
        font_size=FONT,
        size_hint_y=None,
        height=ROW,
        background_normal="",
        background_down="",
        background_color=CHOICE,
        color=INK,
        option_cls=ChoiceOption,
        **kwargs,
    )


def text_input(**kwargs: Any) -> TextInput:
    """A text field: INK on a light grey fill with a grey outline (3:1 and more)."""
    field = TextInput(
        font_size=FONT,
        write_tab=False,
        foreground_color=INK,
        background_normal="",
        background_active="",
        background_disabled_normal="",
        background_color=FIELD,
        hint_text_color=HINT,
        cursor_color=INK,
        **kwargs,
    )
    from kivy.graphics import Color, Line

    with field.canvas.after:
        colour = Color(*FIELD_LINE)
        line = Line(width=dp(1.5))

    def edge(*_: Any) -> None:
        colour.rgba = BLUE if field.focus else FIELD_LINE
        line.rectangle = (field.x + 1, field.y + 1, field.width - 2, field.height - 2)

    field.bind(pos=edge, size=edge, focus=edge)
    edge()
    return field
