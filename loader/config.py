"""Configuration: read from the environment once, typed and validated.

Every variable the platform reads is parsed here; the rest of the code receives
these frozen dataclasses and never touches ``os.environ``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

IpMode = Literal["truncate", "hash", "full"]
IP_MODES: tuple[IpMode, ...] = ("truncate", "hash", "full")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class ConfigError(ValueError):
    """A configuration variable is missing or invalid; the message names it."""


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (_text(env, name) or default).lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def clickstream_home(env: Mapping[str, str]) -> Path:
    """Local state: ``CLICKSTREAM_HOME``, else ``./.clickstream`` (in AWS Lambda, where only /tmp is writable, /tmp/clickstream)."""
    default = "/tmp/clickstream" if in_lambda(env) else ".clickstream"
    return Path(_text(env, "CLICKSTREAM_HOME") or default).absolute()


def dbt_project_dir(env: Mapping[str, str]) -> Path:
    """The dbt project: ``CLICKSTREAM_DBT_PROJECT_DIR``, else the directory holding ``loader/`` (repo or zip)."""
    configured = _text(env, "CLICKSTREAM_DBT_PROJECT_DIR")
    path = Path(configured) if configured else Path(__file__).resolve().parents[1]
    if not (path / "dbt_project.yml").is_file():
        raise ConfigError(f"CLICKSTREAM_DBT_PROJECT_DIR: no dbt_project.yml in {path}")
    return path


def in_lambda(env: Mapping[str, str]) -> bool:
    return bool(_text(env, "AWS_LAMBDA_FUNCTION_NAME"))


@dataclass(frozen=True)
class IngestSettings:
    """How the collector treats requests (``CLICKSTREAM_IP_MODE`` and friends)."""

    ip_mode: IpMode = "truncate"
    ip_salt: str | None = None
    cors_origins: tuple[str, ...] = ("*",)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IngestSettings:
        ip_mode: IpMode = _choice(env, "CLICKSTREAM_IP_MODE", "truncate", IP_MODES)  # type: ignore[assignment]
        salt = _text(env, "CLICKSTREAM_IP_SALT")
        if ip_mode == "hash" and (salt is None or len(salt) < 16):
            raise ConfigError("CLICKSTREAM_IP_MODE=hash needs CLICKSTREAM_IP_SALT, a secret of at least 16 characters")
        origins = tuple(o.strip() for o in (_text(env, "CLICKSTREAM_CORS_ORIGINS") or "*").split(",") if o.strip())
        return cls(ip_mode=ip_mode, ip_salt=salt, cors_origins=origins or ("*",))


def _queue_url(env: Mapping[str, str], bucket: str | None) -> str | None:
    url = _text(env, "RAW_QUEUE_URL")
    if url is None:
        return None
    if bucket is None:
        raise ConfigError("RAW_QUEUE_URL needs RAW_BUCKET_NAME: the queue carries the bucket's notifications")
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"RAW_QUEUE_URL must be the queue's URL (https://sqs.<region>.amazonaws.com/…), got {url!r}")
    return url


@dataclass(frozen=True)
class RawStoreSettings:
    """Where raw objects live: S3 when ``RAW_BUCKET_NAME`` is set, else a local directory."""

    bucket: str | None
    prefix: str
    endpoint_url: str | None
    region: str | None
    local_root: Path
    queue_url: str | None = None  # the bucket's object notifications (SQS): discovery without listing

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RawStoreSettings:
        bucket = _text(env, "RAW_BUCKET_NAME")
        if bucket is not None and not 3 <= len(bucket) <= 63:
            raise ConfigError(f"RAW_BUCKET_NAME must be 3 to 63 characters, got {bucket!r}")
        prefix = _text(env, "RAW_PREFIX") or "events/"
        if prefix.startswith("/"):
            raise ConfigError(f"RAW_PREFIX must not start with '/', got {prefix!r}")
        if not prefix.endswith("/"):
            prefix += "/"
        return cls(
            bucket=bucket,
            prefix=prefix,
            endpoint_url=_text(env, "AWS_ENDPOINT_URL_S3") or _text(env, "AWS_ENDPOINT_URL"),
            region=_text(env, "AWS_REGION") or _text(env, "AWS_DEFAULT_REGION"),
            local_root=clickstream_home(env) / "lake",
            queue_url=_queue_url(env, bucket),
        )

    @property
    def location(self) -> str:
        if self.bucket:
            return f"s3://{self.bucket}/{self.prefix}"
        return str(self.local_root / self.prefix)


_SSL_WORDS = {"true": "require", "1": "require", "yes": "require", "false": "disable", "0": "disable", "no": "disable"}


def _sslmode(env: Mapping[str, str], name: str) -> str:
    ssl = (_text(env, name) or "prefer").lower()
    sslmode = _SSL_WORDS.get(ssl, ssl)
    if sslmode not in SSL_MODES:
        raise ConfigError(f"{name} must be true, false or a libpq sslmode ({', '.join(SSL_MODES)}); got {ssl!r}")
    return sslmode


@dataclass(frozen=True)
class PostgresSettings:
    """A PostgreSQL connection: the warehouse's, or the shop database's."""

    host: str
    port: int
    user: str
    password: str | None
    database: str
    sslmode: str
    secret_arn: str | None = None
    password_param: str | None = None

    APPLICATION = "clickstream"  # application_name: what the server's pg_stat_activity shows

    def url(self, *, with_password: bool = False) -> str:
        from urllib.parse import quote

        auth = quote(self.user, safe="")
        if self.password and with_password:
            auth += ":" + quote(self.password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}?sslmode={self.sslmode}"

    def conninfo(self) -> dict[str, str | int]:
        info: dict[str, str | int] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.database,
            "sslmode": self.sslmode,
            "connect_timeout": 10,
            "application_name": self.APPLICATION,
            # The run lock lives on an idle connection for the whole dbt build: keep it alive and notice a dead one.
            "keepalives": 1,
            "keepalives_idle": 60,
            "keepalives_interval": 10,
            "keepalives_count": 5,
        }
        if self.password:
            info["password"] = self.password
        return info


def _parse_url(url: str, name: str) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The connection fields of a postgresql:// URL, and its query parameters."""
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise ConfigError(f"{name} must look like postgresql://user:password@host:port/database, got {url!r}")
    try:
        port = parts.port or 5432
    except ValueError:
        raise ConfigError(f"{name} has an invalid port: {url!r}") from None
    query = parse_qs(parts.query)
    sslmode = query.get("sslmode", ["prefer"])[0]
    if sslmode not in SSL_MODES:
        raise ConfigError(f"{name} sslmode must be one of {', '.join(SSL_MODES)}; got {sslmode!r}")
    fields = {
        "host": parts.hostname,
        "port": port,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password) if parts.password else None,
        "database": unquote(parts.path.lstrip("/")) or "postgres",
        "sslmode": sslmode,
    }
    return fields, query


