"""Monitoring plans: the JCM Monitoring Plan Sheet as a declarative YAML file."""

from core.plans.schema import Device, MonitoringPlan, Parameter, Site
from core.plans.validate import PlanProblem, load_plan_file, validate_plan_text

__all__ = [
    "Device",
    "MonitoringPlan",
    "Parameter",
    "PlanProblem",
    "Site",
    "load_plan_file",
    "validate_plan_text",
]
