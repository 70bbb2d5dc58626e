"""The verification engine: from a project's inputs over one period to its report.

Pure: ``build_report`` takes everything it needs as data (``ReportInputs``, loaded by
``verification.loading``, with the versioned parameter table and gap rules in its
``Rulebook``) and does no I/O, so a report can be recomputed from the raw data alone.
The steps:

1. resolve each parameter the methodology uses (``verification.resolve``): option A from
   the plan or the methodology's table, option B from field entries, option C from the
   monitored series, with gaps found, substituted by the plan's rule set and calibration
   lapses corrected, each recorded with its rule;
2. run the methodology's ``calculate``;
3. price every correction in tCO2 by recomputing without it;
4. round as the methodology says and split the credits by the plan's allocation;
5. list what each monitoring point's figure is computed from (``resolve.step_inputs``)
   and the findings with their tonnes and evidence (``verification.findings``).
"""

from __future__ import annotations

import math

from core.times import format_ms
from verification import __version__
from verification.findings import EntrySources, build_findings, calibration_lapses
from verification.inputs import ReportInputs
from verification.methodologies import Calculate, methodology
from verification.model import Calculation, Progress, Values
from verification.parameters import ParameterTable
from verification.report_model import (
    Allocation,
    CalcRow,
    Correction,
    EventRow,
    Message,
    MethodologyInfo,
    PeriodInfo,
    ProjectInfo,
    Reductions,
    Report,
)
from verification.resolve import Applied, resolve_all
from verification.resolve.step_inputs import parameter_inputs, point_inputs
from verification.rounding import round_tco2


def build_report(inputs: ReportInputs, progress: Progress | None = None) -> Report:
    """The monitoring report of ``inputs``' period: resolve, calculate, price, round."""
    meth = methodology(inputs.plan.project.methodology.id)
    table = inputs.rules.table
    resolution = resolve_all(inputs, meth.SYMBOLS, progress=progress)
    calc = meth.calculate(resolution.values, table)
    if progress:
        progress("pricing corrections", 0.8)
    er = _finite_reductions(calc)
    rounded = round_tco2(er, table.rounding)
    creditable, period_messages = _period_messages(inputs)
    corrections = [
        _priced(a, meth.calculate, resolution.values, table, calc) for a in resolution.corrections
    ]
    points = point_inputs(inputs, meth.SYMBOLS)
    findings, headline = build_findings(
        corrections,
        resolution.gaps,
        points,
        inputs.quarantine,
        er,
        inputs.plan.project.materiality_pct,
        EntrySources(
            cited={a.correction.id: a.entries for a in resolution.corrections if a.entries},
            flagged=resolution.flagged,
            unusable=inputs.unusable,
            entries=inputs.entries,
        ),
        calibration_lapses(inputs),
    )
    return Report(
        project=_project_info(inputs),
        methodology=_methodology_info(inputs, table),
        period=_period_info(inputs),
        parameters=list(resolution.rows),
        reference_emissions_tco2=calc.reference_tco2,
        project_emissions_tco2=calc.project_tco2,
        emission_reductions_tco2=Reductions(
            value=rounded, unrounded=er, rounding=table.rounding, creditable=creditable
        ),
        credit_allocation=_allocation(inputs, rounded) if creditable else None,
        calculation=_calculation_rows(calc),
        gaps=list(resolution.gaps),
        corrections=corrections,
        cross_checks=list(resolution.cross_checks),
        findings=findings,
        findings_headline=headline,
        # each once, in order
        messages=list(dict.fromkeys(resolution.messages)) + period_messages,
        point_inputs=points,
        parameter_inputs=parameter_inputs(inputs),
        events=_event_rows(inputs),
        software=f"jcm-mrv verification {__version__}",
        inputs_sha256=inputs.sha256(),
    )


def _finite_reductions(calc: Calculation) -> float:
    """ER_p, unrounded (tCO2); a calculation that is not a number is an error that names
    its steps."""
    er = calc.reductions_tco2
    if not math.isfinite(er):
        raise ValueError(
            f"the emission reductions are not a number ({er}); the calculation steps: "
            + "; ".join(f"{s.label} = {s.value}" for s in calc.steps)
        )
    return er


def _project_info(inputs: ReportInputs) -> ProjectInfo:
    project = inputs.plan.project
    return ProjectInfo(
        id=project.id,
        name=project.name,
        host_country=project.host_country,
        plan_version=inputs.plan.plan_version,
        plan_sha256=inputs.plan_sha256,
    )


def _methodology_info(inputs: ReportInputs, table: ParameterTable) -> MethodologyInfo:
    return MethodologyInfo(
        id=table.methodology,
        version=table.version,
        title=table.title,
        table_sha256=inputs.table_sha256,
        gap_rules=inputs.plan.project.gap_rules,
    )


def _period_info(inputs: ReportInputs) -> PeriodInfo:
    return PeriodInfo(
        start=inputs.start,
        end=inputs.end,
        start_utc=format_ms(inputs.start_ms),
        end_utc=format_ms(inputs.end_ms),
        number=inputs.period_number,
    )


def _calculation_rows(calc: Calculation) -> list[CalcRow]:
    """The calculation sheet (a value that is not a number is shown as none)."""
    return [
        CalcRow(
            label=s.label,
            formula=s.formula,
            value=s.value if math.isfinite(s.value) else None,
            unit=s.unit,
        )
        for s in calc.steps
    ]


def _event_rows(inputs: ReportInputs) -> list[EventRow]:
    return [
        EventRow(
            time=format_ms(e.time_ms),
            device=e.device,
            quantity=e.quantity,
            kind=e.kind,
            detail=e.detail,
        )
        for e in inputs.events
    ]


def _priced(
    applied: Applied,
    calculate: Calculate,
    values: Values,
    table: ParameterTable,
    calc: Calculation,
) -> Correction:
    """The correction with its effect: ER with every correction minus ER without this
    one (tCO2, unrounded; NaN when the calculation fails without it)."""
    without = dict(values)
    without[applied.symbol] = applied.undo(values[applied.symbol])
    try:
        other = calculate(without, table)
    except ValueError:
        effect = math.nan
    else:
        effect = calc.reductions_tco2 - other.reductions_tco2
    return applied.correction.model_copy(update={"effect_tco2": effect})


def _period_messages(inputs: ReportInputs) -> tuple[bool, list[Message]]:
    """Where the period stands against the crediting period and the monitoring periods:
    whether its reductions can be credited, and what the report says about it."""
    crediting = inputs.plan.project.crediting_period
    if inputs.start < crediting.start or inputs.end > crediting.end:
        outside = Message(
            severity="error",
            symbol="ER",
            monitoring_point=None,
            message=f"the period {inputs.start}..{inputs.end} is not inside the crediting "
            f"period {crediting.start}..{crediting.end}: its reductions cannot be credited",
        )
        return False, [outside]
    if inputs.period_number is None:
        undefined = Message(
            severity="info",
            symbol="ER",
            monitoring_point=None,
            message="the period is not one of the project's defined monitoring periods "
            "(mrv periods list)",
        )
        return True, [undefined]
    return True, []


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
