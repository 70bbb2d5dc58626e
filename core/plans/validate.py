"""Validate a monitoring plan file and explain every problem with its place in the file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from core import quantities
from core.errors import field_path, message_of
from core.plans.schema import Device, MonitoringPlan, Parameter
from core.signing import parse_public
from core.units import ReferenceConditions, UnitError, conversion, parse_unit

Path_ = tuple[str | int, ...]

#: A check of a coherent plan by a layer that knows more than its schema (verification
#: checks the methodology): every problem as (path in the plan, message).
PlanCheck = Callable[[MonitoringPlan], Sequence[tuple[Path_, str]]]


@dataclass(frozen=True)
class PlanProblem:
    """One problem in a plan: where (dotted path, line, column) and what."""

    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def located(self, file: object) -> str:
        """Compiler style, ``file:line:column: path: message``, for editors to jump to."""
        where = f"{file}:{self.line}:{self.column}" if self.line else str(file)
        return f"{where}: {self.path or '(plan)'}: {self.message}"

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line else ""
        return f"{where}{self.path or '(plan)'}: {self.message}"


#: Makes the problem at a path in the plan (with its line and column in the file).
ProblemAt = Callable[[Path_, str], "PlanProblem"]


class PlanError(ValueError):
    def __init__(self, problems: list[PlanProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _positions(node: yaml.Node, path: Path_, out: dict[Path_, tuple[int, int]]) -> None:
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value
            out[(*path, name)] = (key.start_mark.line + 1, key.start_mark.column + 1)
            _positions(value, (*path, name), out)
            # keep the key's own position for "extra key" errors
            out[(*path, name, "__key__")] = (key.start_mark.line + 1, key.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _positions(item, (*path, index), out)


def _locate(positions: dict[Path_, tuple[int, int]], path: Path_) -> tuple[int | None, int | None]:
    probe = path
    while probe:
        if probe in positions:
            return positions[probe]
        probe = probe[:-1]
    return positions.get((), (None, None))


class _PlanLoader(yaml.SafeLoader):
    """YAML's safe loader with dates left as text for the schema to parse: YAML's own
    timestamp resolver raises a bare ValueError on ``installed: 2025-13-40``, naming
    neither the field nor the line; the schema names both."""


_PlanLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def validate_plan_text(
    text: str, checks: Sequence[PlanCheck] = ()
) -> tuple[MonitoringPlan | None, list[PlanProblem]]:
    """Parse and check a plan; return the plan (if it parsed) and every problem found.

    ``checks`` run only on a plan that is coherent by itself (its schema and
    cross-references); ``verification.plan_check`` gives the methodology's."""
    try:
        node = yaml.compose(text, Loader=_PlanLoader)
        data = yaml.load(text, Loader=_PlanLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [
            PlanProblem(
                "",
                f"not valid YAML: {getattr(exc, 'problem', exc)}",
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
            )
        ]
    if node is None or not isinstance(data, dict):
        return None, [PlanProblem("", "the plan must be a YAML mapping with a 'project' key")]
    positions: dict[Path_, tuple[int, int]] = {}
    _positions(node, (), positions)

    def problem(path: Path_, message: str) -> PlanProblem:
        line, column = _locate(positions, path)
        return PlanProblem(field_path(path), message, line, column)

    try:
        plan = MonitoringPlan.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden":  # point at the key, not at its value
                line, column = _locate(positions, (*loc, "__key__"))
                problems.append(PlanProblem(field_path(loc), message_of(err), line, column))
                continue
            problems.append(problem(loc, message_of(err)))
        return None, problems
    problems = _cross_check(plan, problem)
    for check in checks:
        if problems:
            break
        problems = [problem(path, message) for path, message in check(plan)]
    return plan, problems


def _cross_check(plan: MonitoringPlan, problem: ProblemAt) -> list[PlanProblem]:
    """Every problem between the plan's parts (the schema checks each part alone)."""
    problems = _duplicates(plan, problem)
    for i, device in enumerate(plan.devices):
        problems += _device(plan, i, device, problem)
    problems += _points(plan, problem)
    for i, param in enumerate(plan.parameters):
        problems += _parameter(plan, i, param, problem)
    return problems + _counted_once(plan, problem)


def _duplicates(plan: MonitoringPlan, problem: ProblemAt) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    for section, ids in (
        ("sites", [s.id for s in plan.sites]),
        ("devices", [d.id for d in plan.devices]),
        ("monitoring_points", [m.id for m in plan.monitoring_points]),
        ("parameters", [p.symbol for p in plan.parameters]),
    ):
        for ident, count in Counter(ids).items():
            if count > 1:
                index = ids.index(ident, ids.index(ident) + 1)
                problems.append(problem((section, index), f"{ident!r} is defined {count} times"))
    return problems


def _device(plan: MonitoringPlan, i: int, device: Device, problem: ProblemAt) -> list[PlanProblem]:
    """The device at ``devices[i]``: its site, what it replaces, its quantities and what
    they need (a register maximum, reference conditions), its accuracy."""
    problems: list[PlanProblem] = []
    if device.site not in {s.id for s in plan.sites}:
        problems.append(problem(("devices", i, "site"), f"unknown site {device.site!r}"))
    if device.replaces is not None and plan.device(device.replaces) is None:
        problems.append(problem(("devices", i, "replaces"), f"unknown device {device.replaces!r}"))
    problems += _signing(plan, i, device, problem)
    problems += _payload(plan, i, device, problem)
    for j, qname in enumerate(device.quantities):
        spec = quantities.get(qname)
        if spec is None:
            message = f"unknown quantity {qname!r} (see the quantity catalogue)"
            problems.append(problem(("devices", i, "quantities", j), message))
        elif spec.default_kind == "cumulative" and device.register_max is None:
            message = f"register_max is required for the cumulative quantity {qname!r}"
            problems.append(problem(("devices", i, "register_max"), message))
    has_gas_volume = any(q.startswith("gas_") and "normal" in q for q in device.quantities)
    if has_gas_volume and device.reference_conditions is None:
        message = "a meter of normal gas volume or flow needs reference_conditions"
        problems.append(problem(("devices", i), message))
    if device.accuracy_class is None and device.max_permissible_error_pct is None:
        message = "state accuracy_class or max_permissible_error_pct (calibration rules need it)"
        problems.append(problem(("devices", i), message))
    offline_after = plan.offline_after_s(device)
    if offline_after < device.expected_interval_s:
        # a device that reports on time would count as offline between two messages
        own = device.offline_after_s is not None
        where = ("devices", i, "offline_after_s") if own else ("project", "offline_after_s")
        message = (
            f"{offline_after} s is shorter than {device.id}'s expected_interval_s "
            f"({device.expected_interval_s} s): it would be offline between two messages"
        )
        problems.append(problem(where, message))
    return problems


def _points(plan: MonitoringPlan, problem: ProblemAt) -> list[PlanProblem]:
    """Each monitoring point names a device of the plan and a quantity it measures."""
    problems: list[PlanProblem] = []
    for i, point in enumerate(plan.monitoring_points):
        owner = plan.device(point.device)
        if owner is None:
            message = f"unknown device {point.device!r}"
            problems.append(problem(("monitoring_points", i, "device"), message))
        elif point.quantity not in owner.quantities:
            message = f"device {owner.id!r} does not measure {point.quantity!r}"
            problems.append(problem(("monitoring_points", i, "quantity"), message))
    return problems


def _parameter(
    plan: MonitoringPlan, i: int, param: Parameter, problem: ProblemAt
) -> list[PlanProblem]:
    """The parameter at ``parameters[i]``: a unit pint reads, monitoring points of the
    plan, each of a quantity the unit can hold."""
    try:
        parse_unit(param.unit)
    except UnitError as exc:
        return [problem(("parameters", i, "unit"), str(exc))]
    points = {m.id: m for m in plan.monitoring_points}
    problems: list[PlanProblem] = []
    for j, point_id in enumerate(param.monitoring_points):
        found = points.get(point_id)
        if found is None:
            message = f"unknown monitoring point {point_id!r}"
            problems.append(problem(("parameters", i, "monitoring_points", j), message))
            continue
        spec = quantities.get(found.quantity)
        if spec is not None and not _can_hold(spec, param.unit):
            message = (
                f"{param.unit!r} cannot hold {found.quantity!r} "
                f"({spec.canonical_unit}) from monitoring point {point_id!r}"
            )
            problems.append(problem(("parameters", i, "unit"), message))
    return problems


def load_plan_file(path: str | Path, checks: Sequence[PlanCheck] = ()) -> MonitoringPlan:
    """Read and validate a plan file; raise PlanError listing every problem."""
    text = Path(path).read_text(encoding="utf-8")
    plan, problems = validate_plan_text(text, checks)
    if problems or plan is None:
        raise PlanError(problems)
    return plan


def _can_hold(spec: quantities.QuantitySpec, unit: str) -> bool:
    """A parameter's unit holds a quantity's values, or their integral over time (a flow
    in Nm3/h monitored for a volume in Nm3)."""
    for source in (spec.canonical_unit, f"({spec.canonical_unit})*hour"):
        try:
            conversion(source, unit)
        except UnitError:
            continue
        return True
    return False


def _lineage(plan: MonitoringPlan, device_id: str) -> set[str]:
    """A device and every meter it replaced (one measurement lineage)."""
    return {d.id for d in plan.lineage(device_id)}


def _counted_once(plan: MonitoringPlan, problem: ProblemAt) -> list[PlanProblem]:
    """No meter may feed the calculation twice: a monitoring point in two parameters (or
    twice in one), or two points on the same meter's quantity (its replacements
    included)."""
    problems: list[PlanProblem] = []
    used: dict[str, str] = {}
    for i, param in enumerate(plan.parameters):
        for j, point_id in enumerate(param.monitoring_points):
            if point_id in used:
                problems.append(
                    problem(
                        ("parameters", i, "monitoring_points", j),
                        f"{point_id!r} is already used by {used[point_id]}: its meter would be "
                        "counted twice",
                    )
                )
            used.setdefault(point_id, param.symbol)
    points = {m.id: m for m in plan.monitoring_points}
    for i, param in enumerate(plan.parameters):
        lineages: dict[str, str] = {}
        for j, point_id in enumerate(param.monitoring_points):
            point = points.get(point_id)
            if point is None:
                continue
            for device in sorted(_lineage(plan, point.device)):
                if device in lineages and lineages[device] != point_id:
                    problems.append(
                        problem(
                            ("parameters", i, "monitoring_points", j),
                            f"{point_id} and {lineages[device]} are both on {device}: one "
                            f"meter would count twice in {param.symbol}",
                        )
                    )
                    break
                lineages[device] = point_id
    seen: dict[tuple[str, str], str] = {}
    for i, point in enumerate(plan.monitoring_points):
        for device in sorted(_lineage(plan, point.device)):
            key = (device, point.quantity)
            if key in seen:
                problems.append(
                    problem(
                        ("monitoring_points", i),
                        f"{point.id} measures {point.quantity} on {device}, as {seen[key]} "
                        "does: one meter, two monitoring points",
                    )
                )
                break
            seen[key] = point.id
    return problems


def _signing(plan: MonitoringPlan, i: int, device: Device, problem: ProblemAt) -> list[PlanProblem]:
    """A device whose messages must be signed names the key they are signed with."""
    if device.public_key is not None:
        try:
            parse_public(device.public_key)
        except ValueError as exc:
            return [problem(("devices", i, "public_key"), str(exc))]
    elif plan.signing_required(device):
        return [problem(("devices", i, "public_key"), "signed messages need the device's key")]
    return []


def _payload(plan: MonitoringPlan, i: int, device: Device, problem: ProblemAt) -> list[PlanProblem]:
    """A standard payload (SenML, Telegraf, ThingsBoard): its field names carry the
    device's own quantities, once each, in units that convert; it cannot be signed (those
    formats have no place for a signature); ``fields`` and ``timestamp_unit`` only where
    they mean something."""
    at: Path_ = ("devices", i)
    fmt = device.payload_format
    problems: list[PlanProblem] = []
    if fmt != "native" and plan.signing_required(device):
        message = f"a {fmt} payload carries no signature: signed messages need payload native"
        problems.append(problem((*at, "payload"), message))
    if fmt == "native" and device.fields is not None:
        problems.append(problem((*at, "fields"), "fields name a standard payload's values: "
                                "set payload to senml, telegraf or thingsboard"))  # fmt: skip
    if fmt != "telegraf" and device.timestamp_unit is not None:
        message = "timestamp_unit is for Telegraf's timestamps: set payload to telegraf"
        problems.append(problem((*at, "timestamp_unit"), message))
    carried: dict[str, str] = {}
    for name, spec in (device.fields or {}).items():
        where: Path_ = (*at, "fields", name)
        if spec.quantity not in device.quantities:
            message = f"{spec.quantity!r} is not one of the device's quantities"
            problems.append(problem((*where, "quantity"), message))
            continue
        if spec.quantity in carried:
            message = f"{spec.quantity!r} is already carried by field {carried[spec.quantity]!r}"
            problems.append(problem((*where, "quantity"), message))
        carried.setdefault(spec.quantity, name)
        quantity = quantities.get(spec.quantity)
        if spec.unit is not None and quantity is not None:
            try:
                conversion(spec.unit, quantity.canonical_unit, atmosphere_kpa=device.atmosphere_kpa,
                           reference=_reference(device))  # fmt: skip
            except UnitError as exc:
                problems.append(problem((*where, "unit"), f"{exc} for {spec.quantity}"))
    return problems


def _reference(device: Device) -> ReferenceConditions | None:
    ref = device.reference_conditions
    return ref.conditions() if ref is not None else None
