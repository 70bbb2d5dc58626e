"""The MRS workbook's calculation as spreadsheet formulas, per methodology.

The XLSX's calculation sheet recomputes the emission reductions from its input sheet, so
that a verifier can change an input and see the result move as the methodology says.
Each methodology here mirrors its module in :mod:`verification.methodologies`: for every
calculation step the engine reports (by its label) a formula over the input cells and the
earlier steps. The engine stays the reference: the workbook shows its value beside each
formula, and the tests recalculate the workbook with LibreOffice and compare every
formula's result with the JSON report.

Inputs come from the report only: the MRS parameter rows, the constants of the
methodology's parameter table as the report carries them (``parameter_inputs``: value,
unit, source, table version and status; no table file is read, so a report renders the
same wherever it is opened), and, for methane, the sums over the minute steps that the
equations need but no period value carries (the step data themselves are not in the
report; their sums are, through the engine's calculation steps, and are shown as option C
inputs).

A methodology without a formula model, or a report that does not carry a constant its
formulas need, gets no formulas: the workbook then carries the engine's values and says
why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from verification.report_model import ParameterInput, ParameterRow, Report


@dataclass(frozen=True)
class ExtraInput:
    """An input row the MRS parameter table does not have: a constant of the
    methodology's table (option A) or a sum over the calculation's steps (option C)."""

    symbol: str
    description: str
    value: float | None
    unit: str
    option: str
    source: str
    method: str


class Refs(Protocol):
    """Cell addresses of the workbook's inputs and calculation steps (absolute, with the
    sheet where needed)."""

    def input(self, symbol: str, point: str | None = None) -> str:
        """The value cell of a parameter row (the first of the symbol without ``point``)."""
        ...

    def inputs(self, symbol: str) -> list[str]:
        """The value cells of every row of a parameter, in the report's order."""
        ...

    def extra(self, symbol: str) -> str:
        """The value cell of an :class:`ExtraInput`."""
        ...

    def step(self, label: str) -> str | None:
        """The value cell of a calculation step, or None if the report has no such step."""
        ...


#: A methodology's formulas: calculation step label -> formula (with its ``=``).
Formulas = dict[str, str]


@dataclass(frozen=True)
class FormulaModel:
    """What the workbook needs from a methodology: its extra inputs and its formulas."""

    extras: list[ExtraInput]
    formulas: Callable[[Refs], Formulas]


def _rows(report: Report, symbol: str) -> list[ParameterRow]:
    return [r for r in report.parameters if r.symbol == symbol]


def _has(report: Report, symbol: str) -> bool:
    return any(r.symbol == symbol for r in report.parameters)


def _sum(cells: Sequence[str]) -> str:
    """A sum that is 0 over no cells (SUM() with no argument is an error)."""
    return f"SUM({','.join(cells)})" if cells else "0"


def _labels(report: Report) -> dict[str, float | None]:
    return {c.label: c.value for c in report.calculation}


class MissingConstant(LookupError):
    """The report does not carry a methodology constant the formulas need."""


def _table_entry(report: Report, name: str) -> ParameterInput:
    """The methodology table's entry ``name`` as the report carries it (a fixed value of
    the plan with the same symbol is not the table's)."""
    for entry in report.parameter_inputs:
        if entry.symbol == name and entry.status != "plan":
            return entry
    raise MissingConstant(name)


def _constant(report: Report, name: str) -> ExtraInput:
    entry = _table_entry(report, name)
    return ExtraInput(
        symbol=name,
        description=f"Methodology constant {name}",
        value=entry.value,
        unit=entry.unit,
        option="A",
        source=f"{entry.version} ({entry.status}): {entry.source}",
        method=f"Fixed ex ante; table sha256 {report.methodology.table_sha256}",
    )


# --- solar PV: RE_p = Σ_i EG_i,p × EF_RE, PE_p = 0 ---------------------------------------

_PV_PAIRS = (("EG_grid", "EF_grid"), ("EG_diesel", "EF_diesel"))


def _solar(report: Report) -> FormulaModel:
    """PV-power-generation (verification.methodologies.solar_pv.calculate)."""
    labels = _labels(report)

    def formulas(refs: Refs) -> Formulas:
        out: Formulas = {}
        reference: list[str] = []
        for eg, ef in _PV_PAIRS:
            total = refs.step(f"Σ {eg}")
            if total is None:
                continue
            out[f"Σ {eg}"] = "=" + _sum(refs.inputs(eg))
            out[f"RE ({eg})"] = f"={total}*{refs.input(ef)}"
            if f"RE ({eg})" in labels:
                reference.append(refs.step(f"RE ({eg})") or "0")
        out["RE_p"] = "=" + ("+".join(reference) or "0")
        out["PE_p"] = "=0"
        return out

    return FormulaModel([], formulas)


# --- chillers: RE_p = Σ_i EC_i × (COP_PJ,tc / COP_RE) × EF, PE_p = Σ_i EC_i × EF ----------

