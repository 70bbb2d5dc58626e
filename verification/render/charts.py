"""Charts of monitored series for the PDF and HTML reports (matplotlib, Agg canvas).

One chart per :class:`~verification.render.ChartSeries`: the values against time (UTC)
over the monitoring period, the report's data gaps at that monitoring point shaded red
and its corrections shaded orange and labelled with their ids, with a legend.

Figures are built with :class:`matplotlib.figure.Figure` on an Agg canvas, never through
pyplot, so no display backend is loaded and no global figure registry grows. Long series
are reduced to a min/max envelope per drawing bucket (see :func:`downsample`) so that a
year of minute data draws in well under a second and looks the same as the full series.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.style
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.textpath import TextToPath
from matplotlib.transforms import offset_copy

from verification.render import ChartSeries
from verification.render.text import fmt_num, parse_utc
from verification.report_model import Correction, Gap, Report

#: Drawing buckets across the chart's width: about one per device pixel of a 10 in chart
#: at 200 dpi. Each bucket draws at most two points (its minimum and maximum).
DRAW_BUCKETS = 2000

#: A step in time longer than this many typical sampling intervals breaks the line: a
#: chart never joins two readings across missing data.
BREAK_FACTOR = 1.5

_TEXT_TO_PATH = TextToPath()

GAP_COLOR = "#d62728"
CORRECTION_COLOR = "#ff7f0e"
LINE_COLOR = "#1f4e79"

#: Width a chart's title leaves for the y axis' label and tick labels, in points.
TITLE_MARGIN_PT = 130.0

#: Correction ids listed in a chart's caption (all of them are in the tables).
CAPTION_IDS = 6

#: Corrections labelled with their id on a chart; beyond this the labels would overlap
#: into noise (every correction is still shaded and listed in the tables).
MAX_LABELS = 30

# matplotlib.dates carries no annotations: typed names for the parts used here, so that a
# call through them is checked (mypy strict refuses untyped calls).
_date2num: Callable[[npt.NDArray[np.datetime64] | np.datetime64], npt.NDArray[np.float64]]
_date2num = mdates.date2num
_AutoDateLocator: Callable[[], mdates.AutoDateLocator] = mdates.AutoDateLocator
_ConciseDateFormatter: Callable[[mdates.AutoDateLocator], mdates.ConciseDateFormatter]
_ConciseDateFormatter = mdates.ConciseDateFormatter

# rcParams are process-global: the lock keeps two threads (e.g. two API requests) from
# rendering with each other's settings.
_LOCK = threading.Lock()


@contextmanager
def mpl_context(hashsalt: str) -> Iterator[None]:
    """Matplotlib settings for a deterministic render, held under a process-wide lock.

    ``svg.hashsalt`` fixes the ids matplotlib derives for SVG elements (random otherwise);
    ``text.parse_math`` off keeps a ``$`` in a project name from being read as TeX; dates
    are drawn in UTC, the report's time zone.
    """
    with (
        _LOCK,
        # Start from matplotlib's defaults so that a user's matplotlibrc or style cannot
        # change the bytes, then apply ours.
        mpl.style.context("default"),
        mpl.rc_context(
            {
                "svg.hashsalt": hashsalt,
                "svg.fonttype": "path",
                "text.parse_math": False,
                "timezone": "UTC",
                "font.family": "DejaVu Sans",
                "font.size": 9,
                "axes.titlesize": 10,
                "legend.fontsize": 8,
            }
        ),
    ):
        yield


def downsample(
    times_ms: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    buckets: int = DRAW_BUCKETS,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The points to draw for a series: at most about ``4 × buckets`` of them.

    Non-finite values are dropped (they are missing data). Where consecutive readings
    are further apart than ``BREAK_FACTOR`` typical intervals a NaN is inserted, which
    breaks the drawn line, so that a gap is never bridged by a straight line. A series
    longer than ``2 × buckets`` is cut into equal time buckets (split at those breaks)
    and each bucket contributes its minimum and maximum, in time order: the drawn
    envelope is the same as the full series' at that resolution.
    """
    finite = np.isfinite(values)
    t = np.asarray(times_ms, dtype=np.int64)[finite]
    v = np.asarray(values, dtype=np.float64)[finite]
    if t.size and np.any(t[1:] < t[:-1]):
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
    if t.size < 2:
        return t, v
    steps = np.diff(t)
    positive = steps[steps > 0]
    typical = float(np.median(positive)) if positive.size else 0.0
    threshold = BREAK_FACTOR * typical

    if t.size <= 2 * buckets:
        breaks = np.flatnonzero(steps > threshold) + 1
        return (
            np.insert(t, breaks, t[breaks - 1]),
            np.insert(v, breaks, np.nan),
        )

    span = int(t[-1] - t[0]) + 1
    # A break narrower than a bucket would not show; ignoring it also bounds the number
    # of groups (and so of drawn points) by about 2 × buckets.
    threshold = max(threshold, span / buckets)
    segment = np.concatenate(([0], np.cumsum(steps > threshold)))
    bucket = (t - t[0]) * buckets // span
    # (segment, bucket) as one non-decreasing key: equal keys are contiguous.
    key = segment * buckets + bucket
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    ends = np.concatenate((starts[1:], [t.size]))
    # Sorting by (key, value) puts each group's minimum first and maximum last, at the
    # same positions the group has in time order.
    by_value = np.lexsort((v, key))
    i_min, i_max = by_value[starts], by_value[ends - 1]
    first, second = np.minimum(i_min, i_max), np.maximum(i_min, i_max)
    out_t = np.column_stack((t[first], t[second])).ravel()
    out_v = np.column_stack((v[first], v[second])).ravel()
    seg_of_group = segment[starts]
    before = np.flatnonzero(seg_of_group[1:] != seg_of_group[:-1])  # groups before a break
    at = (before + 1) * 2
    # The NaN sits at the last reading before the break.
    return np.insert(out_t, at, t[ends[before] - 1]), np.insert(out_v, at, np.nan)


