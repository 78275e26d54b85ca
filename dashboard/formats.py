"""How the dashboard writes numbers, money, rates, durations, moments and the KPIs (no queries, no HTML).

Money is in VND, written as the shop writes it (:func:`vnd`: "3.980.000 ₫"), or shortened for chart axes and labels
(:func:`vnd_short`: "12,5 tr ₫"). Numbers a browser test reads also carry their machine-readable form, :func:`raw`,
in ``data-value``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# Rates change by percentage points; every other KPI by a relative change.
RATE_KPIS = frozenset({"conversion_rate", "bounce_rate", "capture_rate", "revenue_capture_rate", "repeat_rate"})
# KPIs in VND.
MONEY_KPIS = frozenset({"revenue", "average_order_value", "ad_spend", "revenue_per_customer"})
# KPIs that are averages of counts (one decimal).
DECIMAL_KPIS = frozenset({"orders_per_customer"})
# Shortened amounts: the largest unit the amount reaches (Vietnamese: tỷ = 10⁹, triệu = 10⁶, nghìn = 10³).
VND_UNITS = ((1e9, "tỷ"), (1e6, "tr"), (1e3, "nghìn"))


def number(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _vietnamese(text: str) -> str:
    """``1,234.5`` written the Vietnamese way: ``1.234,5``."""
    return text.translate(str.maketrans(",.", ".,"))


def vnd(value: float | Decimal | None) -> str:
    """An amount in VND as the shop writes it: ``3.980.000 ₫`` (dots between thousands, whole dong, halves rounded
    away from zero); ``–`` when there is none."""
    if _missing(value):
        return "–"
    assert value is not None
    whole = int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f"{whole:,} ₫".replace(",", ".")


def vnd_short(value: float | Decimal | None, *, scale: float | None = None, digits: int = 1) -> str:
    """An amount in VND shortened for a chart: ``12,5 tr ₫``, ``1,2 tỷ ₫``, ``450 nghìn ₫`` (at most ``digits``
    decimals, trailing zeros dropped); below a thousand as :func:`vnd` writes it.

    ``scale`` (1, 1e3, 1e6 or 1e9) writes every amount in one unit, as an axis's ticks need; by default the largest
    unit the rounded amount reaches.
    """
    if _missing(value):
        return "–"
    assert value is not None
    amount = float(value)
    if amount == 0:
        return "0 ₫"
    units = [(s, name) for s, name in VND_UNITS if scale is None or s == scale]
    if scale is not None and not units:
        if scale != 1:
            raise ValueError(f"scale must be 1, 1e3, 1e6 or 1e9, got {scale!r}")
        return vnd(amount)
    for size, name in units:
        scaled = round(abs(amount) / size, digits)
        if scaled >= 1 or scale is not None:
            text = f"{scaled:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{scaled:,.0f}"
            sign = "-" if amount < 0 and scaled else ""
            return f"{sign}{_vietnamese(text)} {name} ₫"
    return vnd(amount)


def rate(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f} %"


def decimal(value: float | Decimal | None, digits: int = 1) -> str:
    """A count that can be fractional (an average, orders credited in parts): ``1,234.5``; ``–`` when there is
    none."""
    if _missing(value):
        return "–"
    assert value is not None
    return f"{float(value):,.{digits}f}"


def roas(value: float | Decimal | None) -> str:
    """Return on ad spend (attributed revenue ÷ spend) as a multiple: ``3.42×``; ``–`` without spend."""
    if _missing(value):
        return "–"
    assert value is not None
    return f"{float(value):,.2f}×"


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
    if name in MONEY_KPIS:
        return vnd(value)
    if name in RATE_KPIS:
        return rate(value)
    if name in DECIMAL_KPIS:
        return decimal(value)
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
