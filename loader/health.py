"""Data health: the latest hours of ``marts.data_health_hourly`` (what ``clickstream health`` prints and the ETL
publishes as CloudWatch metrics), and the health checks the ETL runs after its build (the dbt tests tagged
``health`` and the source freshness of ``raw.events``).

An anomaly is *open* when it is in one of the latest :data:`OPEN_HOURS` complete hours (or the current hour, for the
first-seen names and fields, which need no complete hour): the same hours the health tests judge (dbt var
``health_alert_hours``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import psycopg

    from loader.config import WarehouseSettings

MART = "marts.data_health_hourly"
OPEN_HOURS = 3  # dbt_project.yml's health_alert_hours
COLUMNS = (
    "hour_at",
    "is_complete",
    "as_of_at",
    "events",
    "expected_events",
    "expected_events_lower",
    "expected_events_upper",
    "events_score",
    "checkout_complete_events",
    "expected_checkouts",
    "bot_share",
    "rejected_events",
    "rejected_share",
    "late_share",
    "unknown_event_names",
    "new_event_names",
    "new_payload_fields",
    "capture_rate_24h",
    "anomalies",
)


class HealthNotBuilt(RuntimeError):
    """The mart is missing (the pipeline has not built it here yet) or empty (no data)."""


@dataclass(frozen=True)
class HealthHour:
    """One hour of ``marts.data_health_hourly``, as ``clickstream health`` and the metrics need it."""

    hour_at: datetime
    is_complete: bool
    as_of_at: datetime
    events: int
    expected_events: float | None
    expected_events_lower: float | None
    expected_events_upper: float | None
    events_score: float | None
    checkout_complete_events: int
    expected_checkouts: float | None
    bot_share: float | None
    rejected_events: int
    rejected_share: float | None
    late_share: float | None
    unknown_event_names: tuple[str, ...]
    new_event_names: tuple[str, ...]
    new_payload_fields: tuple[str, ...]
    capture_rate_24h: float | None
    anomalies: tuple[str, ...]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> HealthHour:
        values = dict(zip(COLUMNS, row, strict=True))
        for name, value in values.items():
            if isinstance(value, Decimal):
                values[name] = float(value)
            elif isinstance(value, list):
                values[name] = tuple(value)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(self).items()}


def latest_hours(conn: psycopg.Connection[Any], hours: int) -> list[HealthHour]:
    """The latest ``hours`` hours of the mart (and the current, incomplete one), oldest first; raises
    :class:`HealthNotBuilt` when the mart is missing or empty."""
    if conn.execute("select to_regclass(%s)", (MART,)).fetchone() == (None,):
        raise HealthNotBuilt(
            f"{MART} is not built in this warehouse: run `clickstream etl` (or `clickstream transform`) first"
        )
    rows = conn.execute(
        f"select {', '.join(COLUMNS)} from {MART} where hour_at >= ("
        f"  select coalesce(min(hour_at), '-infinity') from ("
        f"    select hour_at from {MART} where is_complete order by hour_at desc limit %s) as latest"
        f") order by hour_at",
        (hours,),
    ).fetchall()
    if not rows:
        raise HealthNotBuilt(f"{MART} has no hours yet: the warehouse holds no events")
    return [HealthHour.from_row(row) for row in rows]


def open_anomalies(hours: Sequence[HealthHour], open_hours: int = OPEN_HOURS) -> list[HealthHour]:
    """The hours among the latest ``open_hours`` complete ones (and the current hour) that have an anomaly."""
    complete = [hour for hour in hours if hour.is_complete][-open_hours:]
    since = complete[0].hour_at if complete else None
    return [hour for hour in hours if hour.anomalies and (since is None or hour.hour_at >= since)]


def latest_complete(hours: Sequence[HealthHour]) -> HealthHour | None:
    complete = [hour for hour in hours if hour.is_complete]
    return complete[-1] if complete else None


@dataclass
class HealthSummary:
    """The ETL's health step: the checks (dbt tests tagged health: passed, warned, failed), raw.events' source
    freshness, the latest complete hour and the anomalies open in the latest hours."""

    status: Literal["pass", "warn", "error", "skipped"]
    checks_passed: int = 0
    checks_warned: int = 0
    checks_failed: int = 0
    failures: list[str] = field(default_factory=list)  # checks that warned or failed, by name
    freshness: str | None = None  # pass, warn, error (dbt source freshness of raw.events)
    latest: dict[str, Any] | None = None  # HealthHour.as_dict() of the latest complete hour
    open_anomalies: list[str] = field(default_factory=list)  # "2026-11-24T13:00Z volume_drop", ...
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        if self.status == "skipped":
            return f"health skipped: {self.message}"
        text = (
            f"health {self.status}: {self.checks_passed} checks passed, {self.checks_warned} warned,"
            f" {self.checks_failed} failed; raw.events freshness {self.freshness or 'unknown'}"
        )
        if self.open_anomalies:
            text += "; open: " + ", ".join(self.open_anomalies)
        return text


def _name(failure: str) -> str:
    """``test health_x: message`` → ``health_x``."""
    return failure.split(":", 1)[0].removeprefix("test ").removeprefix("unit_test ")


def check_health(
    warehouse: WarehouseSettings, *, project: Path, target_path: Path | None = None, json_logs: bool = False
) -> HealthSummary:
    """Run the health checks and the source freshness of raw.events, then read the latest hours of the mart."""
    from loader.transform import FRESHNESS, HEALTH_CHECKS, run_dbt
    from loader.warehouse import connect

    options: dict[str, Any] = {"project": project, "target_path": target_path, "quiet": True, "json_logs": json_logs}
    checks = run_dbt(list(HEALTH_CHECKS), warehouse, **options)
    fresh = run_dbt(list(FRESHNESS), warehouse, **options)
    summary = HealthSummary(
        status="pass",
        checks_passed=checks.tests_passed,
        checks_warned=checks.tests_warned,
        checks_failed=checks.tests_failed,
        failures=[_name(failure) for failure in [*checks.failures, *checks.warnings]],
        freshness=fresh.freshness.get("raw.events") or ("error" if not fresh.success else None),
    )
    if checks.error:
        summary.message = f"the health checks could not run: {checks.error}"
    try:
        with connect(warehouse, autocommit=True) as conn:
            hours = latest_hours(conn, OPEN_HOURS)
    except HealthNotBuilt as error:
        summary.message = str(error)
        hours = []
    latest = latest_complete(hours)
    summary.latest = latest.as_dict() if latest else None
    summary.open_anomalies = [
        f"{hour.hour_at:%Y-%m-%dT%H:%MZ} {' '.join(hour.anomalies)}" for hour in open_anomalies(hours)
    ]
    if summary.checks_failed or summary.freshness == "error" or checks.error:
        summary.status = "error"
    elif summary.checks_warned or summary.freshness == "warn" or summary.open_anomalies:
        summary.status = "warn"
    return summary
