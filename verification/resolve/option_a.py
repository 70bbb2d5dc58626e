"""Option A: public data measured by others, fixed ex ante: the plan's value, or the
methodology table's default when the plan is silent."""

from __future__ import annotations

import math

from core.units import conversion
from verification.model import PointValue, Resolved, Symbol
from verification.parameters import ParameterTable
from verification.report_model import ParameterRow
from verification.resolve.context import Context
from verification.resolve.record import Notes, Outcome, Part


def from_table(symbol: str, sym: Symbol, table: ParameterTable) -> Outcome:
    """A parameter the plan does not list, from the methodology's table (its unit)."""
    entry = table.parameters[symbol]
    source = f"methodology table {table.methodology} {table.version}: {entry.source}"
    row = ParameterRow(
        symbol=symbol,
        description=sym.description,
        monitoring_point=None,
        device=None,
        value=entry.value,
        unit=entry.unit,
        option="A",
        source=source,
        method=f"default value ({entry.status})",
        frequency="fixed ex ante",
        completeness=1.0,
        readings=0,
        calibration="n/a",
        corrections=[],
    )
    resolved = Resolved(
        symbol, entry.unit, "A", source, "default", [PointValue(None, None, entry.value)]
    )
    return Outcome(resolved, (Part(row, Notes()),))


def option_a(ctx: Context) -> Outcome:
    """The plan's fixed value in the methodology's unit; a warning when the
    methodology's table says otherwise (the plan's is used)."""
    p = ctx.param
    assert p.value is not None and p.source
    value = p.value if p.unit == ctx.unit else conversion(p.unit, ctx.unit)(p.value)
    notes = Notes()
    entry = ctx.table.parameters.get(p.symbol)
    if entry is not None and not math.isclose(entry.value, value, rel_tol=1e-9):
        differs = ctx.message(
            "warning",
            f"the plan's {p.symbol} = {value:g} {ctx.unit} differs from the methodology "
            f"table's {entry.value:g} ({entry.source}); the plan's is used",
        )
        notes = Notes(messages=(differs,))
    row = ctx.row(
        None,
        value,
        source=p.source,
        method="fixed ex ante (option A)",
        completeness=1.0,
        readings=0,
        calibration="n/a",
    )
    resolved = Resolved(p.symbol, ctx.unit, "A", p.source, "fixed", [PointValue(None, None, value)])
    return Outcome(resolved, (Part(row, notes),))
