"""Option B: parameter values from field entries (invoices prorated to the period,
manual register reads, weighbridge tickets)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np

from core import quantities
from core.plans.schema import MonitoringPoint
from core.times import day_start_ms
from core.units import conversion
from persistence.stores.timeseries import SeriesArrays
from verification import aggregation as agg
from verification.inputs import Invoice, ManualRead, Ticket
from verification.model import PointValue, Resolved
from verification.quality import Quality
from verification.report_model import Finding
from verification.resolve_base import iso, undo_point
from verification.series_parts import PointSeries, amount_factor


class OptionB(Quality):
    """Option B resolution (and, through ``Quality``, the data-quality rules)."""

    def _option_b(self) -> Resolved:
        p = self.param
        if p.entry_type == "fuel_invoice":
            return self._from_invoices()
        if p.entry_type == "meter_reading":
            return self._from_manual_reads()
        if p.entry_type == "weighbridge_ticket":
            return self._from_tickets()
        raise ValueError(f"{p.symbol}: option B from {p.entry_type} entries is not a value")

    def _invoices(self) -> list[Invoice]:
        """This parameter's invoices in the period, one per invoice number (the last
        recorded)."""
        p = self.param
        start, end = self.inputs.start, self.inputs.end
        latest: dict[str, Invoice] = {}
        for inv in sorted(self.inputs.invoices, key=lambda i: (i.recorded_ms, i.id)):
            if inv.parameter == p.symbol and not (inv.end < start or inv.start > end):
                if inv.number in latest:
                    self._finding(
                        "warning",
                        f"invoice {inv.number} was entered more than once; the last one "
                        "recorded is used",
                    )
                latest[inv.number] = inv
        return sorted(latest.values(), key=lambda i: (i.start, i.number))

    def _finding(self, severity: str, message: str) -> None:
        self.out.findings.append(
            Finding(
                severity=severity,  # type: ignore[arg-type]
                symbol=self.param.symbol,
                monitoring_point=None,
                message=message,
            )
        )

    def _from_invoices(self) -> Resolved:
        p = self.param
        start, end = self.inputs.start, self.inputs.end
        invoices = self._invoices()
        used = [inv.number for inv in invoices]
        applied: list[str] = []
        # Day by day: each invoice's amount spread evenly over its days; a day two
        # invoices both cover (a corrected invoice beside the original, bills sharing a
        # read day) counts once, at the lower rate for reference emissions, the higher
        # for project emissions.
        daily: dict[date, list[tuple[float, str]]] = {}
        prorated: list[float] = []
        for inv in invoices:
            days = (inv.end - inv.start).days + 1
            rate = conversion(inv.unit, self.unit)(inv.value) / days
            lo, hi = max(inv.start, start), min(inv.end, end)
            overlap = (hi - lo).days + 1
            for k in range(overlap):
                daily.setdefault(lo + timedelta(days=k), []).append((rate, inv.number))
            share = rate * overlap
            prorated.append(share)
            if overlap < days:
                delta = share - rate * days
                applied.append(
                    self._correction(
                        "apportionment",
                        None,
                        day_start_ms(lo),
                        day_start_ms(hi + timedelta(days=1)),
                        "prorated_by_days",
                        f"invoice {inv.number} covers {inv.start} to {inv.end}: "
                        f"{overlap} of its {days} days are in the period",
                        delta,
                        undo_point(0, delta, None),
                    )
                )
        pick = min if self.effect == "raises_reference" else max
        shares = [pick(rates)[0] for _, rates in sorted(daily.items())]
        twice = sorted(d for d, rates in daily.items() if len(rates) > 1)
        if twice:
            numbers = sorted({n for d in twice for _, n in daily[d]})
            delta = math.fsum(shares) - math.fsum(prorated)
            side = "lower" if self.effect == "raises_reference" else "higher"
            message = (
                f"invoices {', '.join(numbers)} both cover {len(twice)} day(s) from "
                f"{twice[0]} to {twice[-1]}: each such day counts once, at the {side} rate"
            )
            self._finding("warning", message)
            applied.append(
                self._correction(
                    "apportionment",
                    None,
                    day_start_ms(twice[0]),
                    day_start_ms(twice[-1] + timedelta(days=1)),
                    "overlapping_days_counted_once",
                    message,
                    delta,
                    undo_point(0, delta, None),
                )
            )
        covered = set(daily)
        total = math.fsum(shares)
        period_days = (end - start).days + 1
        completeness = len(covered) / period_days
        if completeness < 1:
            self.out.findings.append(
                Finding(
                    severity="warning",
                    symbol=p.symbol,
                    monitoring_point=None,
                    message=f"invoices cover {len(covered)} of the period's {period_days} days; "
                    "the uncovered days count zero",
                )
            )
        source = "invoices " + ", ".join(used) if used else "no invoices in the period"
        total = self._plausible(None, total, applied)
        self._row(
            None,
            total,
            source=source,
            method="Σ invoiced amounts, prorated by days to the period (option B)",
            completeness=completeness,
            readings=len(used),
            calibration="n/a (commercial records)",
            corrections=applied,
        )
        self._cross_check_invoices()
        return Resolved(
            p.symbol, self.unit, "B", source, "invoices", [PointValue(None, None, total)]
        )

    def _from_manual_reads(self) -> Resolved:
        p = self.param
        points = self._points()
        if not points:
            raise ValueError(
                f"{p.symbol}: option B meter reads need the monitoring points they read"
            )
        values: list[PointValue] = []
        for point in points:
            reads = sorted(
                (
                    r
                    for r in self.inputs.reads
                    if (r.device, r.quantity) == (point.device, point.quantity)
                ),
                key=lambda r: r.time_ms,
            )
            device = self._device(point.device)
            reads = self._one_read_per_time(point, reads)
            t = np.array([r.time_ms for r in reads], dtype=float)
            v = np.array([r.value for r in reads], dtype=float)
            detail = agg.cumulative_total(t, v, self.start_ms, self.end_ms, device.register_max)
            spec = quantities.CATALOGUE[point.quantity]
            factor = amount_factor(spec, spec.default_kind, self.unit)
            # a meter read by hand is still a meter: mistyped reads are set aside like a
            # logger's glitches, and its calibration and rating apply
            part = PointSeries.of(
                SeriesArrays(t.astype(np.int64), v, np.full(t.size, np.nan)),
                spec.default_kind,
                device,
                self.start_ms,
                self.end_ms,
                set_aside_glitches=self.effect == "raises_reference",
            )
            rule: agg.BoundaryRule = "interpolate"
            value = part.amount(self.start_ms, self.end_ms, math.inf, None, rule)[0] * factor
            if part.glitch_times.size:
                self._finding(
                    "warning",
                    f"{point.device}: {part.glitch_times.size} manual read(s) out of line with "
                    "the reads around them (mistyped?) set aside",
                )
            cids, value, _ = self._calibrate(len(values), point, part, value, None, factor, None)
            value = self._plausible(point, value, cids, index=len(values))
            notes = []
            if not (detail.start_covered and detail.end_covered):
                notes.append("no read on both sides of the period: only the span read counts")
            if detail.start_interpolated or detail.end_interpolated:
                notes.append("boundary values interpolated between the two nearest reads")
            self._row(
                point,
                value,
                source=f"manual reads of {point.device} ({len(reads)})",
                method="difference of manual register reads (option B)"
                + ("; " + "; ".join(notes) if notes else ""),
                completeness=1.0 if detail.start_covered and detail.end_covered else 0.0,
                readings=detail.readings,
                calibration=self._calibration_text(device),
                corrections=cids,
            )
            values.append(PointValue(point.id, point.device, value, readings=detail.readings))
        return Resolved(p.symbol, self.unit, "B", "manual meter reads", "reads", values)

    def _one_read_per_time(
        self, point: MonitoringPoint, reads: list[ManualRead]
    ) -> list[ManualRead]:
        """Two reads of one meter at the same time with different values (one mistyped,
        then entered again): the conservative one counts, and the clash is an error."""
        by_time: dict[int, list[ManualRead]] = {}
        for r in reads:
            by_time.setdefault(r.time_ms, []).append(r)
        kept: list[ManualRead] = []
        for time_ms, group in sorted(by_time.items()):
            values = sorted({r.value for r in group})
            if len(values) > 1:
                self._finding(
                    "error",
                    f"{point.device}: {len(group)} manual reads at {iso(time_ms)} disagree "
                    f"({', '.join(f'{x:g}' for x in values)}); the "
                    + ("lower" if self.effect == "raises_reference" else "higher")
                    + " counts until one is withdrawn",
                )
            pick = min if self.effect == "raises_reference" else max
            kept.append(pick(sorted(group, key=lambda r: r.id), key=lambda r: r.value))
        return kept

    def _from_tickets(self) -> Resolved:
        p = self.param
        tickets = [t for t in self.inputs.tickets if self.start_ms <= t.time_ms < self.end_ms]
        by_number: dict[str, Ticket] = {}
        for t in sorted(tickets, key=lambda t: (t.time_ms, t.id)):
            if t.number in by_number:
                self._finding(
                    "warning", f"weighbridge ticket {t.number} entered twice: once counted"
                )
            by_number.setdefault(t.number, t)
        tickets = sorted(by_number.values(), key=lambda t: (t.time_ms, t.id))
        total = math.fsum(conversion(t.unit, self.unit)(t.value) for t in tickets)
        source = "weighbridge tickets " + ", ".join(t.number for t in tickets)
        self._row(
            None,
            total,
            source=source,
            method="Σ net masses on weighbridge tickets (option B)",
            completeness=1.0,
            readings=len(tickets),
            calibration="weighbridge certificate (see entries)",
            corrections=[],
        )
        return Resolved(
            p.symbol, self.unit, "B", source, "tickets", [PointValue(None, None, total)]
        )