@dataclass(frozen=True)
class WarehouseSettings(PostgresSettings):
    """Connection to the PostgreSQL warehouse. ``embedded`` means nothing was configured."""

    embedded: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> WarehouseSettings | None:
        """Settings from ``DW_URL`` or ``DW_PG_*``; ``None`` when neither is set (use the embedded one)."""
        url = _text(env, "DW_URL")
        if url is not None:
            return cls.from_url(url, env)
        host = _text(env, "DW_PG_HOST")
        if host is None:
            return None
        return cls(
            host=host,
            port=_int(env, "DW_PG_PORT", 5432, 1, 65535),
            user=_text(env, "DW_PG_USER") or "postgres",
            password=env.get("DW_PG_PASSWORD") or None,
            database=_text(env, "DW_PG_DATABASE") or "postgres",
            sslmode=_sslmode(env, "DW_PG_SSL"),
            secret_arn=_text(env, "DW_PG_SECRET_ARN"),
            password_param=_text(env, "DW_PG_PASSWORD_PARAM"),
        )

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str] = os.environ) -> WarehouseSettings:
        fields, _ = _parse_url(url, "DW_URL")
        return cls(
            **fields, secret_arn=_text(env, "DW_PG_SECRET_ARN"), password_param=_text(env, "DW_PG_PASSWORD_PARAM")
        )


@dataclass(frozen=True)
class ShopDatabaseSettings(PostgresSettings):
    """The shop's own PostgreSQL (Prisma's tables), read-only, copied into schema ``raw_shop`` by each ETL run.

    ``SHOP_DB_URL`` (Prisma's ``DATABASE_URL`` works as it is: its ``?schema=`` names the tables' schema) or
    ``SHOP_PG_HOST``/``PORT``/``USER``/``PASSWORD``/``DATABASE``/``SSL``, the password (and, as in an RDS secret,
    username, host, port and dbname) optionally from ``SHOP_PG_SECRET_ARN``. ``host`` is empty until the secret is read
    when only the secret names it.
    """

    schema: str = "public"
    overlap_minutes: int = 15  # re-read rows updated this long before the last one seen (clock skew, late commits)
    full_every_hours: int = 24  # re-read every row when the last full sync is older (0: only when asked)

    APPLICATION = "clickstream-shop-sync"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ShopDatabaseSettings | None:
        """Settings from ``SHOP_DB_URL`` or ``SHOP_PG_*``; ``None`` when none is set (the platform runs without it)."""
        url, host, secret = _text(env, "SHOP_DB_URL"), _text(env, "SHOP_PG_HOST"), _text(env, "SHOP_PG_SECRET_ARN")
        overlap = _int(env, "SHOP_SYNC_OVERLAP_MINUTES", 15, 0, 7 * 24 * 60)
        full_every = _int(env, "SHOP_SYNC_FULL_EVERY_HOURS", 24, 0, 366 * 24)
        if url is not None:
            fields, query = _parse_url(url, "SHOP_DB_URL")
            schema = _schema_name(query.get("schema", ["public"])[0], "SHOP_DB_URL")
            return cls(**fields, schema=schema, secret_arn=secret, overlap_minutes=overlap, full_every_hours=full_every)
        if host is None and secret is None:
            return None
        return cls(
            host=host or "",
            port=_int(env, "SHOP_PG_PORT", 5432, 1, 65535),
            user=_text(env, "SHOP_PG_USER") or "postgres",
            password=env.get("SHOP_PG_PASSWORD") or None,
            database=_text(env, "SHOP_PG_DATABASE") or "postgres",
            sslmode=_sslmode(env, "SHOP_PG_SSL"),
            schema=_schema_name(_text(env, "SHOP_PG_SCHEMA") or "public", "SHOP_PG_SCHEMA"),
            secret_arn=secret,
            overlap_minutes=overlap,
            full_every_hours=full_every,
        )

    @property
    def source(self) -> str:
        """Where the rows come from, without the password: for logs and raw_shop.sync_runs."""
        return f"{self.url()} schema {self.schema}"


