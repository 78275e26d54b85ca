from __future__ import annotations

import re
from pathlib import Path

import pytest

from loader.config import (
    ConfigError,
    EtlSettings,
    IngestSettings,
    LoaderSettings,
    RawStoreSettings,
    ShopDatabaseSettings,
    WarehouseSettings,
)

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_configured_means_local_lake_and_embedded_warehouse() -> None:
    env = {"CLICKSTREAM_HOME": "/tmp/x"}
    store = RawStoreSettings.from_env(env)
    assert store.bucket is None and store.prefix == "events/" and str(store.local_root) == "/tmp/x/lake"
    assert WarehouseSettings.from_env(env) is None
    assert IngestSettings.from_env(env).ip_mode == "truncate"


def test_dw_pg_variables_of_the_current_etl_are_understood() -> None:
    settings = WarehouseSettings.from_env(
        {
            "DW_PG_HOST": "10.0.2.10",
            "DW_PG_PORT": "5433",
            "DW_PG_USER": "etl",
            "DW_PG_PASSWORD": "p@ss",
            "DW_PG_DATABASE": "dw",
            "DW_PG_SSL": "true",
        }
    )
    assert settings is not None
    assert (settings.host, settings.port, settings.user, settings.password, settings.database, settings.sslmode) == (
        "10.0.2.10",
        5433,
        "etl",
        "p@ss",
        "dw",
        "require",
    )
    assert settings.url() == "postgresql://etl@10.0.2.10:5433/dw?sslmode=require", "no password in printed URLs"
    assert "p%40ss" in settings.url(with_password=True)


def test_dw_url_wins_and_is_parsed() -> None:
    settings = WarehouseSettings.from_env(
        {"DW_URL": "postgresql://a:b%2F@db:6000/wh?sslmode=verify-full", "DW_PG_HOST": "x"}
    )
    assert settings is not None
    assert (settings.host, settings.port, settings.user, settings.password, settings.database, settings.sslmode) == (
        "db",
        6000,
        "a",
        "b/",
        "wh",
        "verify-full",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLICKSTREAM_IP_MODE": "mask"}, "CLICKSTREAM_IP_MODE must be one of truncate, hash, full; got 'mask'"),
        ({"CLICKSTREAM_IP_MODE": "hash", "CLICKSTREAM_IP_SALT": "short"}, "needs CLICKSTREAM_IP_SALT"),
        ({"RAW_BUCKET_NAME": "ab"}, "RAW_BUCKET_NAME must be 3 to 63 characters"),
        ({"DW_PG_HOST": "h", "DW_PG_PORT": "fivefour"}, "DW_PG_PORT must be an integer, got 'fivefour'"),
        ({"DW_PG_HOST": "h", "DW_PG_PORT": "70000"}, "DW_PG_PORT must be between 1 and 65535"),
        ({"DW_PG_HOST": "h", "DW_PG_SSL": "sometimes"}, "DW_PG_SSL must be true, false or a libpq sslmode"),
        ({"DW_URL": "mysql://h/db"}, "DW_URL must look like postgresql://"),
        ({"CLICKSTREAM_LOOKBACK_HOURS": "0"}, "CLICKSTREAM_LOOKBACK_HOURS must be between 1 and"),
        ({"RAW_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q"}, "RAW_QUEUE_URL needs RAW_BUCKET_NAME"),
        ({"RAW_BUCKET_NAME": "raw", "RAW_QUEUE_URL": "raw-notifications"}, "RAW_QUEUE_URL must be the queue's URL"),
        ({"CLICKSTREAM_UA_MAX_CHARS": "10"}, "CLICKSTREAM_UA_MAX_CHARS must be between 64 and"),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        IngestSettings.from_env(env)
        RawStoreSettings.from_env(env)
        WarehouseSettings.from_env(env)
        LoaderSettings.from_env(env)
    assert message in str(error.value)


def test_raw_prefix_gets_a_trailing_slash() -> None:
    assert RawStoreSettings.from_env({"RAW_PREFIX": "clickstream/raw"}).prefix == "clickstream/raw/"


def test_no_model_or_macro_reads_connection_values() -> None:
    """The shipped pre-parsed manifest is reused for any host and user (loader.transform): only safe while
    no SQL renders them."""
    connection = re.compile(
        r"\btarget\.(host|port|user|password|pass|sslmode|threads|keepalives_idle|connect_timeout)\b"
    )
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "dbt_project").rglob("*")
        if path.suffix in (".sql", ".yml", ".md") and connection.search(path.read_text())
    ]
    assert offenders == []


