"""A monitoring plan checked against its methodology: the methodology and its table
exist, every parameter the methodology needs is given, each with a monitoring option the
methodology allows and a unit that converts to the methodology's, and step-by-step
parameters are measured.

``validate_plan_text`` and ``load_plan_file`` are the core's, with this check added: what
``mrv plan validate``, ``mrv plan load``, the demo and the API's plan amendments use."""

from __future__ import annotations

from pathlib import Path

from core.plans import validate as plan_validate
from core.plans.schema import MonitoringPlan
from core.plans.validate import PlanCheck, PlanProblem
from core.units import UnitError, conversion
from verification.methodologies import registry
from verification.parameters import load_table

Problem = tuple[tuple[str | int, ...], str]


def methodology_problems(plan: MonitoringPlan) -> list[Problem]:
    method = plan.project.methodology
    where = ("project", "methodology")
    module = registry().get(method.id)
    if module is None:
        known = ", ".join(sorted(registry()))
        return [((*where, "id"), f"no methodology {method.id!r} (known: {known})")]
    try:
        table = load_table(method.id, method.version)
    except (FileNotFoundError, ValueError) as exc:
        return [((*where, "version"), str(exc))]
    problems: list[Problem] = []
    given = {p.symbol for p in plan.parameters}
    for symbol, sym in module.SYMBOLS.items():
        if sym.required and symbol not in given and symbol not in table.parameters:
            problems.append(
                (("parameters",), f"{method.id} needs {symbol} ({sym.description}, {sym.unit})")
            )
    for i, param in enumerate(plan.parameters):
        found = module.SYMBOLS.get(param.symbol)
        if found is None:
            continue  # monitored for the operator, not used in the calculation
        sym = found
        if param.option not in sym.options:
            problems.append(
                (
                    ("parameters", i, "option"),
                    f"{method.id} allows option {' or '.join(sym.options)} for "
                    f"{param.symbol}, not {param.option}",
                )
            )
        if sym.aggregate == "share":
            continue  # evidence: its unit only has to match its threshold's dimension
        if not any(_converts(param.unit, unit) for unit in (sym.unit, *sym.alt_units)):
            accepted = " or ".join((sym.unit, *sym.alt_units))
            problems.append(
                (
                    ("parameters", i, "unit"),
                    f"{param.unit!r} does not convert to {accepted}, the unit {method.id} "
                    f"uses for {param.symbol}",
                )
            )
    return problems


def _converts(unit: str, target: str) -> bool:
    if unit == target:
        return True
    try:
        conversion(unit, target)
    except UnitError:
        return False
    return True


#: What a plan must pass beyond its schema before anything may load it.
PLAN_CHECKS: tuple[PlanCheck, ...] = (methodology_problems,)


def validate_plan_text(text: str) -> tuple[MonitoringPlan | None, list[PlanProblem]]:
    """The plan in ``text`` and every problem in it, its methodology's included."""
    return plan_validate.validate_plan_text(text, PLAN_CHECKS)


def load_plan_file(path: str | Path) -> MonitoringPlan:
    """Read and validate a plan file, its methodology's checks included; raise
    ``PlanError`` listing every problem."""
    return plan_validate.load_plan_file(path, PLAN_CHECKS)
