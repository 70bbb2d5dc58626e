"""Plausible physics for the three project types, as pure deterministic functions.

Every function takes time as UTC epoch seconds (``t_s``) or a local hour, and a seed
for its noise; nothing here keeps state, so a reading is a function of (plan, seed, t).
Units are in the parameter and field names (``_kw``, ``_c`` for °C, ``_kpa`` absolute).
The numbers are typical of real plants, not of any one plant:

- PV: clear-sky irradiance from the sun's elevation (Haurwitz) times a cloud
  transmittance that wanders over minutes and days.
- Chiller plant of a tropical shopping mall: cooling load follows opening hours and the
  weather; chillers are staged by load and rotated weekly; electricity = cooling / COP,
  with COP falling at part load and with warmer cooling water.
- Landfill gas to an enclosed flare: flow with barometric pumping, methane fraction
  0.45–0.60 (lower when the blower pulls harder and draws in air), a few maintenance
  stops; the thermocouple heats and cools with a lag while the flame detector is binary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from firmware_sim.noise import centred, clamp, hash01, value_noise

J2000_EPOCH_S = 946_728_000.0  # 2000-01-01 12:00 UTC
DAY_S = 86_400.0
WEEK_S = 7 * DAY_S

# --------------------------------------------------------------------------- sun / PV


def solar_elevation_deg(t_s: float, lat_deg: float, lon_deg: float) -> float:
    """Sun elevation above the horizon in degrees (low-precision almanac, ±0.5°)."""
    d = (t_s - J2000_EPOCH_S) / DAY_S
    g = math.radians((357.529 + 0.98560028 * d) % 360.0)
    q = (280.459 + 0.98564736 * d) % 360.0
    ecliptic_lon = math.radians(q + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g))
    obliquity = math.radians(23.439 - 0.00000036 * d)
    declination = math.asin(math.sin(obliquity) * math.sin(ecliptic_lon))
    right_ascension = math.atan2(
        math.cos(obliquity) * math.sin(ecliptic_lon), math.cos(ecliptic_lon)
    )
    gmst_h = (18.697374558 + 24.06570982441908 * d) % 24.0
    hour_angle = math.radians(gmst_h * 15.0 + lon_deg) - right_ascension
    lat = math.radians(lat_deg)
    sin_elev = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return math.degrees(math.asin(clamp(sin_elev, -1.0, 1.0)))


def clear_sky_ghi_w_m2(elevation_deg: float) -> float:
    """Global horizontal irradiance under a clear sky (Haurwitz model), W/m²."""
    cos_zenith = math.sin(math.radians(elevation_deg))
    if cos_zenith <= 0.01:
        return 0.0
    return 1098.0 * cos_zenith * math.exp(-0.057 / cos_zenith)


def cloud_transmittance(seed: int, t_s: float) -> float:
    """Fraction of clear-sky irradiance that gets through, 0.25–1.

    A slow daily component (overcast days vs clear days) and passing clouds of about
    twenty minutes, so that PV output has both bad days and bad moments.
    """
    daily = value_noise(seed, t_s, DAY_S)
    passing = value_noise(seed ^ 0x5BD1E995, t_s, 1200.0)
    cover = clamp(1.1 * daily - 0.2 + 0.7 * (passing - 0.5) * (0.3 + daily), 0.0, 1.0)
    return 1.0 - 0.75 * cover


def pv_power_kw(
    capacity_kw: float, irradiance_w_m2: float, performance_ratio: float = 0.8
) -> float:
    """AC output of a PV system rated ``capacity_kw`` (DC peak at 1000 W/m²), clipped."""
    return clamp(capacity_kw * irradiance_w_m2 / 1000.0 * performance_ratio, 0.0, capacity_kw)


# --------------------------------------------------------------------------- chiller plant


def mall_cooling_load_fraction(local_hour: float, weekend: bool) -> float:
    """Cooling demand of a shopping mall as a fraction of its design load.

    Base load at night (cinemas, server rooms, cold stores), pre-cooling from 08:30,
    opening hours 10:00–22:00 with an afternoon peak, and a ramp down after closing.
    """
    base = 0.14

    def open_curve(h: float) -> float:
        peak = 0.30 * math.exp(-(((h - 15.5) / 3.5) ** 2))
        return (0.55 + peak) * (1.08 if weekend else 1.0)

    h = local_hour % 24.0
    if 8.5 <= h < 10.0:
        return base + (open_curve(10.0) - base) * (h - 8.5) / 1.5
    if 10.0 <= h < 22.0:
        return open_curve(h)
    if 22.0 <= h < 23.5:
        return open_curve(22.0) + (base - open_curve(22.0)) * (h - 22.0) / 1.5
    return base


def weather_factor(seed: int, t_s: float) -> float:
    """Day-to-day weather on cooling demand: 0.85 (rainy) to 1.08 (hot), wandering."""
    return 0.85 + 0.23 * value_noise(seed, t_s, DAY_S)


def chiller_cop(rated_cop: float, part_load_ratio: float, cooling_water_out_c: float) -> float:
    """Operating COP: best near 75% load, about 2.5% worse per °C of warmer cooling water."""
    plr = clamp(part_load_ratio, 0.15, 1.0)
    load_effect = 1.0 - 0.8 * (plr - 0.75) ** 2
    water_effect = 1.0 - 0.025 * (cooling_water_out_c - 32.0)
    return rated_cop * load_effect * water_effect


@dataclass(frozen=True, slots=True)
class ChillerPlantState:
    cooling_kw: tuple[float, ...]  # thermal, per chiller in the given order
    electric_kw: tuple[float, ...]
    chilled_water_out_c: float
    cooling_water_out_c: float

    @property
    def total_cooling_kw(self) -> float:
        return sum(self.cooling_kw)

    @property
    def total_electric_kw(self) -> float:
        return sum(self.electric_kw)


def chiller_plant_state(
    t_s: float,
    local_hour: float,
    weekend: bool,
    capacities_kw: tuple[float, ...],
    rated_cops: tuple[float, ...],
    seed: int,
) -> ChillerPlantState:
    """Cooling and electricity of each chiller of a plant at one moment.

    Demand is met by staging chillers in a lead/lag order that rotates weekly (as
    operators do to even out running hours); a chiller is added when the running ones
    would exceed 90% load; running chillers share the load in proportion to capacity.
    """
    n = len(capacities_kw)
    if n == 0:
        return ChillerPlantState((), (), 7.0, 30.0)
    weather = weather_factor(seed, t_s)
    fraction = mall_cooling_load_fraction(local_hour, weekend)
    jitter = 1.0 + 0.03 * centred(seed ^ 0x1F, t_s, 300.0)
    demand_kw = fraction * weather * jitter * 0.82 * sum(capacities_kw)

    lead = int(t_s // WEEK_S) % n
    order = [(lead + k) % n for k in range(n)]
    running: list[int] = []
    capacity_on = 0.0
    for index in order:
        running.append(index)
        capacity_on += capacities_kw[index]
        if demand_kw <= 0.9 * capacity_on:
            break
    plr = min(demand_kw / capacity_on, 1.0)

    cw_out_c = (
        31.0
        + 2.0 * math.sin(2 * math.pi * (local_hour - 8.0) / 24.0)
        + 3.0 * (weather - 0.95)
        + 1.5 * plr
        + 0.3 * centred(seed ^ 0x2F, t_s, 600.0)
    )
    chw_out_c = 7.0 + 0.25 * centred(seed ^ 0x3F, t_s, 900.0) + 0.8 * max(0.0, plr - 0.95)
    cooling = [0.0] * n
    electric = [0.0] * n
    for index in running:
        cooling[index] = plr * capacities_kw[index]
        electric[index] = cooling[index] / chiller_cop(rated_cops[index], plr, cw_out_c)
    return ChillerPlantState(tuple(cooling), tuple(electric), chw_out_c, cw_out_c)


def building_occupancy(local_hour: float) -> float:
    """Lighting, escalators and tenants' plug loads as a fraction of their peak."""
    h = local_hour % 24.0
    if 9.0 <= h < 10.0:
        return 0.3 + 0.7 * (h - 9.0)
    if 10.0 <= h < 22.0:
        return 1.0
    if 22.0 <= h < 23.0:
        return 1.0 - 0.7 * (h - 22.0)
    return 0.3