def test_etl_settings_find_the_project_and_keep_dbt_state_under_the_home(tmp_path: Path) -> None:
    settings = EtlSettings.from_env({"CLICKSTREAM_HOME": str(tmp_path), "AWS_LAMBDA_FUNCTION_NAME": "etl"})
    assert settings.dbt_project == ROOT and settings.dbt_target == tmp_path / "dbt-target" and settings.in_lambda
    with pytest.raises(ConfigError, match=r"CLICKSTREAM_DBT_PROJECT_DIR: no dbt_project\.yml in"):
        EtlSettings.from_env({"CLICKSTREAM_DBT_PROJECT_DIR": str(tmp_path)})


def test_no_shop_database_is_configured_unless_a_shop_variable_is_set() -> None:
    assert ShopDatabaseSettings.from_env({"DW_PG_HOST": "dw"}) is None
    assert EtlSettings.from_env({}).shop is None


def test_the_shop_database_takes_prismas_database_url_as_it_is() -> None:
    """The storefront's .env DATABASE_URL, with Prisma's ?schema= (which libpq would refuse), names the shop's schema."""
    settings = ShopDatabaseSettings.from_env(
        {"SHOP_DB_URL": "postgresql://reader:p%40ss@oltp:5433/shopdb?schema=storefront&sslmode=require"}
    )
    assert settings is not None
    assert (settings.host, settings.port, settings.user, settings.password, settings.database) == (
        "oltp", 5433, "reader", "p@ss", "shopdb"
    )  # fmt: skip
    assert (settings.schema, settings.sslmode, settings.overlap_minutes) == ("storefront", "require", 15)
    assert "schema" not in settings.conninfo() and settings.conninfo()["application_name"] == "clickstream-shop-sync"
    assert "p@ss" not in settings.source and "p%40ss" not in settings.source


def test_the_shop_database_from_shop_pg_variables() -> None:
    settings = ShopDatabaseSettings.from_env(
        {"SHOP_PG_HOST": "10.0.1.5", "SHOP_PG_USER": "clickstream_reader", "SHOP_PG_DATABASE": "shop",
         "SHOP_PG_SSL": "true", "SHOP_PG_SECRET_ARN": "arn:aws:secretsmanager:ap-southeast-1:1:secret:shop-AbCdEf",
         "SHOP_SYNC_OVERLAP_MINUTES": "30"}
    )  # fmt: skip
    assert settings is not None
    assert (settings.host, settings.port, settings.user, settings.password, settings.sslmode, settings.schema) == (
        "10.0.1.5", 5432, "clickstream_reader", None, "require", "public"
    )  # fmt: skip
    assert settings.secret_arn and settings.overlap_minutes == 30
    only_secret = ShopDatabaseSettings.from_env({"SHOP_PG_SECRET_ARN": "arn:aws:secretsmanager:x:1:secret:s-AbCdEf"})
    assert only_secret is not None and only_secret.host == "", "the secret may name the host (an RDS secret does)"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHOP_DB_URL": "mysql://shop"}, "SHOP_DB_URL must look like postgresql://"),
        (
            {"SHOP_DB_URL": "postgresql://h/db?schema=public;drop"},
            "SHOP_DB_URL: the shop's schema must be a plain identifier",
        ),
        ({"SHOP_PG_HOST": "h", "SHOP_PG_PORT": "0"}, "SHOP_PG_PORT must be between 1 and 65535"),
        ({"SHOP_PG_HOST": "h", "SHOP_PG_SSL": "maybe"}, "SHOP_PG_SSL must be true, false or a libpq sslmode"),
        (
            {"SHOP_PG_HOST": "h", "SHOP_PG_SCHEMA": "a b"},
            "SHOP_PG_SCHEMA: the shop's schema must be a plain identifier",
        ),
        ({"SHOP_PG_HOST": "h", "SHOP_SYNC_OVERLAP_MINUTES": "soon"}, "SHOP_SYNC_OVERLAP_MINUTES must be an integer"),
    ],
)
def test_invalid_shop_database_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        ShopDatabaseSettings.from_env(env)
    assert message in str(error.value)
