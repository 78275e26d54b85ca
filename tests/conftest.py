"""Shared fixtures: real services only — moto's S3 server, an embedded PostgreSQL, local lakes."""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest_plugins = ["tests.support.dashboard_fixtures"]  # the dashboard's warehouses (query and browser tests)
_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_python_312() -> str | None:
    """A real CPython 3.12 (the Lambda runtime and the dashboard host's Python); pyenv's shims do not count."""
    candidates = [
        *sorted((Path.home() / ".pyenv" / "versions").glob("3.12*/bin/python3.12")),
        *filter(None, [shutil.which("python3.12")]),
    ]
    for candidate in candidates:
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 12)":
            return str(candidate)
    return None


def load_module(path: Path) -> ModuleType:
    """Import a Lambda entry point by path (``lambda`` is a keyword, so not a package)."""
    name = f"_entry_{path.parent.name}_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh bucket on moto's server, and the environment that points the platform at it."""
    import boto3

    bucket = f"raw-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    env = {"RAW_BUCKET_NAME": bucket, "AWS_ENDPOINT_URL": s3_endpoint, "AWS_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated CLICKSTREAM_HOME with no warehouse or bucket configured."""
    for name in ("RAW_BUCKET_NAME", "DW_URL", "DW_PG_HOST", "RAW_PREFIX", "CLICKSTREAM_IP_MODE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "home"
    monkeypatch.setenv("CLICKSTREAM_HOME", str(path))
    return path


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One embedded PostgreSQL 16 for the test session (each test gets its own database)."""
    from loader.warehouse import EmbeddedWarehouse

    warehouse = EmbeddedWarehouse(tmp_path_factory.mktemp("warehouse"))
    settings = warehouse.start()
    yield settings
    warehouse.stop()


@pytest.fixture
def dw(pg_server: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A fresh, empty database on the session's server, configured through DW_URL."""
    import dataclasses

    import psycopg

    name = f"test_{uuid.uuid4().hex[:10]}"
    admin = {**pg_server.conninfo(), "dbname": "postgres"}  # type: ignore[attr-defined]
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    settings = dataclasses.replace(pg_server, database=name, embedded=False)  # type: ignore[type-var]
    monkeypatch.setenv("DW_URL", settings.url())
    yield settings
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
