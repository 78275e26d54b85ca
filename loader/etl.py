"""One ETL run: under the run lock, load new raw objects, then ``dbt build`` — what the scheduled Lambda does.

The Lambda event may carry the overrides today's ETL understands, for backfills:
``overridePrefix``, ``targetUtcHour`` / ``targetUtcDate`` with ``scope`` (``hour`` or ``day``),
``hoursBack``, and ``fullRefresh``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from loader import logs
from loader.config import LoaderSettings, RawStoreSettings, clickstream_home


class EtlRequestError(ValueError):
    """The event's overrides are invalid; the message names the field."""


class EtlFailed(RuntimeError):
    """The load or a dbt model/test failed (after whatever was loaded had committed)."""


@dataclass(frozen=True)
class EtlRequest:
    since: datetime | None = None
    until: datetime | None = None
    prefix: str | None = None
    full_refresh: bool = False

    @classmethod
    def from_event(cls, event: Mapping[str, Any], now: datetime | None = None) -> EtlRequest:
        """Overrides from an EventBridge/console event; an empty event is the normal scheduled run."""
        now = now or datetime.now(UTC)
        scope = str(event.get("scope") or "hour").lower()
        if scope not in ("hour", "day"):
            raise EtlRequestError(f"scope must be 'hour' or 'day', got {event.get('scope')!r}")
        full_refresh = event.get("fullRefresh", False)
        if not isinstance(full_refresh, bool):
            raise EtlRequestError(f"fullRefresh must be true or false, got {full_refresh!r}")
        prefix = event.get("overridePrefix")
        if prefix is not None and (not isinstance(prefix, str) or not prefix.strip()):
            raise EtlRequestError(f"overridePrefix must be a non-empty string, got {prefix!r}")
        since = until = None
        if event.get("targetUtcDate") is not None:
            day = _parse(event["targetUtcDate"], "targetUtcDate", ("%Y-%m-%d",))
            since, until = day, day + timedelta(hours=23)
        elif event.get("targetUtcHour") is not None:
            hour = _parse(
                event["targetUtcHour"],
                "targetUtcHour",
                ("%Y-%m-%dT%H", "%Y-%m-%d %H", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S"),
            )
            hour = hour.replace(minute=0, second=0, microsecond=0)
            since, until = (hour, hour) if scope == "hour" else (hour.replace(hour=0), hour.replace(hour=23))
        elif event.get("hoursBack") is not None:
            hours = event["hoursBack"]
            if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 24 * 366:
                raise EtlRequestError(f"hoursBack must be a whole number of hours from 1 to 8784, got {hours!r}")
            since, until = now - timedelta(hours=hours), now
        return cls(since=since, until=until, prefix=prefix.strip() if prefix else None, full_refresh=full_refresh)


def _parse(value: Any, name: str, formats: tuple[str, ...]) -> datetime:
    if isinstance(value, str):
        text = value.strip().replace("+00:00", "Z") if value.strip().endswith("+00:00") else value.strip()
        for fmt in formats:
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
    raise EtlRequestError(f"{name} must look like {formats[0].replace('%', '')}, got {value!r}")


@dataclass
class EtlSummary:
    status: str  # succeeded | failed | skipped
    seconds: float = 0.0
    load: dict[str, Any] = field(default_factory=dict)
    transform: dict[str, Any] = field(default_factory=dict)
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "seconds": self.seconds, "message": self.message,
                "load": self.load, "transform": self.transform}  # fmt: skip

    def line(self) -> str:
        if self.status == "skipped":
            return f"etl skipped: {self.message}"
        load, dbt = self.load, self.transform
        text = (
            f"etl {self.status} in {self.seconds:.1f}s: {load.get('objects', 0):,} objects, {load.get('events', 0):,} events"
            f" ({load.get('duplicates', 0):,} duplicates, {load.get('rejected', 0):,} rejected);"
            f" dbt {dbt.get('models_ok', 0)} models, {dbt.get('tests_passed', 0)} tests passed, {dbt.get('tests_failed', 0)} failed"
        )
        return text + (f" — {self.message}" if self.message else "")


def run_etl(
    request: EtlRequest, *, trigger: str = "cli", on_progress: Callable[[int, int], None] | None = None
) -> EtlSummary:
    """Load, then build, holding the run lock throughout. Never raises for a failed step: see ``status``."""
    from loader.load import Loader, try_run_lock
    from loader.rawstore import open_store
    from loader.transform import BUILD, run_dbt
    from loader.warehouse import connect, resolve

    started = time.perf_counter()
    warehouse = resolve()
    loader_settings = LoaderSettings.from_env()
    with connect(warehouse, autocommit=True) as lock_conn:
        if not try_run_lock(lock_conn):
            summary = EtlSummary(status="skipped", message="another run holds the lock")
            logs.log("etl", **summary.as_dict())
            return summary
        store = open_store(RawStoreSettings.from_env(), max_pool_connections=loader_settings.threads + 4)
        loaded = Loader(store, warehouse, loader_settings, trigger=trigger).run(
            since=request.since,
            until=request.until,
            prefix=request.prefix,
            on_progress=on_progress,
            locked_connection=lock_conn,
        )
        summary = EtlSummary(status="running", load=loaded.as_dict())
        dbt_args = [*BUILD, *(["--full-refresh"] if request.full_refresh else [])]
        built = run_dbt(dbt_args, warehouse, target_path=clickstream_home(os.environ) / "dbt-target", quiet=True)
        summary.transform = built.as_dict()
    summary.seconds = round(time.perf_counter() - started, 2)
    problems = []
    if loaded.status not in ("succeeded",):
        problems.append(f"load {loaded.status}: {loaded.message}")
    if not built.success:
        problems.append("dbt build failed: " + "; ".join(built.failures[:5] or [built.error or "see the dbt log"]))
    summary.status = "failed" if problems else "succeeded"
    summary.message = " | ".join(problems) or None
    logs.log("etl", level=logging.ERROR if problems else logging.INFO, **summary.as_dict())
    return summary
