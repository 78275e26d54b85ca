"""One ETL run: under the run lock, load new raw objects, copy the shop database's changes (when one is
configured), ``dbt build``, then the data health checks (:mod:`loader.health`) — what the scheduled Lambda does.
Each run is recorded in ``raw.etl_runs`` (the dashboard's Data health page).

The Lambda event may carry the overrides the shop's old ETL understood, for backfills, with its meaning:
``overridePrefix``, ``targetUtcHour`` (with ``scope`` ``hour`` or ``day``), ``targetUtcDate``,
``hoursBack`` (also with ``scope``), plus this project's ``fullRefresh`` and ``shopFullSync``. Extra windows and
unknown fields are logged as warnings and ignored; a known field with a bad value is refused.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from loader import logs
from loader.config import EtlSettings, WarehouseSettings
from loader.health import HealthSummary

OVERRIDES = ("overridePrefix", "targetUtcHour", "targetUtcDate", "hoursBack", "scope", "fullRefresh", "shopFullSync")
# The old ETL's priority when an event gives several: the first of these given wins, the rest are ignored.
WINDOWS = ("overridePrefix", "targetUtcHour", "targetUtcDate", "hoursBack")
# What EventBridge itself puts in a scheduled event; accepted silently.
_EVENTBRIDGE_FIELDS = frozenset({"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"})  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # a numeric string: epoch milliseconds, or hoursBack
_INSTANT = (
    "an ISO-8601 date or instant (e.g. 2026-11-20T07, 2025-12-06T05:00:00.000Z, 2025-12-06T12:00:00+07:00)"
    " or epoch milliseconds (a number or numeric string)"
)
_MAX_HOURS_BACK = 24 * 366


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
    shop_full_sync: bool = False  # re-read every row of the shop database, not only what changed

    @property
    def is_backfill(self) -> bool:
        """Someone asked for this run: skipping it because of the lock must not look like success."""
        return (
            self.since is not None
            or self.until is not None
            or self.prefix is not None
            or self.full_refresh
            or self.shop_full_sync
        )

    @classmethod
    def from_event(cls, event: Any, now: datetime | None = None) -> EtlRequest:
        """Overrides from an EventBridge/console event; an empty or scheduled event is the normal run."""
        if event is None:
            return cls()
        if not isinstance(event, Mapping):
            raise EtlRequestError(f"the event must be a JSON object, got {type(event).__name__}")
        _warn_unknown(event)
        full_refresh, shop_full_sync = event.get("fullRefresh", False), event.get("shopFullSync", False)
        if not isinstance(full_refresh, bool):
            raise EtlRequestError(f"fullRefresh must be true or false, got {full_refresh!r}")
        if not isinstance(shop_full_sync, bool):
            raise EtlRequestError(f"shopFullSync must be true or false, got {shop_full_sync!r}")
        scope = event.get("scope")
        if scope is not None and scope not in ("hour", "day"):
            raise EtlRequestError(f"scope must be 'hour' or 'day', got {scope!r}")
        given = [name for name in WINDOWS if event.get(name) is not None]
        if len(given) > 1:  # the ignored ones are not parsed: they do not run
            logs.log(f"etl event: {', '.join(given[1:])} ignored: {given[0]} takes priority", level=logging.WARNING,
                     used=given[0], ignored=given[1:], priority=list(WINDOWS))  # fmt: skip
        winner = given[0] if given else None
        _warn_idle_scope(scope, winner)
        if winner == "overridePrefix":
            return cls(prefix=_prefix(event[winner]), full_refresh=full_refresh, shop_full_sync=shop_full_sync)
        since = until = None
        if winner == "targetUtcHour":
            since, until = _hours(_instant(event[winner], winner), scope)
        elif winner == "targetUtcDate":
            since, until = _hours(_instant(event[winner], winner), "day")
        elif winner == "hoursBack":
            current = (now or datetime.now(UTC)).astimezone(UTC)
            since, until = _hours(current - timedelta(hours=_hours_back(event[winner])), scope)
        return cls(since=since, until=until, full_refresh=full_refresh, shop_full_sync=shop_full_sync)


def _warn_unknown(event: Mapping[Any, Any]) -> None:
    unknown = sorted(str(name) for name in set(event) - set(OVERRIDES) - _EVENTBRIDGE_FIELDS)
    if unknown:
        hints = {name: known for name in unknown for known in OVERRIDES if name.casefold() == known.casefold()}
        logs.log(f"etl event: unknown field(s) {', '.join(unknown)} ignored", level=logging.WARNING,
                 ignored=unknown, overrides=list(OVERRIDES), did_you_mean=hints or None)  # fmt: skip


def _warn_idle_scope(scope: str | None, winner: str | None) -> None:
    """scope shapes the targetUtcHour or hoursBack hour; with anything else it changes nothing."""
    if scope is None or winner in ("targetUtcHour", "hoursBack") or (winner, scope) == ("targetUtcDate", "day"):
        return
    why = {None: "no targetUtcHour or hoursBack was given", "overridePrefix": "overridePrefix names the objects itself",
           "targetUtcDate": "targetUtcDate is always its whole UTC day"}[winner]  # fmt: skip
    logs.log(f"etl event: scope {scope!r} ignored: {why}", level=logging.WARNING, ignored=["scope"], used=winner)


def _prefix(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EtlRequestError(f"overridePrefix must be a non-empty string, got {value!r}")
    return value.strip()


def _hours(instant: datetime, scope: str | None) -> tuple[datetime, datetime]:
    """The instant's UTC hour (scope hour, the default) or the 24 hours of its UTC day (scope day)."""
    hour = instant.replace(minute=0, second=0, microsecond=0)
    return (hour, hour) if scope != "day" else (hour.replace(hour=0), hour.replace(hour=23))