_CHILLER_CONSTANTS = ("TD_chw", "TD_cw", "T_chw_std", "T_cw_std")


def _unit_name(row: ParameterRow, i: int) -> str:
    return row.monitoring_point or f"unit {i + 1}"


def _chiller(report: Report) -> FormulaModel:
    """chiller-energy-saving (verification.methodologies.chiller.calculate)."""
    units = _rows(report, "EC_PJ")
    rated = _has(report, "T_chw_out") and _has(report, "T_cw_out")
    extras = [_constant(report, c) for c in _CHILLER_CONSTANTS] if rated else []

    def cop(refs: Refs, i: int, ec: str) -> str:
        """COP_PJ,tc = COP_PJ × (T_cw − T_chw + TD_chw + TD_cw) / (T_cw,std − T_chw,std
        + TD_chw + TD_cw); with no lift or no temperature, COP_RE for a unit that ran
        (no credit) and COP_PJ for one that did not."""
        chw_cells, cw_cells = refs.inputs("T_chw_out"), refs.inputs("T_cw_out")
        chw, cw = chw_cells[min(i, len(chw_cells) - 1)], cw_cells[min(i, len(cw_cells) - 1)]
        td = f"{refs.extra('TD_chw')}+{refs.extra('TD_cw')}"
        lift = f"({cw}-{chw}+{td})"
        std = f"({refs.extra('T_cw_std')}-{refs.extra('T_chw_std')}+{td})"
        cop_pj, cop_re = refs.input("COP_PJ"), refs.input("COP_RE")
        fallback = f"IF({ec}<>0,{cop_re},{cop_pj})"
        return f"=IF(OR(COUNT({cw},{chw})<2,{lift}<=0,{std}<=0),{fallback},{cop_pj}*{lift}/{std})"

    def formulas(refs: Refs) -> Formulas:
        out: Formulas = {}
        ef, cop_re = refs.input("EF_elec"), refs.input("COP_RE")
        ec_cells = refs.inputs("EC_PJ")
        for i, (row, ec) in enumerate(zip(units, ec_cells, strict=True)):
            name = _unit_name(row, i)
            cop_cell = refs.step(f"COP_PJ,tc ({name})")
            if rated and cop_cell is not None:
                out[f"COP_PJ,tc ({name})"] = cop(refs, i, ec)
            unit_cop = cop_cell if rated and cop_cell else refs.input("COP_PJ")
            out[f"RE ({name})"] = f"={ec}*({unit_cop}/{cop_re})*{ef}"
            out[f"PE ({name})"] = f"={ec}*{ef}"
        res = [refs.step(f"RE ({_unit_name(r, i)})") for i, r in enumerate(units)]
        pes = [refs.step(f"PE ({_unit_name(r, i)})") for i, r in enumerate(units)]
        out["RE_p"] = "=" + _sum([c for c in res if c])
        out["PE_p"] = "=" + _sum([c for c in pes if c])
        return out

    return FormulaModel(extras, formulas)


# --- methane: RE_p = GWP × Σ TM / 1000, PE_d = GWP × Σ TM (1 − η_m) / 1000 ----------------

#: (gas symbol, label suffix, PE label) per destination, as the methane module names them.
_DESTINATIONS = (("LFG_flare", "", "PE_flare"), ("LFG_engine", " (engine)", "PE_engine"))


def _eta(report: Report, symbol: str) -> tuple[str, float, bool]:
    """The destination's efficiency while operating: (symbol, value, from the table)
    as verification.methodologies.methane._efficiency picks it."""
    if symbol == "LFG_engine":
        name, table_name = "eta_engine", "eta_engine"
    else:
        name = "eta_flare"
        table_name = "eta_enclosed_flare" if _has(report, "T_flare") else "eta_open_flare"
    rows = _rows(report, name)
    if rows and rows[0].value is not None:
        return name, rows[0].value, False
    return table_name, _table_entry(report, table_name).value, True


