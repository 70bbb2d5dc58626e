"""Each parameter a methodology uses, resolved over a period with its data quality.

Small pure functions over an immutable ``Context`` (one parameter over the period); each
step returns its value and the ``Notes`` it records (messages, gaps, corrections,
cross-checks), and the caller adds them up. One module per concept:

- ``option_a``: fixed ex ante, from the plan or the methodology's table;
- ``option_b``: from field entries (invoices, manual reads, weighbridge tickets);
- ``option_c``: from the monitored series, by ``amounts`` (totals, per-step amounts,
  with the ``registers`` rules disclosed), ``means`` (means and shares of time), gaps
  found by ``series_gaps`` and substituted by ``substitution``;
- quality: ``calibrate`` (calibration lapses and errors), ``plausibility`` (unit slips),
  ``cross_check`` (meter against invoices);
- ``record``: the values steps return, numbered and collected by ``assemble``.

Every correction carries an ``undo`` so the engine can price it in tCO2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from core.plans.schema import Parameter
from verification.inputs import ReportInputs
from verification.model import Grid, Progress, Symbol
from verification.report_model import Message
from verification.resolve.context import Context
from verification.resolve.option_a import from_table, option_a
from verification.resolve.option_b import option_b
from verification.resolve.option_c import option_c
from verification.resolve.record import Applied, Outcome, Resolution, assemble

__all__ = ["Applied", "Resolution", "resolve_all"]


def resolve_all(
    inputs: ReportInputs, symbols: Mapping[str, Symbol], progress: Progress | None = None
) -> Resolution:
    """Every symbol of the methodology, in its order: from the plan, else from the
    methodology's table; a symbol the plan lacks and the table has no default for is an
    error when the methodology requires it."""
    plan = inputs.plan
    table = inputs.rules.table
    by_symbol = {p.symbol: p for p in plan.parameters}
    grid = None
    if table.time_step_s is not None:
        grid = Grid.over(inputs.start_ms, inputs.end_ms, table.time_step_s * 1000)
    outcomes: dict[str, Outcome] = {}
    for i, (symbol, sym) in enumerate(symbols.items()):
        if progress:
            # resolving is most of a report's work (loading is before, pricing after)
            progress(f"resolving {symbol}", 0.1 + 0.7 * i / len(symbols))
        outcome = _resolve_symbol(inputs, grid, symbol, sym, by_symbol)
        if outcome is not None:
            outcomes[symbol] = outcome
    unused = [
        Message(
            severity="info",
            symbol=param.symbol,
            monitoring_point=None,
            message=f"{param.symbol} is in the plan but not used by {plan.project.methodology.id}",
        )
        for param in plan.parameters
        if param.symbol not in symbols
    ]
    return assemble(outcomes, unused)


def _resolve_symbol(
    inputs: ReportInputs,
    grid: Grid | None,
    symbol: str,
    sym: Symbol,
    by_symbol: Mapping[str, Parameter],
) -> Outcome | None:
    """One symbol: the plan's parameter, the table's default, or nothing (a symbol
    only relevant with another the plan lacks, or an optional one)."""
    param = by_symbol.get(symbol)
    table = inputs.rules.table
    if param is None:
        if sym.only_with is not None and sym.only_with not in by_symbol:
            return None
        if symbol in table.parameters:
            return from_table(symbol, sym, table)
        if sym.required:
            raise ValueError(
                f"{inputs.plan.project.methodology.id} needs {symbol} ({sym.description}); "
                "the plan and the methodology table have none"
            )
        return None
    if param.option not in sym.options:
        raise ValueError(
            f"{symbol}: the methodology allows option {' or '.join(sym.options)}, "
            f"the plan says {param.option}"
        )
    return resolve_parameter(Context.of(inputs, grid, param, sym))


def resolve_parameter(ctx: Context) -> Outcome:
    """One plan parameter by its monitoring option."""
    if ctx.param.option == "C":
        return option_c(ctx)
    outcome = option_a(ctx) if ctx.param.option == "A" else option_b(ctx)
    if ctx.sym.aggregate != "steps" or ctx.grid is None:
        return outcome
    # a fixed or invoiced value (a lab analysis of the methane fraction) holds at every step
    n = ctx.grid.edges_ms.size - 1
    points = [replace(p, steps=np.full(n, p.value)) for p in outcome.resolved.points]
    return replace(outcome, resolved=replace(outcome.resolved, points=points))