def _instant(value: Any, name: str) -> datetime:
    """An ISO-8601 instant (converted to UTC; none given: UTC) or epoch milliseconds, as the old ETL took."""
    text = value.strip() if isinstance(value, str) else None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _EPOCH + timedelta(milliseconds=value)
        if text is not None and _NUMBER.fullmatch(text):
            return _EPOCH + timedelta(milliseconds=float(text))
        if text:
            moment = datetime.fromisoformat(text)
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO-8601, or out of datetime's range
        pass
    raise EtlRequestError(f"{name} must be {_INSTANT}, got {value!r}")


def _hours_back(value: Any) -> int:
    """A whole number of hours (a number or numeric string): 0 is the current hour, 1 the one before."""
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        number = Decimal(value)
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = Decimal(value.strip())
    if number is None or number != number.to_integral_value() or not 0 <= number <= _MAX_HOURS_BACK:
        raise EtlRequestError(
            f"hoursBack must be a whole number of hours from 0 (the current hour) to {_MAX_HOURS_BACK},"
            f" as a number or numeric string, got {value!r}"
        )
    return int(number)


@dataclass
class EtlSummary:
    status: Literal["succeeded", "partial", "failed", "skipped"]  # partial: out of time, the next run continues
    seconds: float = 0.0
    load: dict[str, Any] = field(default_factory=dict)
    transform: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    shop: dict[str, Any] = field(default_factory=dict)  # the shop database's sync (status skipped: none configured)
    health: HealthSummary | None = None  # the health checks after the build (None: the build did not run)
    started_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "seconds": self.seconds, "message": self.message,
                "load": self.load, "shop": self.shop, "transform": self.transform,
                "health": self.health.as_dict() if self.health else None}  # fmt: skip

    def line(self) -> str:
        if self.status == "skipped":
            return f"etl skipped: {self.message}"
        load, dbt = self.load, self.transform
        orders = self.shop.get("tables", {}).get("orders", {})
        shop = (
            f" shop {self.shop.get('status')}: {orders.get('read', 0):,} orders read;"
            if self.shop.get("status") not in (None, "skipped")
            else ""
        )
        text = (
            f"etl {self.status} in {self.seconds:.1f}s: {load.get('objects', 0):,} objects, {load.get('events', 0):,} events"
            f" ({load.get('duplicates', 0):,} duplicates, {load.get('rejected', 0):,} rejected);{shop}"
            f" dbt {dbt.get('models_ok', 0)} models, {dbt.get('tests_passed', 0)} tests passed, {dbt.get('tests_failed', 0)} failed"
        )
        if self.health is not None:
            text += f"; {self.health.line()}"
        return text + (f" — {self.message}" if self.message else "")