def _schema_name(value: str, name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]{0,62}", value):
        raise ConfigError(f"{name}: the shop's schema must be a plain identifier such as public, got {value!r}")
    return value


@dataclass(frozen=True)
class LoaderSettings:
    """Tuning of the raw → warehouse loader."""

    lookback_hours: int = 72
    threads: int = 16
    writers: int = 2
    batch_objects: int = 1000
    batch_bytes: int = 8 * 1024 * 1024
    # Parsing new user agents within a run: at most this many seconds, plus this many microseconds per event
    # loaded (loader/enrich.py); an agent's first ua_max_chars characters only.
    ua_parse_seconds: int = 2
    ua_parse_us_per_event: int = 500
    ua_max_chars: int = 512
    # With a notification queue: once every safety_net_every_hours (0: every run), a run also lists the last
    # safety_net_days and loads and reports the objects no notification announced.
    safety_net_every_hours: int = 24
    safety_net_days: int = 7

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> LoaderSettings:
        return cls(
            lookback_hours=_int(env, "CLICKSTREAM_LOOKBACK_HOURS", 72, 1, 24 * 366),
            threads=_int(env, "CLICKSTREAM_LOAD_THREADS", 16, 1, 128),
            writers=_int(env, "CLICKSTREAM_LOAD_WRITERS", 2, 1, 8),
            batch_objects=_int(env, "CLICKSTREAM_LOAD_BATCH_OBJECTS", 1000, 1, 100_000),
            ua_parse_seconds=_int(env, "CLICKSTREAM_UA_PARSE_SECONDS", 2, 0, 900),
            ua_parse_us_per_event=_int(env, "CLICKSTREAM_UA_PARSE_US_PER_EVENT", 500, 0, 1_000_000),
            ua_max_chars=_int(env, "CLICKSTREAM_UA_MAX_CHARS", 512, 64, 16_384),
            safety_net_every_hours=_int(env, "CLICKSTREAM_SAFETY_NET_EVERY_HOURS", 24, 0, 24 * 366),
            safety_net_days=_int(env, "CLICKSTREAM_SAFETY_NET_DAYS", 7, 1, 366),
        )


@dataclass(frozen=True)
class EtlSettings:
    """What an ETL run needs besides the warehouse: the lake, the loader's tuning, the shop database (if any), the
    dbt project and target."""

    store: RawStoreSettings
    loader: LoaderSettings
    privacy: IngestSettings  # CLICKSTREAM_IP_MODE also applies to addresses found in old objects at load
    dbt_project: Path
    dbt_target: Path  # writable: dbt's target and logs (under CLICKSTREAM_HOME, so /tmp in Lambda)
    in_lambda: bool = False
    shop: ShopDatabaseSettings | None = None  # None: no shop database configured, raw_shop stays as it is
    # The data health's CloudWatch metrics (published by the Lambda): Powertools' own variable names.
    metrics_namespace: str = "Clickstream"
    metrics_service: str = "clickstream"
    # Of a run given a deadline (the Lambda's remaining time), the seconds kept for the shop sync, dbt build and
    # health checks after the load: the load stops taking objects this long before the deadline.
    reserve_seconds: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> EtlSettings:
        return cls(
            store=RawStoreSettings.from_env(env),
            loader=LoaderSettings.from_env(env),
            privacy=IngestSettings.from_env(env),
            dbt_project=dbt_project_dir(env),
            dbt_target=clickstream_home(env) / "dbt-target",
            in_lambda=in_lambda(env),
            shop=ShopDatabaseSettings.from_env(env),
            metrics_namespace=_text(env, "POWERTOOLS_METRICS_NAMESPACE") or "Clickstream",
            metrics_service=_text(env, "POWERTOOLS_SERVICE_NAME") or "clickstream",
            reserve_seconds=_int(env, "CLICKSTREAM_ETL_RESERVE_SECONDS", 300, 0, 3600),
        )