def series_gaps(report: Report, series: ChartSeries) -> list[Gap]:
    """The report's gaps at the series' monitoring point.

    Matched on the monitoring point alone (the engine passes one series per point): a gap
    recorded under another spelling of the symbol is still shown rather than lost.
    """
    return [g for g in report.gaps if g.monitoring_point == series.monitoring_point]


def series_corrections(report: Report, series: ChartSeries) -> list[Correction]:
    """The report's corrections at the series' monitoring point, and those of its
    parameter that name no point (they apply to every point)."""
    return [
        c
        for c in report.corrections
        if c.monitoring_point == series.monitoring_point
        or (c.monitoring_point is None and c.symbol == series.symbol)
    ]


def ordered_series(report: Report, series: Mapping[str, ChartSeries]) -> list[ChartSeries]:
    """The series in a fixed order, whatever order the mapping was built in: first in the
    order their (point, symbol) appears in the parameter table, then by mapping key."""
    position: dict[tuple[str | None, str], int] = {}
    for i, row in enumerate(report.parameters):
        position.setdefault((row.monitoring_point, row.symbol), i)
    last = len(report.parameters)

    def key(item: tuple[str, ChartSeries]) -> tuple[int, str]:
        name, s = item
        return (position.get((s.monitoring_point, s.symbol), last), name)

    return [s for _, s in sorted(series.items(), key=key)]


def _date(text: str) -> float:
    return float(_date2num(np.datetime64(parse_utc(text), "ms")))


def _spans(ax: Axes, spans: list[tuple[float, float]], color: str, alpha: float) -> None:
    """Shade x-ranges over the full height as one collection.

    The edge line gives every span a visible width: a one-minute gap in a year is a
    fraction of a pixel wide but must still show.
    """
    verts = [[(x0, 0.0), (x0, 1.0), (x1, 1.0), (x1, 0.0)] for x0, x1 in spans]
    ax.add_collection(
        PolyCollection(
            verts,
            transform=ax.get_xaxis_transform(),  # x in data (dates), y in axes fraction
            facecolors=to_rgba(color, alpha),
            edgecolors=to_rgba(color, min(1.0, alpha * 3)),
            linewidths=0.8,
            # over the data (translucent): a day's bar must not hide a gap or a reset
            zorder=3,
        ),
        autolim=False,
    )


