"""The verification engine: from a project's inputs over one period to its report.

Pure: ``build_report`` takes everything it needs as data (``ReportInputs``, loaded by
``verification.inputs``) and does no I/O, so a report can be recomputed from the raw
data alone. The steps:

1. resolve each parameter the methodology uses (``verification.resolve``): option A from
   the plan or the methodology's table, option B from field entries, option C from the
   monitored series, with gaps found, substituted by the plan's rule set and calibration
   lapses corrected, each recorded with its rule;
2. run the methodology's ``calculate``;
3. price every correction in tCO2 by recomputing without it;
4. round as the methodology says and split the credits by the plan's allocation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from core.times import format_ms
from verification import __version__
from verification.inputs import ReportInputs
from verification.methodologies import methodology
from verification.model import Calculation, Progress, Resolved, Values
from verification.parameters import ParameterTable, load_table
from verification.report_model import (
    Allocation,
    CalcRow,
    EventRow,
    Finding,
    MethodologyInfo,
    PeriodInfo,
    ProjectInfo,
    Reductions,
    Report,
)
from verification.resolve import resolve_all
from verification.rounding import round_tco2


def build_report(inputs: ReportInputs, progress: Progress | None = None) -> Report:
    plan = inputs.plan
    meth = methodology(plan.project.methodology.id)
    table = load_table(plan.project.methodology.id, plan.project.methodology.version)
    resolution = resolve_all(inputs, meth.SYMBOLS, table, progress=progress)
    values = resolution.values
    calc = meth.calculate(values, table)
    if progress:
        progress("pricing corrections", 0.8)
    corrections = [
        a.correction.model_copy(
            update={"effect_tco2": _effect(meth.calculate, values, table, calc, a.symbol, a.undo)}
        )
        for a in resolution.corrections
    ]
    er = calc.reductions_tco2
    if not math.isfinite(er):
        raise ValueError(
            f"the emission reductions are not a number ({er}); the calculation steps: "
            + "; ".join(f"{s.label} = {s.value}" for s in calc.steps)
        )
    rounded = round_tco2(er, table.rounding)
    findings = list(dict.fromkeys(resolution.findings))  # each once, in order
    creditable = _period_findings(inputs, findings)
    return Report(
        project=ProjectInfo(
            id=plan.project.id,
            name=plan.project.name,
            host_country=plan.project.host_country,
            plan_version=plan.plan_version,
            plan_sha256=inputs.plan_sha256,
        ),
        methodology=MethodologyInfo(
            id=table.methodology,
            version=table.version,
            title=table.title,
            table_sha256=inputs.table_sha256,
            gap_rules=plan.project.gap_rules,
        ),
        period=PeriodInfo(
            start=inputs.start,
            end=inputs.end,
            start_utc=format_ms(inputs.start_ms),
            end_utc=format_ms(inputs.end_ms),
            number=inputs.period_number,
        ),
        parameters=resolution.rows,
        reference_emissions_tco2=calc.reference_tco2,
        project_emissions_tco2=calc.project_tco2,
        emission_reductions_tco2=Reductions(
            value=rounded, unrounded=er, rounding=table.rounding, creditable=creditable
        ),
        credit_allocation=_allocation(inputs, rounded) if creditable else None,
        calculation=[
            CalcRow(
                label=s.label,
                formula=s.formula,
                value=s.value if math.isfinite(s.value) else None,
                unit=s.unit,
            )
            for s in calc.steps
        ],
        gaps=resolution.gaps,
        corrections=corrections,
        cross_checks=resolution.cross_checks,
        findings=findings,
        events=[
            EventRow(
                time=format_ms(e.time_ms),
                device=e.device,
                quantity=e.quantity,
                kind=e.kind,
                detail=e.detail,
            )
            for e in inputs.events
        ],
        software=f"jcm-mrv verification {__version__}",
        inputs_sha256=inputs.sha256(),
    )


def _effect(
    calculate: Callable[..., Calculation],
    values: Values,
    table: ParameterTable,
    calc: Calculation,
    symbol: str,
    undo: Callable[[Resolved], Resolved],
) -> float:
    """ER with every correction minus ER without this one (tCO2, unrounded)."""
    without = dict(values)
    without[symbol] = undo(values[symbol])
    try:
        other = calculate(without, table)
    except ValueError:
        return math.nan
    return calc.reductions_tco2 - other.reductions_tco2


def _period_findings(inputs: ReportInputs, findings: list[Finding]) -> bool:
    """Say where the period stands against the crediting period and the monitoring
    periods; whether its reductions can be credited."""
    crediting = inputs.plan.project.crediting_period
    if inputs.start < crediting.start or inputs.end > crediting.end:
        findings.append(
            Finding(
                severity="error",
                symbol="ER",
                monitoring_point=None,
                message=f"the period {inputs.start}..{inputs.end} is not inside the crediting "
                f"period {crediting.start}..{crediting.end}: its reductions cannot be credited",
            )
        )
        return False
    if inputs.period_number is None:
        findings.append(
            Finding(
                severity="info",
                symbol="ER",
                monitoring_point=None,
                message="the period is not one of the project's defined monitoring periods "
                "(mrv periods list)",
            )
        )
    return True


def _allocation(inputs: ReportInputs, issued: float) -> Allocation | None:
    """Split the issued whole tonnes by the plan's shares (largest remainder; a tie goes
    to the partner country, which hosts the project)."""
    shares = inputs.plan.project.credit_allocation
    if shares is None:
        return None
    total = max(int(issued), 0)
    japan_exact = total * shares.japan
    partner_exact = total * shares.partner_country
    japan, partner = math.floor(japan_exact), math.floor(partner_exact)
    if japan + partner < total:
        if japan_exact - japan > partner_exact - partner:
            japan += 1
        else:
            partner += 1
    return Allocation(
        partner_country=partner,
        japan=japan,
        partner_country_share=shares.partner_country,
        japan_share=shares.japan,
        rule="whole tCO2 split by the plan's shares, largest remainder "
        "(a tie to the partner country)",
    )