def run_etl(
    request: EtlRequest,
    settings: EtlSettings,
    warehouse: WarehouseSettings,
    *,
    trigger: str = "cli",
    on_progress: Callable[[int, int], None] | None = None,
    deadline: float | None = None,
) -> EtlSummary:
    """Load, copy the shop database's changes, then build, holding the run lock throughout, on ``warehouse``
    (resolved by the caller: :func:`loader.warehouse.resolve`).

    A failed step is reported in ``status``: dbt does not run after a failed load, and does run after a failed shop
    sync (on the shop rows copied before; the clickstream part is as fresh as ever). The health checks run after
    the build and are reported in ``health``: a break in the data is not a failed run. Only an unreachable
    warehouse or invalid overrides raise.

    ``deadline`` (``time.monotonic()``, the Lambda's end): the load stops taking objects
    ``settings.reserve_seconds`` before it, the rest of the run goes on, and the run is ``partial`` (not failed):
    the next run continues the backlog.
    """
    from loader.health import check_health
    from loader.load import Loader
    from loader.notifications import open_queue
    from loader.rawstore import open_store
    from loader.runlock import lock_holder, run_lock
    from loader.shop_sync import ShopSyncSummary, sync_shop
    from loader.transform import BUILD, run_dbt

    if request.prefix is not None and not request.prefix.startswith(settings.store.prefix):
        raise EtlRequestError(
            f"overridePrefix must start with RAW_PREFIX ({settings.store.prefix}), got {request.prefix!r}"
        )
    started, started_at = time.perf_counter(), datetime.now(UTC)
    with run_lock(warehouse) as (lock_conn, acquired):
        if not acquired:
            holder = lock_holder(lock_conn)
            if request.is_backfill:  # asked for by someone: say it did not happen
                summary = EtlSummary(status="failed", message=f"{holder}; this backfill did not run — invoke it again")
            else:
                summary = EtlSummary(status="skipped", message=holder)
            summary.started_at = started_at
            logs.log("etl", level=logging.WARNING, **summary.as_dict())
            record_run(warehouse, summary, trigger)
            return summary
        store = open_store(settings.store, max_pool_connections=settings.loader.threads + 4)
        queue = open_queue(settings.store)
        loader = Loader(store, warehouse, settings.loader, trigger=trigger, privacy=settings.privacy, queue=queue)
        try:
            loaded = loader.run(
                lock_conn,
                since=request.since,
                until=request.until,
                prefix=request.prefix,
                on_progress=on_progress,
                deadline=None if deadline is None else deadline - settings.reserve_seconds,
            )
        except Exception as error:  # recorded in raw.load_runs; the build would only see a partial delta
            summary = EtlSummary(status="failed", message=f"load failed: {type(error).__name__}: {error}")
            summary.seconds, summary.started_at = round(time.perf_counter() - started, 2), started_at
            logs.log("etl", level=logging.ERROR, **summary.as_dict())
            record_run(warehouse, summary, trigger)
            return summary
        if settings.shop is None:
            shop = ShopSyncSummary(status="skipped", message="no shop database configured (SHOP_DB_URL, SHOP_PG_*)")
        else:
            shop = sync_shop(settings.shop, lock_conn, trigger=trigger, full=request.shop_full_sync)
        dbt_args = [*BUILD, *(["--full-refresh"] if request.full_refresh else [])]
        built = run_dbt(
            dbt_args,
            warehouse,
            project=settings.dbt_project,
            target_path=settings.dbt_target,
            quiet=True,
            json_logs=settings.in_lambda,
        )
        health = check_health(
            warehouse, project=settings.dbt_project, target_path=settings.dbt_target, json_logs=settings.in_lambda
        )
    problems = []
    if loaded.status != "succeeded" and not (loaded.out_of_time and not loaded.failed_objects):
        problems.append(f"load {loaded.status}: {loaded.message}")
    if shop.status == "failed":
        problems.append(f"shop database sync failed: {shop.message}")
    if not built.success:
        problems.append("dbt build failed: " + "; ".join(built.failures[:5] or [built.error or "see the dbt log"]))
    summary = EtlSummary(
        status="failed" if problems else "partial" if loaded.out_of_time else "succeeded",
        seconds=round(time.perf_counter() - started, 2),
        load=loaded.as_dict(),
        transform=built.as_dict(),
        message=" | ".join(problems) or (loaded.message if loaded.out_of_time else None),
        shop=shop.as_dict(),
        health=health,
        started_at=started_at,
    )
    logs.log("etl", level=logging.ERROR if problems else logging.INFO, **summary.as_dict())
    record_run(warehouse, summary, trigger)
    return summary


def record_run(warehouse: WarehouseSettings, summary: EtlSummary, trigger: str) -> None:
    """One row in raw.etl_runs (a warehouse that refuses it costs the record, not the run: logged as a warning)."""
    import psycopg

    from loader.warehouse import connect

    load, dbt, health = summary.load, summary.transform, summary.health
    row = {
        "started_at": summary.started_at or datetime.now(UTC),
        "status": summary.status,
        "trigger": trigger,
        "load_id": load.get("load_id"),
        "load_status": load.get("status"),
        "objects": load.get("objects", 0),
        "events": load.get("events", 0),
        "rejected": load.get("rejected", 0),
        "shop_status": summary.shop.get("status"),
        "models_ok": dbt.get("models_ok", 0),
        "models_failed": dbt.get("models_failed", 0),
        "tests_failed": dbt.get("tests_failed", 0),
        "health_status": health.status if health else None,
        "health_failures": health.failures if health else [],
        "freshness_status": health.freshness if health else None,
        "seconds": summary.seconds,
        "message": summary.message,
    }
    try:
        with connect(warehouse, autocommit=True) as conn:
            conn.execute(
                f"insert into raw.etl_runs ({', '.join(row)}) values ({', '.join(f'%({name})s' for name in row)})",
                row,
            )
    except psycopg.Error as error:
        logs.log(f"etl: the run was not recorded in raw.etl_runs: {error}", level=logging.WARNING)
