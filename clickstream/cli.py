"""``clickstream``: the command line of the platform (human output; JSON where a machine reads it)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from clickstream.progress import progress
from loader.config import ConfigError, IngestSettings, RawStoreSettings, clickstream_home

T = TypeVar("T")


class CliError(Exception):
    """A failure the user can act on: printed without a traceback, exit code 1."""


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO-8601 time such as 2026-11-24T13:00Z, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- commands -------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from loader import logs
    from loader.ingest import Collector
    from loader.serve import make_server

    logs.configure()
    collector = Collector.from_env()
    try:
        server = make_server(collector, args.host, args.port)
    except OSError as error:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
    print(
        f"collector listening on http://{args.host}:{server.server_port}/clickstream → {collector.store.location}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from loader.generate import TrafficGenerator
    from loader.replay import generate_traffic

    store, privacy = RawStoreSettings.from_env(), IngestSettings.from_env()
    now = args.now or datetime.now(UTC)
    generator = TrafficGenerator(
        events=args.events, days=args.days, seed=args.seed, now=now, non_secure_origin=args.non_secure_origin
    )
    with progress("generating traffic", args.events) as advance:
        generated = generate_traffic(generator, store, privacy, on_request=lambda: advance(1))
    print(
        f"generated {generated.requests:,} requests: {generated.events_accepted:,} events stored, "
        f"{generated.events_rejected:,} rejected by the contract (on purpose), into {generated.location} "
        f"in {generated.seconds}s"
    )
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from loader.config import WarehouseSettings
    from loader.warehouse import EmbeddedWarehouse, resolve

    if args.action == "url":
        print(resolve().url())
        return 0
    if args.action == "env":
        import shlex

        from loader.transform import dbt_environment

        for name, value in dbt_environment(resolve()).items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    if args.action == "migrate":
        from loader.schema import migrate_warehouse

        applied = migrate_warehouse(resolve())
        print(f"warehouse tables up to date ({applied} migration(s) applied)")
        return 0
    if args.action == "legacy-login":
        from loader.legacy import LEGACY_ROLE, LegacyLogin, ensure_legacy_login
        from loader.warehouse import connect

        settings = resolve()
        with connect(settings, autocommit=True) as conn:
            password = ensure_legacy_login(conn)
        print(LegacyLogin(settings.host, settings.port, settings.database, LEGACY_ROLE, password).lines())
        return 0
    from loader.warehouse import EmbeddedShopDatabase

    if WarehouseSettings.from_env() is not None:
        raise CliError("the warehouse is configured by DW_URL/DW_PG_HOST; only the embedded one can be stopped here")
    stopped = EmbeddedWarehouse(clickstream_home(os.environ)).stop()
    print("embedded warehouse stopped" if stopped else "embedded warehouse was not running")
    if EmbeddedShopDatabase(clickstream_home(os.environ)).stop():
        print("embedded shop database stopped")
    return 0


def cmd_ad_spend(args: argparse.Namespace) -> int:
    from loader.ad_spend import AdSpendError, import_spend
    from loader.schema import migrate
    from loader.warehouse import connect, resolve

    with connect(resolve(), autocommit=True) as conn:
        migrate(conn)
        try:
            added, replaced = import_spend(conn, args.file)
        except AdSpendError as error:
            raise CliError(str(error)) from None
    print(f"ad spend imported from {args.file}: {added:,} rows added, {replaced:,} replaced (the next build uses them)")
    return 0


def cmd_shop(args: argparse.Namespace) -> int:
    from loader.runlock import run_lock
    from loader.shop_sync import sync_shop
    from loader.warehouse import configured_shop, resolve

    shop = configured_shop()
    if shop is None:
        raise CliError(
            "no shop database configured: set SHOP_DB_URL (the storefront's Prisma DATABASE_URL works) or SHOP_PG_HOST"
            " and friends (`make demo` creates a local one)"
        )
    if args.action == "url":
        print(shop.url())
        return 0
    warehouse = resolve()
    with run_lock(warehouse) as (lock_conn, acquired):
        if not acquired:
            from loader.runlock import lock_holder

            print(f"{lock_holder(lock_conn)}; try again when it has finished", file=sys.stderr)
            return 1
        summary = sync_shop(shop, lock_conn, trigger="cli", full=args.full)
    if args.json:
        print_json(summary.as_dict())
    else:
        print(summary.line())
    return 0 if summary.status == "succeeded" else 1


def run_load(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    prefix: str | None = None,
    trigger: str = "cli",
    show_progress: bool = True,
) -> Any:
    from loader.config import LoaderSettings
    from loader.load import Loader, LoadSummary
    from loader.notifications import open_queue
    from loader.rawstore import open_store
    from loader.runlock import run_lock
    from loader.warehouse import resolve

    settings = LoaderSettings.from_env()
    store = RawStoreSettings.from_env()
    warehouse = resolve()
    loader = Loader(
        open_store(store, max_pool_connections=settings.threads + 4),
        warehouse,
        settings,
        trigger=trigger,
        privacy=IngestSettings.from_env(),
        queue=open_queue(store),
    )
    with run_lock(warehouse) as (lock_conn, acquired):
        if not acquired:
            return LoadSummary.lock_taken()
        with progress("loading objects", None) as advance:
            return loader.run(
                lock_conn,
                since=since,
                until=until,
                prefix=prefix,
                on_progress=(lambda objects, events: advance(objects)) if show_progress else None,
            )


def _check_backfill(args: argparse.Namespace) -> None:
    if args.prefix is not None and (args.since is not None or args.until is not None):
        raise CliError("give either --prefix or --since/--until, not both")


def cmd_load(args: argparse.Namespace) -> int:
    _check_backfill(args)
    summary = run_load(since=args.since, until=args.until, prefix=args.prefix)
    if args.json:
        print_json(summary.as_dict())
    else:
        print(summary.line())
    return 0 if summary.status in ("succeeded", "skipped") else 1


# dbt commands that write to the warehouse: they take the run lock, like the scheduled run.
_WRITING_DBT_COMMANDS = frozenset({"run", "build", "seed", "snapshot"})


@contextmanager
def _run_lock(settings: Any) -> Iterator[bool]:
    """Hold the run lock for the block; yields False (and holds nothing) if another run has it."""
    from loader.runlock import lock_holder, run_lock

    with run_lock(settings) as (lock_conn, acquired):
        if not acquired:
            print(f"{lock_holder(lock_conn)}; try again when it has finished", file=sys.stderr)
        yield acquired


def cmd_transform(args: argparse.Namespace) -> int:
    from loader.config import dbt_project_dir
    from loader.transform import BUILD, run_dbt
    from loader.warehouse import resolve

    settings = resolve()
    with _run_lock(settings) as locked:
        if not locked:
            return 0
        summary = run_dbt(
            [*BUILD, *(["--full-refresh"] if args.full_refresh else [])], settings, project=dbt_project_dir(os.environ)
        )
    print(summary.line())
    for failure in summary.failures:
        print(f"  - {failure}")
    return 0 if summary.success else 1


def cmd_dbt(args: argparse.Namespace) -> int:
    from loader.config import dbt_project_dir
    from loader.transform import run_dbt
    from loader.warehouse import resolve

    if not args.dbt_args:
        raise CliError("give dbt arguments, e.g. `clickstream dbt run --select fct_sessions+`")
    settings = resolve()
    project = dbt_project_dir(os.environ)
    if args.dbt_args[0] not in _WRITING_DBT_COMMANDS:
        return 0 if run_dbt(args.dbt_args, settings, project=project).success else 1
    with _run_lock(settings) as locked:  # a concurrent scheduled run would see half-built models
        if not locked:
            return 1
        return 0 if run_dbt(args.dbt_args, settings, project=project).success else 1


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(value: str) -> T:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
        if not number > 0:  # type: ignore[operator]
            raise argparse.ArgumentTypeError(f"must be more than 0, got {value!r}")
        return number

    return parse


def _parse_every(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(value[:-1]) * units[value[-1]] if value[-1] in units else float(value)
    except (ValueError, IndexError, KeyError):
        raise argparse.ArgumentTypeError(f"expected an interval such as 30m, 1h or 90s, got {value!r}") from None
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"the interval must be at least 1 second, got {value!r}")
    return seconds


def cmd_etl(args: argparse.Namespace) -> int:
    import psycopg

    from loader.config import EtlSettings
    from loader.etl import EtlRequest, EtlRequestError, run_etl
    from loader.rawstore import StoreError
    from loader.warehouse import WarehouseError, configured_shop, resolve

    _check_backfill(args)
    settings = dataclasses.replace(EtlSettings.from_env(), shop=configured_shop())  # the demo's shop when none set
    warehouse = resolve()  # once, like a warm Lambda: every run of --every connects anew
    request = EtlRequest(
        since=args.since,
        until=args.until,
        prefix=args.prefix,
        full_refresh=args.full_refresh,
        shop_full_sync=args.shop_full_sync,
    )

    def once() -> bool:
        with progress("loading objects", None) as advance:
            summary = run_etl(request, settings, warehouse, on_progress=lambda objects, events: advance(objects))
        if args.json:
            print_json(summary.as_dict())
        else:
            print(f"{datetime.now().astimezone():%Y-%m-%d %H:%M:%S} {summary.line()}", flush=True)
        return summary.status != "failed"

    if args.every is None:
        return 0 if once() else 1
    next_start = time.monotonic()
    while True:  # the local EventBridge: a failed run is reported and the schedule goes on
        try:
            once()
        except (ConfigError, EtlRequestError, StoreError, WarehouseError, psycopg.Error) as error:
            print(f"{datetime.now().astimezone():%Y-%m-%d %H:%M:%S} etl failed: {error}", file=sys.stderr, flush=True)
        request = EtlRequest()  # later runs: the normal incremental run
        next_start = max(next_start + args.every, time.monotonic())  # a run longer than the interval: start now
        time.sleep(max(0.0, next_start - time.monotonic()))


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _health_table(hours: Sequence[Any]) -> str:
    """The hours as a table, anomalous ones marked with ``!``."""
    header = ("", "hour (UTC)", "events", "expected", "score", "checkouts", "bots", "rejected", "late", "capture 24h",
              "anomalies")  # fmt: skip
    rows = [header]
    for hour in hours:
        expected = "–" if hour.expected_events is None else f"{hour.expected_events:,.0f}"
        if hour.expected_events_lower is not None and hour.expected_events_upper is not None:
            expected += f" ({hour.expected_events_lower:,.0f}–{hour.expected_events_upper:,.0f})"
        rows.append((
            "!" if hour.anomalies else ("…" if not hour.is_complete else ""),
            f"{hour.hour_at:%Y-%m-%d %H:%M}",
            f"{hour.events:,}",
            expected,
            "–" if hour.events_score is None else f"{hour.events_score:+.1f}",
            f"{hour.checkout_complete_events:,}",
            _share(hour.bot_share),
            f"{hour.rejected_events:,}",
            _share(hour.late_share),
            _share(hour.capture_rate_24h),
            ", ".join(hour.anomalies) + ("".join(f" {name}" for name in hour.new_event_names)),
        ))  # fmt: skip
    widths = [max(len(row[index]) for row in rows) for index in range(len(header))]
    numeric = {2, 3, 4, 5, 6, 7, 8, 9}
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    )


def cmd_health(args: argparse.Namespace) -> int:
    from loader.health import HealthNotBuilt, latest_hours, open_anomalies
    from loader.warehouse import connect, resolve

    try:
        with connect(resolve(), autocommit=True) as conn:
            hours = latest_hours(conn, args.hours)
    except HealthNotBuilt as error:
        print(f"clickstream: {error}", file=sys.stderr)
        return 2
    found = open_anomalies(hours, args.open_hours)
    if args.json:
        print_json({"hours": [hour.as_dict() for hour in hours], "open": [hour.as_dict() for hour in found]})
        return 1 if found else 0
    as_of = hours[-1].as_of_at
    print(f"data health as of {as_of:%Y-%m-%d %H:%M} UTC (the latest load), marts.data_health_hourly:")
    print(_health_table(hours))
    print("(! anomaly, … the current hour, not judged yet; expected: the median of the same hour of the last 4 weeks"
          " and the band the score accepts)")  # fmt: skip
    if found:
        print(f"OPEN: {len(found)} anomalous hour(s) among the latest {args.open_hours} complete hours: "
              + "; ".join(f"{hour.hour_at:%Y-%m-%d %H:%M} {', '.join(hour.anomalies)}" for hour in found))  # fmt: skip
        return 1
    print(f"healthy: no anomaly in the latest {args.open_hours} complete hours")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from dashboard.serve import run
    from loader.warehouse import resolve

    settings = resolve()
    print(f"dashboard on http://{args.host}:{args.port}/ reading {settings.url()}", file=sys.stderr, flush=True)
    run(settings, host=args.host, port=args.port)
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from loader.config import dbt_project_dir
    from loader.transform import generate_docs, serve_docs
    from loader.warehouse import resolve

    settings = resolve()
    project = dbt_project_dir(os.environ)
    generated = generate_docs(settings, project=project)
    if not generated.success:
        detail = generated.error or "; ".join(generated.failures[:5]) or "see the dbt log"
        raise CliError(f"dbt docs generate failed: {detail} (the docs need built models: `clickstream transform`)")
    if args.generate_only:
        print(f"dbt docs generated in {generated.seconds:.1f}s from {settings.url()}")
        return 0
    print(f"dbt docs on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    return 0 if serve_docs(settings, project=project, host=args.host, port=args.port).success else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from clickstream import demo

    return demo.run(events=args.events, days=args.days, home=clickstream_home(os.environ))


# -- parser ---------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clickstream", description="Clickstream ELT warehouse for the shop.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the local collector (POST /clickstream)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(func=cmd_serve)

    generate = sub.add_parser("generate", help="generate synthetic shop traffic into the raw lake")
    generate.add_argument("--events", type=_positive(int), default=50_000, help="number of events (default 50000)")
    generate.add_argument("--days", type=_positive(float), default=14, help="spread over the past D days (default 14)")
    generate.add_argument("--seed", type=int, default=1, help="random seed; same seed, same traffic (default 1)")
    generate.add_argument("--now", type=_parse_time, default=None, help="end of the period (default: now)")
    generate.add_argument(
        "--non-secure-origin",
        action="store_true",
        help="ids as the tracker makes them on http:// (epoch ms and 8 hex digits, not UUIDs)",
    )
    generate.set_defaults(func=cmd_generate)

    db = sub.add_parser("db", help="the warehouse connection (embedded unless DW_URL/DW_PG_HOST is set)")
    db.add_argument(
        "action",
        choices=["url", "env", "migrate", "legacy-login", "stop"],
        help="url: print the URL in use (starts the embedded one); env: DW_PG_* exports for dbt/psql;"
        " migrate: bring the warehouse's own tables (raw, dbt state) up to date (loads and dbt commands do it too);"
        " legacy-login: (re)create the old dashboard's read-only login with a new password and print its settings; stop",
    )
    db.set_defaults(func=cmd_db)

    load = sub.add_parser("load", help="load new raw objects into the warehouse (schema raw), exactly once")
    load.add_argument("--since", type=_parse_time, help="backfill: partitions from this hour (ISO-8601, UTC)")
    load.add_argument("--until", type=_parse_time, help="backfill: partitions up to this hour, inclusive")
    load.add_argument("--prefix", help="backfill: every object under this key prefix")
    load.add_argument("--json", action="store_true", help="print the summary as JSON")
    load.set_defaults(func=cmd_load)

    transform = sub.add_parser("transform", help="dbt build: staging → intermediate → marts (incremental)")
    transform.add_argument("--full-refresh", action="store_true", help="rebuild the incremental models from scratch")
    transform.set_defaults(func=cmd_transform)

    dbt = sub.add_parser(
        "dbt", help="run dbt with the warehouse configured: clickstream dbt run --select fct_sessions+", add_help=False
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER)
    dbt.set_defaults(func=cmd_dbt)

    etl = sub.add_parser("etl", help="load, then dbt build (what the scheduled Lambda does)")
    etl.add_argument("--every", type=_parse_every, help="repeat every interval (e.g. 30m) until interrupted")
    etl.add_argument("--since", type=_parse_time, help="backfill: partitions from this hour")
    etl.add_argument("--until", type=_parse_time, help="backfill: partitions up to this hour")
    etl.add_argument("--prefix", help="backfill: every object under this key prefix")
    etl.add_argument("--full-refresh", action="store_true", help="rebuild the incremental models from scratch")
    etl.add_argument("--shop-full-sync", action="store_true", help="re-read every row of the shop database")
    etl.add_argument("--json", action="store_true", help="print the summary as JSON")
    etl.set_defaults(func=cmd_etl)

    shop = sub.add_parser(
        "shop", help="the shop database (SHOP_DB_URL/SHOP_PG_*, else the demo's): copy its changes into raw_shop now"
    )
    shop.add_argument(
        "action", choices=["sync", "url"], help="sync: copy what changed since the last sync (the ETL does it too); url"
    )
    shop.add_argument("--full", action="store_true", help="sync: re-read every row, not only what changed")
    shop.add_argument("--json", action="store_true", help="sync: print the summary as JSON")
    shop.set_defaults(func=cmd_shop)

    health = sub.add_parser(
        "health",
        help="the latest hours of data health (marts.data_health_hourly); exit 1 on an open anomaly, 2 without data",
    )
    health.add_argument("--hours", type=_positive(int), default=24, help="complete hours to show (default 24)")
    health.add_argument(
        "--open-hours",
        type=_positive(int),
        default=3,
        help="an anomaly in this many latest complete hours is open (default 3, as the health tests)",
    )
    health.add_argument("--json", action="store_true", help="print the hours as JSON")
    health.set_defaults(func=cmd_health)

    spend = sub.add_parser(
        "ad-spend", help="import ad spend (date, channel, campaign, spend in VND) from a CSV file, for ROAS"
    )
    spend.add_argument(
        "action", choices=["import"], help="import: add or replace the file's days, channels and campaigns"
    )
    spend.add_argument("file", type=Path, help="CSV with the columns date, channel, campaign, spend")
    spend.set_defaults(func=cmd_ad_spend)

    dashboard = sub.add_parser("dashboard", help="serve the Shiny dashboard (reads the marts only)")
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", type=int, default=8050)
    dashboard.set_defaults(func=cmd_dashboard)

    docs = sub.add_parser("docs", help="dbt docs generate, then serve them (models, columns, tests, lineage)")
    docs.add_argument("--host", default="127.0.0.1")
    docs.add_argument("--port", type=int, default=8081)
    docs.add_argument("--generate-only", action="store_true", help="write target/index.html and catalog.json only")
    docs.set_defaults(func=cmd_docs)

    demo = sub.add_parser("demo", help="the whole pipeline on embedded defaults, with a summary")
    demo.add_argument("--events", type=_positive(int), default=50_000)
    demo.add_argument("--days", type=_positive(float), default=14)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import psycopg

    from loader.etl import EtlFailed, EtlRequestError
    from loader.rawstore import StoreError
    from loader.warehouse import ShopDatabaseError, WarehouseError

    args = build_parser().parse_args(argv)
    if args.command != "serve":  # the collector logs one JSON line per request
        from loader import logs

        logs.configure_cli()
    try:
        result: int = args.func(args)
        return result
    except (CliError, ConfigError, StoreError, WarehouseError, ShopDatabaseError, EtlRequestError, EtlFailed) as error:
        print(f"clickstream: {error}", file=sys.stderr)
        return 1
    except psycopg.Error as error:
        print(f"clickstream: warehouse error: {str(error).strip()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
