"""Fixtures for the dashboard tests: warehouses with traffic, empty marts, no marts; a dashboard pool on each.

Used as a pytest plugin by the dashboard query tests and the browser tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg_pool import ConnectionPool

from dashboard.db import open_pool
from loader.config import WarehouseSettings
from tests.support import dashboard_warehouse as warehouse


@pytest.fixture(scope="session")
def traffic_dw(pg_server: WarehouseSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseSettings]:
    """Two weeks of generated traffic, loaded and built (shared by the tests, which only read it)."""
    settings = warehouse.create_database(pg_server)
    warehouse.build(settings, tmp_path_factory.mktemp("traffic"))
    yield settings
    warehouse.drop_database(pg_server, settings)


@pytest.fixture(scope="session")
def empty_dw(pg_server: WarehouseSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarehouseSettings]:
    """The pipeline ran on an empty lake: every mart exists and is empty."""
    settings = warehouse.create_database(pg_server)
    warehouse.build(settings, tmp_path_factory.mktemp("empty"), traffic=())
    yield settings
    warehouse.drop_database(pg_server, settings)


@pytest.fixture
def bare_dw(pg_server: WarehouseSettings) -> Iterator[WarehouseSettings]:
    """A database nothing was built in."""
    settings = warehouse.create_database(pg_server)
    yield settings
    warehouse.drop_database(pg_server, settings)


@pytest.fixture(scope="session")
def traffic_pool(traffic_dw: WarehouseSettings) -> Iterator[ConnectionPool]:
    pool = open_pool(traffic_dw)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def empty_pool(empty_dw: WarehouseSettings) -> Iterator[ConnectionPool]:
    pool = open_pool(empty_dw)
    yield pool
    pool.close()


@pytest.fixture
def bare_pool(bare_dw: WarehouseSettings) -> Iterator[ConnectionPool]:
    pool = open_pool(bare_dw)
    yield pool
    pool.close()