def _description(report: Report, series: ChartSeries) -> str:
    for row in report.parameters:
        if row.monitoring_point == series.monitoring_point and row.symbol == series.symbol:
            return row.description
    return ""


def chart_caption(report: Report, series: ChartSeries) -> str:
    """One line saying what the chart shades: counts and hours of gaps, corrections."""
    gaps = series_gaps(report, series)
    corrections = series_corrections(report, series)
    hours = sum(g.hours for g in gaps)
    gap_text = (
        f"{len(gaps)} data gap{'s' if len(gaps) != 1 else ''} ({fmt_num(hours, 2)} h), shaded red"
        if gaps
        else "no data gaps"
    )
    ids = ", ".join(c.id for c in corrections[:CAPTION_IDS])
    if len(corrections) > CAPTION_IDS:
        ids += f" and {len(corrections) - CAPTION_IDS} more"
    corr_text = (
        f"{len(corrections)} correction{'s' if len(corrections) != 1 else ''}"
        f" ({ids}), shaded orange on their own interval"
        if corrections
        else "no corrections"
    )
    return f"{gap_text}; {corr_text}"


def fit_line(text: str, width_pt: float, fontsize: float) -> str:
    """``text`` cut with an ellipsis to fit ``width_pt`` on one line (a chart's title
    must neither wrap nor run off the page; the tables carry the full text)."""

    def width(line: str) -> float:
        prop = FontProperties(family="DejaVu Sans", size=fontsize)
        w, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(line, prop, ismath=False)
        return float(w)

    if width(text) <= width_pt:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if width(text[:mid] + "…") <= width_pt else (lo, mid - 1)
    return text[:lo].rstrip() + "…"


def _plot(ax: Axes, report: Report, series: ChartSeries) -> Line2D | Patch:
    """The series over the monitoring period on a UTC time axis: a bar per day for daily
    amounts (none on a day without data), else the samples' line (broken at gaps);
    returns the legend handle."""
    handle: Line2D | Patch
    if series.daily:
        t, v = series.times_ms, series.values
        label = f"{series.symbol} per day [{series.unit}]"
        x = _date2num(t.astype("datetime64[ms]")) if t.size else np.empty(0)
        known = np.isfinite(v)
        # on its own day, from the day's start, with a sliver between days: a day without
        # data is an empty slot
        ax.bar(
            x[known] + 0.05,
            v[known],
            width=0.9,
            align="edge",
            color=LINE_COLOR,
            alpha=0.8,
            zorder=2,
        )
        handle = Patch(color=LINE_COLOR, alpha=0.8, label=label)
    else:
        t, v = downsample(series.times_ms, series.values)
        label = f"{series.symbol} [{series.unit}]"
        # Plain date numbers plus xaxis_date(): the chart's x units are explicit, and
        # spans, limits and the line all share them.
        x = _date2num(t.astype("datetime64[ms]")) if t.size else np.empty(0)
        ax.plot(x, v, color=LINE_COLOR, linewidth=0.6, zorder=2)
        handle = Line2D([], [], color=LINE_COLOR, label=label)
    ax.xaxis_date()
    ax.set_xlim(_date(report.period.start_utc), _date(report.period.end_utc))
    locator = _AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(_ConciseDateFormatter(locator))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(label)
    ax.grid(True, linewidth=0.4, alpha=0.4)
    if not np.isfinite(v).any():
        ax.text(0.5, 0.5, "no readings", transform=ax.transAxes, ha="center", color="grey")
    return handle


def _shade_gaps(ax: Axes, gaps: list[Gap]) -> Patch:
    """Shade the gaps red; returns their legend handle."""
    _spans(ax, [(_date(g.start), _date(g.end)) for g in gaps], GAP_COLOR, 0.25)
    hours = fmt_num(sum(g.hours for g in gaps), 2)
    return Patch(color=GAP_COLOR, alpha=0.35, label=f"data gap ({len(gaps)}, {hours} h)")


