"""Configuration: read from the environment once, typed and validated.

Every variable the platform reads is parsed here; the rest of the code receives
these frozen dataclasses and never touches ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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


@dataclass(frozen=True)
class RawStoreSettings:
    """Where raw objects live: S3 when ``RAW_BUCKET_NAME`` is set, else a local directory."""

    bucket: str | None
    prefix: str
    endpoint_url: str | None
    region: str | None
    local_root: Path

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
        )

    @property
    def location(self) -> str:
        if self.bucket:
            return f"s3://{self.bucket}/{self.prefix}"
        return str(self.local_root / self.prefix)


@dataclass(frozen=True)
class WarehouseSettings:
    """Connection to the PostgreSQL warehouse. ``embedded`` means nothing was configured."""

    host: str
    port: int
    user: str
    password: str | None
    database: str
    sslmode: str
    secret_arn: str | None = None
    password_param: str | None = None
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
        ssl = (_text(env, "DW_PG_SSL") or "prefer").lower()
        sslmode = {
            "true": "require",
            "1": "require",
            "yes": "require",
            "false": "disable",
            "0": "disable",
            "no": "disable",
        }.get(ssl, ssl)
        if sslmode not in SSL_MODES:
            raise ConfigError(f"DW_PG_SSL must be true, false or a libpq sslmode ({', '.join(SSL_MODES)}); got {ssl!r}")
        return cls(
            host=host,
            port=_int(env, "DW_PG_PORT", 5432, 1, 65535),
            user=_text(env, "DW_PG_USER") or "postgres",
            password=env.get("DW_PG_PASSWORD") or None,
            database=_text(env, "DW_PG_DATABASE") or "postgres",
            sslmode=sslmode,
            secret_arn=_text(env, "DW_PG_SECRET_ARN"),
            password_param=_text(env, "DW_PG_PASSWORD_PARAM"),
        )

    @classmethod
    def from_url(cls, url: str, env: Mapping[str, str] = os.environ) -> WarehouseSettings:
        from urllib.parse import parse_qs, unquote, urlsplit

        parts = urlsplit(url)
        if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
            raise ConfigError(f"DW_URL must look like postgresql://user:password@host:port/database, got {url!r}")
        try:
            port = parts.port or 5432
        except ValueError:
            raise ConfigError(f"DW_URL has an invalid port: {url!r}") from None
        query = parse_qs(parts.query)
        sslmode = query.get("sslmode", ["prefer"])[0]
        if sslmode not in SSL_MODES:
            raise ConfigError(f"DW_URL sslmode must be one of {', '.join(SSL_MODES)}; got {sslmode!r}")
        return cls(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password) if parts.password else None,
            database=unquote(parts.path.lstrip("/")) or "postgres",
            sslmode=sslmode,
            secret_arn=_text(env, "DW_PG_SECRET_ARN"),
            password_param=_text(env, "DW_PG_PASSWORD_PARAM"),
        )

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
            "application_name": "clickstream",
            # The run lock lives on an idle connection for the whole dbt build: keep it alive and notice a dead one.
            "keepalives": 1,
            "keepalives_idle": 60,
            "keepalives_interval": 10,
            "keepalives_count": 5,
        }
        if self.password:
            info["password"] = self.password
        return info


@dataclass(frozen=True)
class LoaderSettings:
    """Tuning of the raw → warehouse loader."""

    lookback_hours: int = 72
    threads: int = 16
    writers: int = 2
    batch_objects: int = 1000
    batch_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> LoaderSettings:
        return cls(
            lookback_hours=_int(env, "CLICKSTREAM_LOOKBACK_HOURS", 72, 1, 24 * 366),
            threads=_int(env, "CLICKSTREAM_LOAD_THREADS", 16, 1, 128),
            writers=_int(env, "CLICKSTREAM_LOAD_WRITERS", 2, 1, 8),
            batch_objects=_int(env, "CLICKSTREAM_LOAD_BATCH_OBJECTS", 1000, 1, 100_000),
        )


@dataclass(frozen=True)
class EtlSettings:
    """What an ETL run needs besides the warehouse: the lake, the loader's tuning, the dbt project and target."""

    store: RawStoreSettings
    loader: LoaderSettings
    privacy: IngestSettings  # CLICKSTREAM_IP_MODE also applies to addresses found in old objects at load
    dbt_project: Path
    dbt_target: Path  # writable: dbt's target and logs (under CLICKSTREAM_HOME, so /tmp in Lambda)
    in_lambda: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> EtlSettings:
        return cls(
            store=RawStoreSettings.from_env(env),
            loader=LoaderSettings.from_env(env),
            privacy=IngestSettings.from_env(env),
            dbt_project=dbt_project_dir(env),
            dbt_target=clickstream_home(env) / "dbt-target",
            in_lambda=in_lambda(env),
        )
