"""One ETL run: under the run lock, load new raw objects, then ``dbt build`` — what the scheduled Lambda does.

The Lambda event may carry the overrides today's ETL understands, for backfills:
``overridePrefix``, ``targetUtcHour`` (with ``scope`` ``hour`` or ``day``), ``targetUtcDate``,
``hoursBack``, and ``fullRefresh``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from loader import logs
from loader.config import EtlSettings

OVERRIDES = ("overridePrefix", "targetUtcHour", "targetUtcDate", "hoursBack", "scope", "fullRefresh")
# What EventBridge itself puts in a scheduled event; anything else must be an override.
_EVENTBRIDGE_FIELDS = frozenset({"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"})  # fmt: skip
_HOUR_FORMATS = ("%Y-%m-%dT%H", "%Y-%m-%d %H", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S")


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

    @property
    def is_backfill(self) -> bool:
        """Someone asked for this run: skipping it because of the lock must not look like success."""
        return self.since is not None or self.until is not None or self.prefix is not None or self.full_refresh

    @classmethod
    def from_event(cls, event: Any, now: datetime | None = None) -> EtlRequest:
        """Overrides from an EventBridge/console event; an empty or scheduled event is the normal run."""
        if event is None:
            return cls()
        if not isinstance(event, Mapping):
            raise EtlRequestError(f"the event must be a JSON object, got {type(event).__name__}")
        unknown = sorted(set(event) - set(OVERRIDES) - _EVENTBRIDGE_FIELDS)
        if unknown:
            raise EtlRequestError(f"unknown field(s) {', '.join(unknown)}; the overrides are {', '.join(OVERRIDES)}")
        now = now or datetime.now(UTC)
        full_refresh = event.get("fullRefresh", False)
        if not isinstance(full_refresh, bool):
            raise EtlRequestError(f"fullRefresh must be true or false, got {full_refresh!r}")
        prefix = event.get("overridePrefix")
        if prefix is not None and (not isinstance(prefix, str) or not prefix.strip()):
            raise EtlRequestError(f"overridePrefix must be a non-empty string, got {prefix!r}")
        windows = [name for name in ("targetUtcHour", "targetUtcDate", "hoursBack") if event.get(name) is not None]
        if len(windows) > 1 or (windows and prefix is not None):
            given = ", ".join(([] if prefix is None else ["overridePrefix"]) + windows)
            raise EtlRequestError(f"give one of overridePrefix, targetUtcHour, targetUtcDate, hoursBack; got {given}")
        scope = event.get("scope")
        if scope is not None and windows != ["targetUtcHour"]:
            raise EtlRequestError("scope only goes with targetUtcHour (hour: that hour; day: its whole UTC day)")
        if scope is not None and scope not in ("hour", "day"):
            raise EtlRequestError(f"scope must be 'hour' or 'day', got {scope!r}")
        since = until = None
        if event.get("targetUtcDate") is not None:
            day = _parse(event["targetUtcDate"], "targetUtcDate", ("%Y-%m-%d",), "YYYY-MM-DD (e.g. 2026-11-20)")
            since, until = day, day + timedelta(hours=23)
        elif event.get("targetUtcHour") is not None:
            hour = _parse(event["targetUtcHour"], "targetUtcHour", _HOUR_FORMATS, "YYYY-MM-DDTHH (e.g. 2026-11-20T07)")
            hour = hour.replace(minute=0, second=0, microsecond=0)
            since, until = (hour, hour) if scope != "day" else (hour.replace(hour=0), hour.replace(hour=23))
        elif event.get("hoursBack") is not None:
            hours = event["hoursBack"]
            if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 24 * 366:
                raise EtlRequestError(f"hoursBack must be a whole number of hours from 1 to 8784, got {hours!r}")
            since, until = now - timedelta(hours=hours), now
        return cls(since=since, until=until, prefix=prefix.strip() if prefix else None, full_refresh=full_refresh)


def _parse(value: Any, name: str, formats: tuple[str, ...], shape: str) -> datetime:
    if isinstance(value, str):
        text = value.strip().removesuffix("+00:00")
        for fmt in formats:
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=UTC)
            except ValueError:
                continue
    raise EtlRequestError(f"{name} must look like {shape}, got {value!r}")


@dataclass
class EtlSummary:
    status: Literal["succeeded", "failed", "skipped"]
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
    request: EtlRequest,
    settings: EtlSettings,
    *,
    trigger: str = "cli",
    on_progress: Callable[[int, int], None] | None = None,
) -> EtlSummary:
    """Load, then build, holding the run lock throughout.

    A failed step is reported in ``status`` (dbt does not run after a failed load); only an
    unreachable warehouse or invalid overrides raise.
    """
    from loader.load import Loader, lock_holder, run_lock
    from loader.rawstore import open_store
    from loader.transform import BUILD, run_dbt
    from loader.warehouse import resolve

    if request.prefix is not None and not request.prefix.startswith(settings.store.prefix):
        raise EtlRequestError(
            f"overridePrefix must start with RAW_PREFIX ({settings.store.prefix}), got {request.prefix!r}"
        )
    started = time.perf_counter()
    warehouse = resolve()
    with run_lock(warehouse) as (lock_conn, acquired):
        if not acquired:
            holder = lock_holder(lock_conn)
            if request.is_backfill:  # asked for by someone: say it did not happen
                summary = EtlSummary(status="failed", message=f"{holder}; this backfill did not run — invoke it again")
            else:
                summary = EtlSummary(status="skipped", message=holder)
            logs.log("etl", level=logging.WARNING, **summary.as_dict())
            return summary
        store = open_store(settings.store, max_pool_connections=settings.loader.threads + 4)
        loader = Loader(store, warehouse, settings.loader, trigger=trigger, privacy=settings.privacy)
        try:
            loaded = loader.run(
                since=request.since,
                until=request.until,
                prefix=request.prefix,
                on_progress=on_progress,
                locked_connection=lock_conn,
            )
        except Exception as error:  # recorded in raw.load_runs; the build would only see a partial delta
            summary = EtlSummary(status="failed", message=f"load failed: {type(error).__name__}: {error}")
            summary.seconds = round(time.perf_counter() - started, 2)
            logs.log("etl", level=logging.ERROR, **summary.as_dict())
            return summary
        dbt_args = [*BUILD, *(["--full-refresh"] if request.full_refresh else [])]
        built = run_dbt(
            dbt_args,
            warehouse,
            project=settings.dbt_project,
            target_path=settings.dbt_target,
            quiet=True,
            json_logs=settings.in_lambda,
        )
    problems = []
    if loaded.status != "succeeded":
        problems.append(f"load {loaded.status}: {loaded.message}")
    if not built.success:
        problems.append("dbt build failed: " + "; ".join(built.failures[:5] or [built.error or "see the dbt log"]))
    summary = EtlSummary(
        status="failed" if problems else "succeeded",
        seconds=round(time.perf_counter() - started, 2),
        load=loaded.as_dict(),
        transform=built.as_dict(),
        message=" | ".join(problems) or None,
    )
    logs.log("etl", level=logging.ERROR if problems else logging.INFO, **summary.as_dict())
    return summary
