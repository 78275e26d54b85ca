"""The embedded warehouse and the ``clickstream db`` commands, on a real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import psycopg
import pytest

from loader.config import ConfigError, ShopDatabaseSettings
from loader.secrets import read_secret
from loader.warehouse import (
    EmbeddedWarehouse,
    ShopDatabaseError,
    WarehouseError,
    connect,
    connect_shop,
    resolve,
    resolve_shop,
)


def clickstream(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clickstream", *args], capture_output=True, text=True, timeout=120)


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


@pytest.fixture
def aws(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Secrets Manager and SSM Parameter Store on moto's server; the password cache emptied around each test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("DW_PG_HOST", "warehouse.internal")
    monkeypatch.delenv("DW_URL", raising=False)
    monkeypatch.delenv("DW_PG_PASSWORD", raising=False)
    read_secret.cache_clear()
    yield s3_endpoint
    read_secret.cache_clear()


def test_the_password_comes_from_a_json_secret_once_per_process(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = boto3.client("secretsmanager", endpoint_url=aws)
    name = f"dw-{uuid.uuid4().hex[:8]}"
    arn = secrets.create_secret(Name=name, SecretString=json.dumps({"username": "etl", "password": "s3cr3t"}))["ARN"]
    monkeypatch.setenv("DW_PG_SECRET_ARN", arn)
    settings = resolve()
    assert (settings.user, settings.password, settings.host) == ("etl", "s3cr3t", "warehouse.internal")
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert resolve().password == "s3cr3t", "read once per process (a Lambda cold start), not per run"


def test_a_plain_string_secret_is_the_password(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = boto3.client("secretsmanager", endpoint_url=aws).create_secret(
        Name=f"dw-{uuid.uuid4().hex[:8]}", SecretString="plain-password"
    )["ARN"]
    monkeypatch.setenv("DW_PG_SECRET_ARN", arn)
    monkeypatch.setenv("DW_PG_USER", "clickstream_etl")
    assert (resolve().user, resolve().password) == ("clickstream_etl", "plain-password")


def test_the_password_comes_from_an_ssm_secure_string(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"/clickstream/{uuid.uuid4().hex[:8]}/dw-password"
    boto3.client("ssm", endpoint_url=aws).put_parameter(Name=name, Value="from-ssm", Type="SecureString")
    monkeypatch.setenv("DW_PG_PASSWORD_PARAM", name)
    assert resolve().password == "from-ssm"


def test_a_missing_secret_or_parameter_is_a_clear_error(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DW_PG_PASSWORD_PARAM", "/clickstream/nowhere")
    with pytest.raises(WarehouseError, match="cannot read the warehouse password from parameter /clickstream/nowhere"):
        resolve()


def test_lambda_without_a_configured_warehouse_says_what_to_set(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "clickstream-etl")
    with pytest.raises(ConfigError, match="set DW_URL or DW_PG_HOST"):
        resolve()


def test_the_shop_database_login_comes_from_an_rds_style_secret(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An RDS-managed secret carries username, password, host, port and dbname: with SHOP_PG_SECRET_ARN alone the
    ETL finds the shop; a host set in the environment wins over the secret's address."""
    secret = {
        "username": "clickstream_reader",
        "password": "r3ad",
        "host": "shop.internal",
        "port": 6432,
        "dbname": "shop",
    }
    arn = boto3.client("secretsmanager", endpoint_url=aws).create_secret(
        Name=f"shop-{uuid.uuid4().hex[:8]}", SecretString=json.dumps(secret)
    )["ARN"]
    settings = ShopDatabaseSettings.from_env({"SHOP_PG_SECRET_ARN": arn})
    assert settings is not None
    resolved = resolve_shop(settings)
    assert (resolved.host, resolved.port, resolved.user, resolved.password, resolved.database) == (
        "shop.internal", 6432, "clickstream_reader", "r3ad", "shop"
    )  # fmt: skip
    pinned = ShopDatabaseSettings.from_env(
        {"SHOP_PG_SECRET_ARN": arn, "SHOP_PG_HOST": "10.0.1.5", "SHOP_PG_DATABASE": "db"}
    )
    assert pinned is not None
    assert (resolve_shop(pinned).host, resolve_shop(pinned).port, resolve_shop(pinned).database) == (
        "10.0.1.5",
        5432,
        "db",
    )


def test_an_unreadable_shop_secret_or_a_missing_host_is_a_clear_error(aws: str) -> None:
    settings = ShopDatabaseSettings.from_env(
        {"SHOP_PG_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:none-AbCdEf"}
    )
    assert settings is not None
    with pytest.raises(ShopDatabaseError, match="cannot read the shop database's credentials from secret arn:aws"):
        resolve_shop(settings)
    with pytest.raises(ConfigError, match="SHOP_PG_HOST"):
        resolve_shop(ShopDatabaseSettings("", 5432, "reader", "pw", "shop", "prefer"))


def test_an_unreachable_shop_database_names_it_and_the_variables_to_check() -> None:
    with pytest.raises(
        ShopDatabaseError, match=r"cannot connect to the shop database at 127\.0\.0\.1:1: .*SHOP_DB_URL"
    ):
        connect_shop(ShopDatabaseSettings("127.0.0.1", 1, "reader", None, "shop", "disable"))
