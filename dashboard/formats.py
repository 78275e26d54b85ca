"""How the dashboard writes numbers, rates, durations, moments and the KPIs (no queries, no HTML).

Numbers a browser test reads also carry their machine-readable form, :func:`raw`, in ``data-value``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

# Rates change by percentage points; every other KPI by a relative change.
RATE_KPIS = frozenset({"conversion_rate", "bounce_rate"})


def number(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def rate(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f} %"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def kpi_text(name: str, value: float | None) -> str:
    if name in RATE_KPIS:
        return rate(value)
    if name == "median_session_seconds":
        return duration(value)
    return number(value)


def change_text(name: str, change: float | None) -> str:
    if change is None:
        return "no previous data"
    if name in RATE_KPIS:
        return f"{change * 100:+.1f} pt"
    return f"{change * 100:+.1f} %"


def raw(value: Any) -> str:
    """The machine-readable form of a number for ``data-value`` (empty when there is none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def moment(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    now = now or datetime.now(UTC)
    ago = max(0, int((now - value).total_seconds()))
    if ago < 120:
        relative = "just now"
    elif ago < 7200:
        relative = f"{ago // 60} min ago"
    elif ago < 172_800:
        relative = f"{ago // 3600} h ago"
    else:
        relative = f"{ago // 86400} days ago"
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({relative})"
