"""Contrast and button audit of what the window really shows (tests and screenshots only;
not packaged for Android).

For every visible text widget (Label, Button, ToggleButton, Spinner, TextInput) the text
colour is the one the widget draws with (``color``, ``disabled_color`` when disabled,
a field's foreground or hint colour) and the background is read back from the rendered
frame (``glReadPixels``): the most frequent pixel colour inside the widget, an inset
away from its outline. Text covers far fewer pixels than its background, so that is
the colour the text is actually drawn on, whatever image, tint or parent painted it.
The WCAG 2.1 ratio of the two is checked against 4.5 (3 for large text).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from mobile_app.style import contrast_ratio, is_large, over

INSET = 5  # pixels kept away from a widget's edge: outlines and rounded corners
STRIDE = 2  # every second pixel each way: plenty for a mode, a quarter of the cost


@dataclass
class Finding:
    screen: str
    widget: str
    text: str
    fg: tuple[float, ...]
    bg: tuple[float, ...]
    ratio: float
    large: bool
    need: float

    @property
    def ok(self) -> bool:
        return self.ratio >= self.need

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class Frame:
    """The window's pixels as drawn (RGBA bytes, origin bottom left, as Kivy's)."""

    def __init__(self) -> None:
        from kivy.core.window import Window
        from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels

        self.width, self.height = (int(v) for v in Window.size)
        self.pixels = glReadPixels(0, 0, self.width, self.height, GL_RGBA, GL_UNSIGNED_BYTE)

    def at(self, x: int, y: int) -> tuple[int, int, int]:
        i = (y * self.width + x) * 4
        return self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]

    def mode(self, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
        """The most frequent colour in (x0, y0, x1, y1), as 0-1 floats."""
        x0, y0, x1, y1 = box
        counts: Counter[tuple[int, int, int]] = Counter()
        for y in range(y0, y1, STRIDE):
            for x in range(x0, x1, STRIDE):
                counts[self.at(x, y)] += 1
        (r, g, b), _ = counts.most_common(1)[0]
        return (r / 255, g / 255, b / 255, 1.0)


def window_box(widget: Any) -> tuple[int, int, int, int]:
    x0, y0 = widget.to_window(widget.x, widget.y)
    return int(x0), int(y0), int(x0 + widget.width), int(y0 + widget.height)


def visible_box(widget: Any, frame: Frame) -> tuple[int, int, int, int] | None:
    """The widget's box, inset, if it is wholly on screen (inside the window and every
    ScrollView around it); None otherwise."""
    from kivy.uix.scrollview import ScrollView

    if widget.get_root_window() is None or widget.opacity == 0 or widget.width < 4:
        return None
    x0, y0, x1, y1 = window_box(widget)
    clips = [(0, 0, frame.width, frame.height)]
    parent = widget.parent
    while parent is not None and parent is not parent.parent:
        if isinstance(parent, ScrollView):
            clips.append(window_box(parent))
        parent = parent.parent
    for cx0, cy0, cx1, cy1 in clips:
        if x0 < cx0 or y0 < cy0 or x1 > cx1 or y1 > cy1:
            return None
    inset = min(INSET, int(widget.width) // 4, int(widget.height) // 4)
    if x1 - x0 <= 2 * inset or y1 - y0 <= 2 * inset:
        return None
    return x0 + inset, y0 + inset, x1 - inset, y1 - inset


def text_colour(widget: Any) -> tuple[tuple[float, ...], str] | None:
    """(the colour its text is drawn in, the text) or None if it shows no text."""
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput

    if isinstance(widget, TextInput):
        if widget.text:
            colour = widget.disabled_foreground_color if widget.disabled else None
            return tuple(colour or widget.foreground_color), widget.text
        if widget.hint_text:
            return tuple(widget.hint_text_color), widget.hint_text
        return None
    if isinstance(widget, Label) and str(widget.text).strip():
        return tuple(widget.disabled_color if widget.disabled else widget.color), widget.text
    return None


def check(widget: Any, frame: Frame, screen: str) -> Finding | None:
    shown = text_colour(widget)
    box = visible_box(widget, frame) if shown else None
    if shown is None or box is None:
        return None
    colour, text = shown
    bg = frame.mode(box)
    fg = over(colour, bg)
    large = is_large(float(widget.font_size), bool(getattr(widget, "bold", False)))
    return Finding(
        screen=screen,
        widget=str(getattr(widget, "test_id", "") or type(widget).__name__),
        text=str(text)[:60],
        fg=tuple(round(c, 3) for c in fg),
        bg=tuple(round(c, 3) for c in bg),
        ratio=round(contrast_ratio(fg, bg), 2),
        large=large,
        need=3.0 if large else 4.5,
    )


def button_look(widget: Any, frame: Frame) -> dict[str, Any] | None:
    """A styled button's fill (mode inside) and edge (a pixel just inside its left edge,
    half way up) as drawn, with its kind; None if it is not wholly visible."""
    box = visible_box(widget, frame)
    if box is None or widget.disabled or widget.state != "normal":
        return None
    x0, y0, _, y1 = window_box(widget)
    edge = frame.at(x0 + 1, (y0 + y1) // 2)
    fill = frame.mode(box)
    return {
        "kind": widget.kind,
        "widget": str(getattr(widget, "test_id", "")),
        "fill": [round(c * 255) for c in fill[:3]],
        "edge": list(edge),
        "text": [round(float(c) * 255) for c in widget.color[:3]],
    }


def audit(roots: list[Any], frame: Frame, screen: str, seen: set[int]) -> list[Finding]:
    """Check every text widget under ``roots`` not checked before (``seen``: ids)."""
    found = []
    for root in roots:
        for widget in root.walk(restrict=True):
            if id(widget) in seen:
                continue
            finding = check(widget, frame, screen)
            if finding is not None:
                seen.add(id(widget))
                found.append(finding)
    return found