#: The register events a register correction comes from (models.Event.kind).
REGISTER_EVENTS = frozenset({"reset", "rollover"})


def correction_spans(
    report: Report, series: ChartSeries, correction: Correction
) -> list[tuple[str, str]]:
    """Where a correction acts on the chart, as (start, end) instants: its own interval,
    except a register correction, which the engine states over the whole period but
    which comes from the meter's resets and rollovers: those instants, when the report's
    events name them for the point's device (else the stated interval)."""
    if correction.kind == "register":
        devices = {
            row.device
            for row in report.parameters
            if row.monitoring_point == series.monitoring_point and row.device
        }
        start, end = parse_utc(correction.start), parse_utc(correction.end)
        at = [
            e.time
            for e in report.events
            if e.kind in REGISTER_EVENTS
            and e.device in devices
            and start <= parse_utc(e.time) <= end
        ]
        if at:
            return [(t, t) for t in at]
    return [(correction.start, correction.end)]


def _shade_corrections(ax: Axes, report: Report, series: ChartSeries) -> Patch:
    """Shade each correction orange on its own interval (:func:`correction_spans`) and
    label the first MAX_LABELS with their ids; returns their legend handle."""
    corrections = series_corrections(report, series)
    pairs = [
        (c, (_date(a), _date(b)))
        for c in corrections
        for a, b in correction_spans(report, series, c)
    ]
    _spans(ax, [span for _, span in pairs], CORRECTION_COLOR, 0.18)
    handle = Patch(color=CORRECTION_COLOR, alpha=0.3, label=f"correction ({len(corrections)})")
    for c, (x0, x1) in pairs[:MAX_LABELS]:
        ax.text(
            (x0 + x1) / 2,
            0.97,
            c.id,
            transform=ax.get_xaxis_transform(),
            rotation=90,
            ha="center",
            va="top",
            fontsize=7,
            color="#a04000",
            clip_on=True,
            zorder=3,
        )
    return handle


def _legend(fig: Figure, ax: Axes, handles: list[Line2D | Patch]) -> None:
    """The legend under the time axis, outside the axes (a legend inside would hide
    data), at a fixed distance in points so that it clears the tick labels whatever the
    chart's height; constrained layout makes room for it."""
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=offset_copy(ax.transAxes, fig=fig, y=-30, units="points"),
        ncols=len(handles),
        frameon=False,
    )


def chart_figure(
    report: Report,
    series: ChartSeries,
    figsize: tuple[float, float] = (10.0, 3.6),
    title_prefix: str = "",
    rect: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0),
) -> Figure:
    """The chart of one series over the monitoring period, with its gaps (red) and
    corrections (orange) shaded and a legend, laid out within ``rect`` (figure fraction:
    left, bottom, width, height). Call inside :func:`mpl_context`."""
    fig = Figure(figsize=figsize, layout=ConstrainedLayoutEngine(rect=rect))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    handles: list[Line2D | Patch] = [_plot(ax, report, series)]
    gaps = series_gaps(report, series)
    if gaps:
        handles.append(_shade_gaps(ax, gaps))
    corrections = series_corrections(report, series)
    if corrections:
        handles.append(_shade_corrections(ax, report, series))
    _legend(fig, ax, handles)

    description = _description(report, series)
    title = f"{title_prefix}{series.monitoring_point}: {series.symbol}"
    if description:
        title += f" ({description})"
    # the title starts at the axes' left edge: the figure's width less the room the y
    # label and tick labels take (generous: tick labels of seven-figure values)
    room = figsize[0] * 72 * rect[2] - TITLE_MARGIN_PT
    size = float(mpl.rcParams["axes.titlesize"])
    lines = (fit_line(t, room, size) for t in (title, chart_caption(report, series)))
    ax.set_title("\n".join(lines), loc="left")
    return fig
