"""One module per methodology; each pairs with a parameter table in verification/data.

A methodology module defines ``METHODOLOGY`` (its id), ``SYMBOLS`` (the parameters it
uses, as ``verification.model.Symbol``) and ``calculate(values, table) -> Calculation``.
Modules are found by scanning this package, so adding a methodology means adding one
module here and one data file in ``verification/data/<id>/<version>.yaml``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from functools import cache
from typing import Protocol, cast

from verification.model import Calculation, Symbol, Values
from verification.parameters import ParameterTable

#: A methodology's calculation: emissions from the resolved parameters and its table.
Calculate = Callable[[Values, ParameterTable], Calculation]


class Methodology(Protocol):
    METHODOLOGY: str
    SYMBOLS: Mapping[str, Symbol]
    calculate: Calculate


@cache
def registry() -> dict[str, Methodology]:
    found: dict[str, Methodology] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "METHODOLOGY") and hasattr(module, "calculate"):
            found[module.METHODOLOGY] = cast(Methodology, module)
    return found


def methodology(methodology_id: str) -> Methodology:
    try:
        return registry()[methodology_id]
    except KeyError:
        raise KeyError(
            f"no methodology module for {methodology_id!r} (known: {', '.join(sorted(registry()))})"
        ) from None
