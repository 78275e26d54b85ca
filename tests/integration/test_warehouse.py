"""The embedded warehouse and the ``clickstream db`` commands, on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from loader.warehouse import EmbeddedWarehouse, WarehouseError, connect, resolve


def clickstream(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "loader.cli", *args], capture_output=True, text=True, timeout=120)


def test_db_url_starts_the_embedded_warehouse_and_db_stop_stops_it(home: Path) -> None:
    first = clickstream("db", "url")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/clickstream?sslmode=disable")
    with psycopg.connect(url) as conn:
        assert conn.execute("show server_version").fetchone()[0].startswith("16.")
    assert clickstream("db", "url").stdout.strip() == url, "the running server is reused"
    stopped = clickstream("db", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert EmbeddedWarehouse(home).running_port() is None
    assert "was not running" in clickstream("db", "stop").stdout


def test_data_survives_a_restart(home: Path) -> None:
    warehouse = EmbeddedWarehouse(home)
    with connect(warehouse.start(), autocommit=True) as conn:
        conn.execute("create table kept (v int); insert into kept values (42)")
    warehouse.stop()
    with connect(resolve(), autocommit=True) as conn:
        assert conn.execute("select v from kept").fetchone() == (42,)
    warehouse.stop()


def test_an_unreachable_configured_warehouse_is_a_clear_error(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DW_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("DW_PG_PORT", "1")
    result = clickstream("db", "url")
    assert result.returncode == 0 and "127.0.0.1:1" in result.stdout, "db url only prints a configured URL"
    with pytest.raises(WarehouseError, match=r"cannot connect to the warehouse at 127\.0\.0\.1:1"):
        connect(resolve())
