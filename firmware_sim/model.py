"""What each device of a plan measures: maps (device, quantity, time) onto the physics.

A site is modelled once (its chillers, its landfill gas system, its sun) so that all the
devices at a site see the same plant: the chiller meters add up to what the grid meter
sees, and the flare thermocouple cools down when the gas flow meter reads zero.

Values are in the quantity's canonical unit (core.quantities). For a cumulative quantity
the value is its *rate* per hour (kWh/h = kW, Nm³/h), which the device integrates.

Simulator hints read from a device's ``nameplate`` (all floats):
  capacity_kw          PV system peak (with energy_export), or a chiller's cooling capacity
                       (with rated_cop), or a thermal meter's plant capacity
  rated_cop            marks a chiller's electricity meter; the chiller's rated COP
  rated_kw             a motor's rated input (landfill gas blower)
  base_load_kw         a grid meter's building load other than the chillers
  design_flow_nm3_h    landfill gas design flow of the site's extraction system
  rate_per_h           a generic cumulative rate (heat, fuel) in canonical units per hour
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.plans.schema import Device, MonitoringPlan, Site
from core.units import NORMAL_PRESSURE_KPA, ReferenceConditions
from firmware_sim import physics
from firmware_sim.noise import centred, stable_seed

Signal = Callable[[float], float]


class SiteModel:
    """The physical plant of one site; answers in canonical units."""

    def __init__(self, plan: MonitoringPlan, site: Site, seed: int) -> None:
        self.site = site
        self.seed = stable_seed(seed, plan.project.id, site.id)
        self.devices = [d for d in plan.devices if d.site == site.id]
        self.lat = site.location.lat if site.location else 0.0
        self.lon = site.location.lon if site.location else 0.0
        try:
            self._zone: ZoneInfo | None = ZoneInfo(site.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self._zone = None
        self._offset_cache: dict[int, float] = {}

        self.chillers = sorted(
            (
                d
                for d in self.devices
                if "rated_cop" in d.nameplate and "energy_consumed" in d.quantities
            ),
            key=lambda d: d.id,
        )
        self._chiller_index = {d.id: i for i, d in enumerate(self.chillers)}
        self._capacities = tuple(d.nameplate.get("capacity_kw", 1000.0) for d in self.chillers)
        self._cops = tuple(d.nameplate["rated_cop"] for d in self.chillers)
        self._design_flow = max(
            (
                d.nameplate["design_flow_nm3_h"]
                for d in self.devices
                if "design_flow_nm3_h" in d.nameplate
            ),
            default=500.0,
        )
        self._atmosphere = next(
            (d.atmosphere_kpa for d in self.devices if d.atmosphere_kpa is not None),
            NORMAL_PRESSURE_KPA,
        )
        self._blower_kw = next(
            (
                d.nameplate["rated_kw"]
                for d in self.devices
                if "rated_kw" in d.nameplate and "energy_consumed" in d.quantities
            ),
            0.0,
        )
        self._pv = [d for d in self.devices if "energy_export" in d.quantities]
        # One-entry caches: devices of a site report at the same instants, one after another.
        self._plant_t: float | None = None
        self._plant: physics.ChillerPlantState | None = None
        self._gas_t: float | None = None
        self._gas: physics.LandfillState | None = None

    # ------------------------------------------------------------------ local time
    def utc_offset_s(self, t_s: float) -> float:
        hour = int(t_s // 3600)
        cached = self._offset_cache.get(hour)
        if cached is None:
            if self._zone is None:
                cached = 0.0
            else:
                moment = datetime.fromtimestamp(hour * 3600, tz=UTC).astimezone(self._zone)
                offset = moment.utcoffset()
                cached = offset.total_seconds() if offset else 0.0
            if len(self._offset_cache) > 4096:
                self._offset_cache.clear()
            self._offset_cache[hour] = cached
        return cached

    def local_hour(self, t_s: float) -> float:
        return ((t_s + self.utc_offset_s(t_s)) % physics.DAY_S) / 3600.0

    def weekend(self, t_s: float) -> bool:
        local_days = int((t_s + self.utc_offset_s(t_s)) // physics.DAY_S)
        return (local_days + 3) % 7 >= 5  # 1970-01-01 was a Thursday (weekday 3)

    # ------------------------------------------------------------------ plants
    def plant(self, t_s: float) -> physics.ChillerPlantState:
        if self._plant is None or self._plant_t != t_s:
            self._plant = physics.chiller_plant_state(
                t_s,
                self.local_hour(t_s),
                self.weekend(t_s),
                self._capacities,
                self._cops,
                self.seed,
            )
            self._plant_t = t_s
        return self._plant

    def landfill(self, t_s: float) -> physics.LandfillState:
        if self._gas is None or self._gas_t != t_s:
            self._gas = physics.landfill_state(
                t_s,
                self.local_hour(t_s),
                self.seed,
                self._design_flow,
                self._atmosphere,
                self._blower_kw,
            )
            self._gas_t = t_s
        return self._gas

    def irradiance_w_m2(self, t_s: float) -> float:
        elevation = physics.solar_elevation_deg(t_s, self.lat, self.lon)
        return physics.clear_sky_ghi_w_m2(elevation) * physics.cloud_transmittance(self.seed, t_s)

    def pv_kw(self, device: Device, t_s: float) -> float:
        return physics.pv_power_kw(
            device.nameplate.get("capacity_kw", 100.0), self.irradiance_w_m2(t_s)
        )

    def grid_import_kw(self, device: Device, t_s: float) -> float:
        base = device.nameplate.get("base_load_kw", 0.0) * physics.building_occupancy(
            self.local_hour(t_s)
        )
        chillers = self.plant(t_s).total_electric_kw * 1.2 if self.chillers else 0.0
        blower = self.landfill(t_s).blower_kw if self._blower_kw else 0.0
        pv = sum(self.pv_kw(d, t_s) for d in self._pv)
        return max(base + chillers + blower - pv, 0.0)

    # ------------------------------------------------------------------ dispatch
    def device_power_kw(self, device: Device, t_s: float) -> float:
        """Active power of whatever the device meters."""
        if device.id in self._chiller_index:
            return self.plant(t_s).electric_kw[self._chiller_index[device.id]]
        if "energy_export" in device.quantities:
            return self.pv_kw(device, t_s)
        if "energy_import" in device.quantities:
            return self.grid_import_kw(device, t_s)
        if "rated_kw" in device.nameplate:
            if self._blower_kw:
                return self.landfill(t_s).blower_kw
            return 0.6 * device.nameplate["rated_kw"]
        return 0.0

    def signal(self, device: Device, quantity: str) -> Signal:
        """A function of time giving this device's quantity (canonical; rate if cumulative)."""
        if quantity in ("power", "energy_export", "energy_import", "energy_consumed"):
            return lambda t: self.device_power_kw(device, t)
        if quantity == "irradiance":
            return self.irradiance_w_m2
        if quantity == "cooling_energy":
            if self.chillers:
                return lambda t: self.plant(t).total_cooling_kw
            capacity = device.nameplate.get("capacity_kw", 1000.0)
            return lambda t: (
                capacity * physics.mall_cooling_load_fraction(self.local_hour(t), self.weekend(t))
            )
        if quantity == "chilled_water_temperature":
            return lambda t: self.plant(t).chilled_water_out_c
        if quantity == "cooling_water_temperature":
            return lambda t: self.plant(t).cooling_water_out_c
        if quantity in ("gas_volume_normal", "gas_flow_normal"):
            return lambda t: self.landfill(t).flow_nm3_h
        if quantity in ("gas_volume", "gas_flow"):
            return self._actual_gas_flow_m3_h
        if quantity == "ch4_fraction":
            return lambda t: self.landfill(t).ch4_fraction
        if quantity == "gas_temperature":
            return lambda t: self.landfill(t).gas_temperature_c
        if quantity == "gas_pressure":
            return lambda t: self.landfill(t).gas_pressure_kpa
        if quantity == "flare_temperature":
            return lambda t: self.landfill(t).flare_temperature_c
        if quantity == "flame_detected":
            return lambda t: 1.0 if self.landfill(t).flame else 0.0
        rate = device.nameplate.get("rate_per_h", 1.0)
        wander = stable_seed(self.seed, device.id, quantity)
        return lambda t: rate * (1.0 + 0.1 * centred(wander, t, 3600.0))

    def _actual_gas_flow_m3_h(self, t_s: float) -> float:
        state = self.landfill(t_s)
        conditions = ReferenceConditions(state.gas_temperature_c, state.gas_pressure_kpa)
        factor = conditions.to_normal_factor()
        return state.flow_nm3_h / factor if factor > 0 and math.isfinite(factor) else 0.0


def site_models(plan: MonitoringPlan, seed: int) -> dict[str, SiteModel]:
    return {site.id: SiteModel(plan, site, seed) for site in plan.sites}
