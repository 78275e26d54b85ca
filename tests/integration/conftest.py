"""Warehouses shared by the integration tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import psycopg
import pytest

from loader.config import LoaderSettings, WarehouseSettings
from loader.load import Loader, LoadSummary
from loader.rawstore import LocalStore
from loader.runlock import run_lock
from loader.transform import BUILD, run_dbt
from tests.support.real_tracker import send_visits


@pytest.fixture(scope="session")
def built(pg_server: WarehouseSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseSettings]:
    """A warehouse built (load, dbt build) from the real tracker's bodies only."""
    root = tmp_path_factory.mktemp("real-tracker")
    name = "real_tracker"
    admin = {**pg_server.conninfo(), "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    settings = dataclasses.replace(pg_server, database=name, embedded=False)
    store = LocalStore(root / "lake", fsync=False)
    send_visits(store)
    with run_lock(settings) as (conn, acquired):
        loaded = Loader(store, settings, LoaderSettings(threads=2)).run(conn) if acquired else LoadSummary.lock_taken()
    assert loaded.status == "succeeded"
    result = run_dbt([*BUILD, "--quiet"], settings, target_path=root / "target")
    assert result.success, result.failures or result.error
    yield settings
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'drop database if exists "{name}" with (force)')
