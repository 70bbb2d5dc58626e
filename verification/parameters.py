"""Versioned parameter tables: one YAML file per methodology id and version.

Everything ``methodologies.md`` marks unconfirmed (emission factors, reference COPs, GWP,
flare defaults, the rounding rule, meter tolerances) lives here, never as a constant in
code, so a project can correct a value without a code change. Each value names its
source and whether it was checked against the published text.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

DATA = Path(__file__).resolve().parent / "data"


class ParameterValue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    unit: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]
    status: Literal["confirmed", "unconfirmed"]


class ParameterTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    methodology: str
    version: str
    title: str
    rounding: Literal["floor", "half_up", "none"] = "floor"
    # Methodologies that compute step by step (methane: minute m) say how long a step is.
    time_step_s: Annotated[int, Field(ge=1, le=86400)] | None = None
    # A meter without a stated maximum permissible error is held to this (percent).
    default_meter_tolerance_pct: Annotated[float, Field(gt=0, le=20)] = 2.0
    # Plausibility: the largest mean power one site's meter can show (kW). A total that
    # implies more is a unit slip (a published MRS: 42,826,880 "MWh" for one factory).
    max_site_power_kw: Annotated[float, Field(gt=0)] = 1_000_000.0
    parameters: dict[str, ParameterValue]

    def value(self, name: str) -> float:
        try:
            return self.parameters[name].value
        except KeyError:
            raise KeyError(
                f"{self.methodology} {self.version} has no parameter {name!r} "
                f"(it has {', '.join(sorted(self.parameters))})"
            ) from None


def table_path(methodology: str, version: str) -> Path:
    return DATA / methodology / f"{version}.yaml"


@lru_cache(maxsize=64)
def table_sha256(methodology: str, version: str) -> str:
    """Hash of the table file's bytes: part of a report's inputs."""
    return hashlib.sha256(table_path(methodology, version).read_bytes()).hexdigest()


@lru_cache(maxsize=64)
def load_table(methodology: str, version: str) -> ParameterTable:
    """The parameter table of a methodology version (``data/<id>/<version>.yaml``)."""
    path = table_path(methodology, version)
    if not path.is_file():
        known = sorted(
            p.parent.name + " " + p.stem
            for p in DATA.glob("*/*.yaml")
            if p.parent.name != "gap-rules"
        )
        raise FileNotFoundError(
            f"no parameter table for {methodology} version {version}; known: {known}"
        )
    table = ParameterTable.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    if (table.methodology, table.version) != (methodology, version):
        raise ValueError(f"{path} declares {table.methodology} {table.version}")
    return table
