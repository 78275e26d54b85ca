"""The old R Shiny dashboard's query run by R itself (Debian's r-base-core, r-cran-shiny, r-cran-dbi and
r-cran-rpostgresql, installed by ``make system-deps``) through tests/support/old_dashboard.R, on the warehouse built
from the storefront's real bodies, and checked against the marts.

Without Rscript the tests skip on a developer's machine and fail in CI (CI is set there): a smoke test that skipped
in CI would prove nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loader.config import WarehouseSettings
from loader.legacy import LEGACY_ROLE, ensure_legacy_login
from loader.warehouse import EmbeddedWarehouse
from tests.support.real_tracker import (
    KEYBOARD,
    MOUSE,
    OLD_DASHBOARD_QUERY,
    OLD_DASHBOARD_QUERY_BY_LOGIN,
    START,
    visits,
)

SCRIPT = Path(__file__).resolve().parents[1] / "support" / "old_dashboard.R"
SINCE, UNTIL = START.isoformat(), (START + timedelta(days=2)).isoformat()


@pytest.fixture(scope="module")
def rscript() -> str:
    path = shutil.which("Rscript")
    if path is None:
        message = (
            "Rscript is not on PATH (make system-deps installs r-base-core r-cran-shiny r-cran-dbi r-cran-rpostgresql)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def legacy_password(built: WarehouseSettings) -> str:
    with psycopg.connect(**built.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        return ensure_legacy_login(conn)


def old_dashboard_r(
    rscript: str, settings: WarehouseSettings, password: str, query: str, login_state: str | None = None
) -> dict[str, Any]:
    """old_dashboard.R's result for ``query`` on $1 = SINCE, $2 = UNTIL (and $3 = ``login_state``), logged in as
    the old dashboard's own login; none of the caller's PG* variables reach libpq."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
    env |= {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(settings.port),
        "PGDATABASE": settings.database,
        "PGUSER": LEGACY_ROLE,
        "PGPASSWORD": password,
        "QUERY": query,
        "FROM": SINCE,
        "UNTIL": UNTIL,
        "LOGIN_STATE": login_state or "",
    }
    result = subprocess.run([rscript, str(SCRIPT)], env=env, capture_output=True, timeout=120)
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 0, f"old_dashboard.R exited with {result.returncode}:\n{stderr}"
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1, f"one line of JSON expected, got {lines!r}\n{stderr}"
    parsed: dict[str, Any] = json.loads(lines[0])
    return parsed


def rows(settings: WarehouseSettings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(**settings.conninfo()) as conn:  # type: ignore[arg-type]
        return conn.execute(sql, params).fetchall()


def test_r_runs_the_old_dashboards_query_and_agrees_with_the_marts(
    rscript: str,
    built: WarehouseSettings,
    legacy_password: str,
) -> None:
    got = old_dashboard_r(rscript, built, legacy_password, OLD_DASHBOARD_QUERY)
    [(events, logged_in)] = rows(
        built,
        "select sum(events), sum(events) filter (where login_state = 'logged_in') from marts.traffic_hourly_by_segment",
    )
    assert (got["rows"], got["by_login_state"]) == (events, {"anonymous": events - logged_in, "logged_in": logged_in})
    assert (events, logged_in) == (17, 3)
    per_event = dict(rows(built, "select event_name, count(*) from marts.fct_events group by event_name"))
    assert got["by_event_name"] == per_event
    [(views,)] = rows(built, "select sum(views) from marts.product_engagement_daily")
    assert got["by_event_name"]["product_view"] == views == 3
    products = [p for (p,) in rows(built, "select distinct product_id from marts.product_engagement_daily")]
    assert sorted(got["product_ids"]) == sorted(products) == sorted([str(KEYBOARD["id"]), str(MOUSE["id"])])
    assert sorted(got["product_names"]) == sorted([str(KEYBOARD["name"]), str(MOUSE["name"])]), "UTF-8 intact"
    sent = [body for _, body in visits()]
    assert got["product_price_sum"] == sum(body["product"].get("price", 0) for body in sent if "product" in body)
    assert got["product_price_sum"] == 11_900_000  # 5 keyboard and 5 mouse events; JSON 11900000, not 1.19e+07
    offsets = [offset for offset, _ in visits()]
    assert (got["first_event"], got["last_event"]) == (
        (START + min(offsets)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        (START + max(offsets)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    ), "event_timestamp reaches R as the right instant"
    columns = got["columns"]
    assert list(columns) == [
        "event_timestamp", "event_name", "user_login_state", "client_id", "session_id", "is_first_visit",
        "product_id", "product_name", "product_category", "product_brand", "product_price",
        "product_discount_price", "product_url_path",
    ]  # fmt: skip
    assert (columns["event_timestamp"], columns["is_first_visit"], columns["product_price"]) == (
        "POSIXct",
        "logical",
        "numeric",
    )


def test_r_runs_the_old_dashboards_query_by_login_state(
    rscript: str,
    built: WarehouseSettings,
    legacy_password: str,
) -> None:
    got = old_dashboard_r(rscript, built, legacy_password, OLD_DASHBOARD_QUERY_BY_LOGIN, "logged_in")
    per_event = dict(
        rows(
            built,
            "select event_name, count(*) from marts.fct_events where user_login_state = 'logged_in' group by 1",
        )
    )
    assert got["by_event_name"] == per_event == {"page_view": 1, "checkout_start": 1, "checkout_complete": 1}
    assert (got["rows"], got["by_login_state"]) == (3, {"logged_in": 3})
    assert (got["product_ids"], got["product_price_sum"]) == ([], 0), "the checkout events carry no product"
    none = old_dashboard_r(rscript, built, legacy_password, OLD_DASHBOARD_QUERY_BY_LOGIN, "no-such-state")
    assert (none["rows"], none["by_event_name"], none["first_event"]) == (0, {}, None)


class _ScramWarehouse(EmbeddedWarehouse):
    """An embedded server on which the old dashboard's login must present its SCRAM password (the session's
    server trusts every connection, so it never checks one)."""

    def _initdb(self) -> None:
        super()._initdb()
        hba = self.datadir / "pg_hba.conf"
        hba.write_text(f"host all {LEGACY_ROLE} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())


def test_rpostgresql_logs_in_with_a_scram_password(rscript: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """RPostgreSQL uses the system's libpq (Debian's, 15), which speaks SCRAM-SHA-256, PostgreSQL 16's default."""
    warehouse = _ScramWarehouse(tmp_path_factory.mktemp("scram"))
    settings = warehouse.start()
    try:
        with psycopg.connect(**settings.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            password = ensure_legacy_login(conn)
            [(stored,)] = conn.execute("select rolpassword from pg_authid where rolname = %s", (LEGACY_ROLE,))
        assert stored.startswith("SCRAM-SHA-256$")
        query = (
            "SELECT now() AS event_timestamp, system_user AS event_name, current_user AS user_login_state,"
            " NULL::text AS product_id, NULL::text AS product_name, NULL::numeric AS product_price"
            " WHERE $1::timestamptz < $2::timestamptz"
        )
        got = old_dashboard_r(rscript, settings, password, query)
        assert got["by_event_name"] == {f"scram-sha-256:{LEGACY_ROLE}": 1}
        with pytest.raises(AssertionError, match="password authentication failed"):
            old_dashboard_r(rscript, settings, password + "-wrong", query)
    finally:
        warehouse.stop()