# --------------------------------------------------------------------------- landfill gas


def flare_stop_window_s(seed: int, day_index: int) -> tuple[float, float] | None:
    """A maintenance stop on this day as (start, end) seconds after midnight UTC, or None.

    About one day in twelve has a stop of one to four hours (condensate knock-out,
    thermocouple replacement, blower service).
    """
    if hash01(seed ^ 0x51, day_index) >= 1.0 / 12.0:
        return None
    start = (1.0 + 18.0 * hash01(seed ^ 0x52, day_index)) * 3600.0
    length = (1.0 + 3.0 * hash01(seed ^ 0x53, day_index)) * 3600.0
    return start, start + length


def flare_schedule(seed: int, t_s: float) -> tuple[bool, float]:
    """(running, seconds since the last start or stop) at ``t_s``."""
    day = int(t_s // DAY_S)
    since_midnight = t_s - day * DAY_S
    today = flare_stop_window_s(seed, day)
    if today is not None:
        start, end = today
        if start <= since_midnight < end:
            return False, since_midnight - start
        if since_midnight >= end:
            return True, since_midnight - end
    yesterday = flare_stop_window_s(seed, day - 1)
    if yesterday is not None:
        return True, since_midnight + DAY_S - yesterday[1]
    return True, 10 * DAY_S


@dataclass(frozen=True, slots=True)
class LandfillState:
    running: bool
    flow_nm3_h: float  # normal m³/h (0 °C, 101.325 kPa), dry
    ch4_fraction: float
    gas_temperature_c: float
    gas_pressure_kpa: float  # absolute, at the meter after the blower
    atmosphere_kpa: float
    flare_temperature_c: float
    flame: bool
    blower_kw: float


def landfill_state(
    t_s: float,
    local_hour: float,
    seed: int,
    design_flow_nm3_h: float,
    atmosphere_kpa: float,
    blower_rated_kw: float,
) -> LandfillState:
    """Landfill gas collection, blower and enclosed flare at one moment."""
    running, since_s = flare_schedule(seed, t_s)
    ambient_c = 24.0 + 5.0 * math.sin(2 * math.pi * (local_hour - 9.0) / 24.0)
    # Atmospheric tide (peaks near 10:00 and 22:00 local) plus weather systems.
    atmosphere = (
        atmosphere_kpa
        + 0.12 * math.cos(2 * math.pi * (local_hour - 10.0) / 12.0)
        + 0.3 * centred(seed ^ 0x61, t_s, 3 * DAY_S)
    )
    if running:
        ramp = 1.0 - math.exp(-since_s / 120.0)
        # Falling barometric pressure pulls more gas out of the waste mass.
        load = (
            0.85
            + 0.08 * centred(seed ^ 0x62, t_s, WEEK_S)
            - 0.04 * math.cos(2 * math.pi * (local_hour - 10.0) / 12.0)
            + 0.02 * centred(seed ^ 0x63, t_s, 300.0)
        )
        flow = design_flow_nm3_h * load * ramp
        operating_c = 850.0 + 25.0 * centred(seed ^ 0x64, t_s, 1800.0)
        operating_c += 8.0 * centred(seed ^ 0x65, t_s, 60.0)
        flare_c = ambient_c + (operating_c - ambient_c) * (1.0 - math.exp(-since_s / 240.0))
        gas_c = 33.0 + 2.5 * math.sin(2 * math.pi * (local_hour - 9.0) / 24.0)
        gas_c += 0.8 * centred(seed ^ 0x66, t_s, 900.0)
        pressure = atmosphere + 7.5 * (flow / design_flow_nm3_h) ** 2
        pressure += 0.2 * centred(seed ^ 0x67, t_s, 600.0)
        blower = blower_rated_kw * (0.35 + 0.65 * (flow / design_flow_nm3_h) ** 1.5)
    else:
        load = 0.0
        flow = 0.0
        flare_c = ambient_c + (850.0 - ambient_c) * math.exp(-since_s / 1200.0)
        gas_c = ambient_c + (33.0 - ambient_c) * math.exp(-since_s / 3600.0)
        pressure = atmosphere + 0.05
        blower = 0.0
    # More suction draws air in through the cover: a little less methane.
    ch4 = (
        0.53
        + 0.035 * centred(seed ^ 0x68, t_s, 5 * DAY_S)
        + 0.008 * centred(seed ^ 0x69, t_s, 1800.0)
        - (0.3 * (load - 0.85) if running else 0.0)
    )
    return LandfillState(
        running=running,
        flow_nm3_h=max(flow, 0.0),
        ch4_fraction=clamp(ch4, 0.45, 0.60),
        gas_temperature_c=gas_c,
        gas_pressure_kpa=pressure,
        atmosphere_kpa=atmosphere,
        flare_temperature_c=flare_c,
        flame=running,
        blower_kw=blower,
    )


# --------------------------------------------------------------------------- generic


def measurement_noise(seed: int, sample_index: int, relative: float) -> float:
    """A multiplicative factor 1 ± ``relative`` for one sample (sensor noise)."""
    return 1.0 + relative * (2.0 * hash01(seed, sample_index) - 1.0)
