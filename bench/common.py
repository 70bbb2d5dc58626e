"""What the benchmarks share: the verdict cell and the code version measured."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    """The CPU's model name, for the machine line of a result."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def verdict(ok: bool) -> str:
    return "[bold green]PASS[/]" if ok else "[bold red]MISS[/]"


def code_version(*paths: str) -> str:
    """The commit measured, and any uncommitted change under ``paths`` (read-only git)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", *paths],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split("\n")
    except Exception:  # not a git checkout: informational only
        return "code: (not a git checkout)"
    changed = [line[3:] for line in dirty if line.strip()]
    extra = f" + uncommitted changes in {', '.join(changed)}" if changed else ""
    return f"code: commit {head}{extra}"


def percentile(ordered: list[float], p: float) -> float:
    """The p-th percentile (0-100) of sorted values, interpolated; NaN if there are none."""
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
