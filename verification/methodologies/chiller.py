"""Energy saving by high-efficiency chillers (methodology id ``chiller-energy-saving``).

RE_p = Σ_i EC_PJ,i,p × (COP_PJ,i / COP_RE,i) × EF_elec
PE_p = Σ_i EC_PJ,i,p × EF_elec
ER_p = RE_p − PE_p
"""

from __future__ import annotations

METHODOLOGY = "chiller-energy-saving"


def cop_at_standard_conditions(
    cop_rated: float,
    t_cw_out_c: float,
    t_chw_out_c: float,
    *,
    td_chw_k: float = 1.5,
    td_cw_k: float = 1.5,
    t_cw_std_c: float = 37.0,
    t_chw_std_c: float = 7.0,
) -> float:
    """COP_PJ,tc = COP_PJ × (T_cw,out − T_chw,out + TD_chw + TD_cw)
                             / (T_cw,std − T_chw,std + TD_chw + TD_cw).

    cop_rated: the unit's rated COP at its rating conditions (dimensionless).
    t_cw_out_c, t_chw_out_c: cooling- and chilled-water outlet temperatures of the rating, °C.
    td_*_k: temperature differences, K; t_*_std_c: standard conditions, °C.
    """
    numerator = t_cw_out_c - t_chw_out_c + td_chw_k + td_cw_k
    denominator = t_cw_std_c - t_chw_std_c + td_chw_k + td_cw_k
    if numerator <= 0 or denominator <= 0:
        raise ValueError("the temperature lift must be positive")
    return cop_rated * numerator / denominator


def reference_emissions_tco2(
    ec_pj_mwh: float, cop_pj: float, cop_re: float, ef_elec_tco2_per_mwh: float
) -> float:
    """RE_i,p = EC_PJ,i,p × (COP_PJ,i / COP_RE,i) × EF_elec (one unit i)."""
    if cop_re <= 0 or cop_pj <= 0:
        raise ValueError("COPs must be positive")
    return ec_pj_mwh * (cop_pj / cop_re) * ef_elec_tco2_per_mwh


def project_emissions_tco2(ec_pj_mwh: float, ef_elec_tco2_per_mwh: float) -> float:
    """PE_i,p = EC_PJ,i,p × EF_elec (one unit i)."""
    return ec_pj_mwh * ef_elec_tco2_per_mwh