def _methane_extras(report: Report) -> list[ExtraInput]:
    """Per destination: the volume sums (shown), Σ_m V_n,m × w_CH4,m and
    Σ_m V_n,m × w_CH4,m × share_m (Nm3 CH4), recovered from the engine's steps as
    Σ TM / D_CH4 and CH4_destroyed × 1000 / (η × D_CH4)."""
    labels = _labels(report)
    density = _rows(report, "D_CH4")[0].value or 0.0
    extras: list[ExtraInput] = []
    steps = "Sum over the period's minute steps, computed by the engine from the readings"
    for symbol, suffix, _ in _DESTINATIONS:
        if f"Σ TM{suffix}" not in labels:
            continue
        eta_name, eta, from_table = _eta(report, symbol)
        if from_table:
            extras.append(_constant(report, eta_name))
        mass = labels[f"Σ TM{suffix}"] or 0.0
        destroyed = labels.get(f"CH4_destroyed{suffix}") or 0.0
        methane = mass / density if density else 0.0
        operating = destroyed * 1000.0 / (eta * density) if eta * density else 0.0
        where = suffix.strip(" ()") or "flare"
        extras += [
            ExtraInput(
                f"VW_{where}",
                f"Methane sent to the {where}: Σ_m V_n,m × w_CH4,m",
                methane,
                "Nm3 CH4",
                "C",
                "Step sums of the monitored series",
                steps,
            ),
            ExtraInput(
                f"VWS_{where}",
                f"Methane sent to the {where} while shown operating: Σ_m V_n,m × w_CH4,m × share_m",
                operating,
                "Nm3 CH4",
                "C",
                "Step sums of the monitored series",
                steps,
            ),
        ]
        for label in (f"Σ {symbol}", f"Σ V_n{suffix}", f"operating share{suffix}"):
            if label in labels:
                extras.append(ExtraInput(label, label, labels[label], "", "C", "Step sums", steps))
    return extras


def _methane(report: Report) -> FormulaModel:
    """methane-recovery-destruction (verification.methodologies.methane.calculate)."""
    extras = _methane_extras(report)
    keys = {e.symbol for e in extras}

    def formulas(refs: Refs) -> Formulas:
        out: Formulas = {}
        density, gwp = refs.input("D_CH4"), refs.input("GWP_CH4")
        masses: list[str] = []
        penalties: list[str] = []
        for symbol, suffix, pe_label in _DESTINATIONS:
            mass = refs.step(f"Σ TM{suffix}")
            if mass is None:
                continue
            where = suffix.strip(" ()") or "flare"
            eta_name, _, from_table = _eta(report, symbol)
            eta = refs.extra(eta_name) if from_table else refs.input(eta_name)
            for label in (f"Σ {symbol}", f"Σ V_n{suffix}", f"operating share{suffix}"):
                if label in keys:
                    out[label] = f"={refs.extra(label)}"
            out[f"Σ TM{suffix}"] = f"={refs.extra(f'VW_{where}')}*{density}"
            destroyed = refs.step(f"CH4_destroyed{suffix}")
            out[f"CH4_destroyed{suffix}"] = f"={eta}*{refs.extra(f'VWS_{where}')}*{density}/1000"
            out[pe_label] = f"={gwp}*({mass}/1000-{destroyed})"
            masses.append(mass)
            penalties.append(refs.step(pe_label) or "0")
        out["RE_p"] = f"={gwp}*({'+'.join(masses) or '0'})/1000"
        if refs.step("PE_elec") is not None:
            out["PE_elec"] = f"={_sum(refs.inputs('EC_PJ'))}*{refs.input('EF_elec')}"
            penalties.append(refs.step("PE_elec") or "0")
        out["PE_p"] = "=" + ("+".join(penalties) or "0")
        return out

    return FormulaModel(extras, formulas)


_MODELS: dict[str, Callable[[Report], FormulaModel]] = {
    "PV-power-generation": _solar,
    "chiller-energy-saving": _chiller,
    "methane-recovery-destruction": _methane,
}


def formula_model(report: Report) -> FormulaModel | str:
    """The report's formula model, or the sentence saying why the workbook has none."""
    m = report.methodology
    build = _MODELS.get(m.id)
    if build is None:
        return f"no spreadsheet formulas for methodology {m.id}: values as computed"
    try:
        return build(report)
    except MissingConstant as missing:
        return (
            f"the report does not carry the constant {missing.args[0]} of the "
            f"{m.id} {m.version} parameter table: values as computed"
        )


def rounding_formula(er_cell: str, rule: str) -> str:
    """ER rounded as verification.rounding.round_tco2 does: floor (INT rounds towards
    minus infinity, as math.floor; the epsilon keeps float noise from losing a tonne),
    half up (ROUND: halves away from zero), or none."""
    if rule == "floor":
        return f"=INT({er_cell}+1E-9)"
    if rule == "half_up":
        return f"=ROUND({er_cell},0)"
    return f"={er_cell}"


def allocation_formulas(issued: str, partner_share: str, japan_share: str) -> tuple[str, str]:
    """(partner country, Japan) credits as verification.engine._allocation splits them:
    whole tonnes by the shares, the largest remainder gets the odd tonne, a tie to the
    partner country."""
    total = f"MAX(INT({issued}),0)"
    j_exact, p_exact = f"{total}*{japan_share}", f"{total}*{partner_share}"
    j, p = f"INT({j_exact})", f"INT({p_exact})"
    short = f"{j}+{p}<{total}"
    japan_wins = f"({j_exact}-{j})>({p_exact}-{p})"
    partner = f"=IF(AND({short},NOT({japan_wins})),{p}+1,{p})"
    japan = f"=IF(AND({short},{japan_wins}),{j}+1,{j})"
    return partner, japan
