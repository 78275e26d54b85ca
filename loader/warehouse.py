"""The PostgreSQL servers: the warehouse (configured, or embedded under ``$CLICKSTREAM_HOME/pg``) and the shop's
database (configured by ``SHOP_DB_URL``/``SHOP_PG_*``; the demo's is embedded under ``$CLICKSTREAM_HOME/shop-pg``).

An embedded server uses the PostgreSQL 16 binaries shipped by the ``pgserver`` wheel, listens on 127.0.0.1 only,
and keeps running between commands until ``clickstream db stop``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import socket
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.config import (
    ConfigError,
    PostgresSettings,
    ShopDatabaseSettings,
    WarehouseSettings,
    clickstream_home,
    in_lambda,
)
from loader.secrets import SecretError, read_secret

if TYPE_CHECKING:
    import psycopg

EMBEDDED_DATABASE = "clickstream"
EMBEDDED_PREFERRED_PORT = 54329
EMBEDDED_SHOP_DATABASE = "shop"
EMBEDDED_SHOP_PREFERRED_PORT = 54330
_SERVER_OPTIONS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "jit": "off",
    "max_connections": "60",
    "timezone": "UTC",
    "log_timezone": "UTC",
}


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or started; the message says which and why."""


class ShopDatabaseError(RuntimeError):
    """The shop's database cannot be reached or its credentials read; the message says which and why."""


class EmbeddedPostgres:
    """A private PostgreSQL for laptops and tests (no root, no service manager needed): its data directory is
    ``home/<name>``, and it serves ``database``."""

    name = "pg"
    database = EMBEDDED_DATABASE
    preferred_port = EMBEDDED_PREFERRED_PORT

    def __init__(self, home: Path) -> None:
        self.home = home
        self.datadir = home / self.name
        self.port_file = home / f"{self.name}.port"
        self._user: str | None = "pgserver" if os.geteuid() == 0 else None  # postgres refuses to run as root

    def _pg(self, program: str, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [str(_pg_bin() / program), *args],
            user=self._user,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
        )
        if result.returncode != 0:
            raise WarehouseError(f"{program} {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / f"{self.name}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def running_port(self) -> int | None:
        """The port of the server running on this data directory, if any."""
        try:
            lines = (self.datadir / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return port

    def start_server(self) -> int:
        """Start the server if it is not running (creating its data directory and database); returns its port."""
        with self._locked():
            if not (self.datadir / "PG_VERSION").exists():
                self._initdb()
            port = self.running_port() or self._start_server()
            self._ensure_database(port, self.database)
            return port

    def exists(self) -> bool:
        """Whether the data directory was created (the server may be stopped)."""
        return (self.datadir / "PG_VERSION").exists()

    def stop(self) -> bool:
        """Stop the server; ``False`` when none was running."""
        with self._locked():
            if self.running_port() is None:
                return False
            self._pg("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
            return True

    def _initdb(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            self._grant_to_service_user()
        self._pg("initdb", "-D", str(self.datadir), "--auth=trust", "-U", "postgres", "--encoding=UTF8", "--locale=C")

    def _grant_to_service_user(self) -> None:
        import pwd
        import stat

        assert self._user is not None
        bin_path = _pg_bin()
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(self._user)
        ensure_prefix_permissions(self.datadir)
        ensure_prefix_permissions(bin_path)
        readable, executable = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_path, readable | executable)
        ensure_folder_permissions(bin_path.parent / "lib", readable)
        entry = pwd.getpwnam(self._user)
        os.chown(self.datadir, entry.pw_uid, entry.pw_gid)

    def _start_server(self) -> int:
        port = _free_port(self._remembered_port())
        options = " ".join(
            f"-c {name}={value!r}" if value == "" else f"-c {name}={value}" for name, value in _SERVER_OPTIONS.items()
        )
        self._pg(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.datadir / "server.log"),
            "-o",
            f"-p {port} {options}",
            "start",
        )
        self.port_file.write_text(str(port))
        return port

    def _remembered_port(self) -> int:
        try:
            return int(self.port_file.read_text())
        except (OSError, ValueError):
            return self.preferred_port

    @staticmethod
    def _ensure_database(port: int, database: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
            if not exists:
                conn.execute(f'create database "{database}"')


class EmbeddedWarehouse(EmbeddedPostgres):
    """The warehouse when nothing is configured: ``$CLICKSTREAM_HOME/pg``, database ``clickstream``."""

    def start(self) -> WarehouseSettings:
        port = self.start_server()
        return WarehouseSettings("127.0.0.1", port, "postgres", None, self.database, "disable", embedded=True)


class EmbeddedShopDatabase(EmbeddedPostgres):
    """The demo's shop database, a server of its own (``$CLICKSTREAM_HOME/shop-pg``, database ``shop``): the
    warehouse reads it over TCP, as it reads the shop's real PostgreSQL."""

    name = "shop-pg"
    database = EMBEDDED_SHOP_DATABASE
    preferred_port = EMBEDDED_SHOP_PREFERRED_PORT

    def start(self) -> ShopDatabaseSettings:
        port = self.start_server()
        return ShopDatabaseSettings("127.0.0.1", port, "postgres", None, self.database, "disable")


def _pg_bin() -> Path:
    """PostgreSQL binaries of the pgserver wheel (importing it warns about XDG_RUNTIME_DIR; harmless)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _free_port(preferred: int) -> int:
    for candidate in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = probe.getsockname()[1]
            return port
    raise WarehouseError("no free TCP port on 127.0.0.1 for the embedded warehouse")


def resolve(env: Mapping[str, str] | None = None) -> WarehouseSettings:
    """The warehouse to use: configured (password from Secrets Manager/SSM if so set) or embedded."""
    environ = os.environ if env is None else env
    settings = WarehouseSettings.from_env(environ)
    if settings is None:
        if in_lambda(environ):
            raise ConfigError(
                "no warehouse configured: set DW_URL or DW_PG_HOST (and DW_PG_PASSWORD_PARAM or DW_PG_SECRET_ARN)"
            )
        return EmbeddedWarehouse(clickstream_home(environ)).start()
    if settings.password is None and (settings.secret_arn or settings.password_param):
        try:
            secret = read_secret(settings.secret_arn, settings.password_param)
        except SecretError as error:
            raise WarehouseError(f"cannot read the warehouse password from {error.source}: {error.detail}") from error
        settings = dataclasses.replace(
            settings,
            password=str(secret["password"]),
            user=str(secret.get("username") or settings.user),
        )
    return settings


def connect(settings: PostgresSettings, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection, or a :class:`WarehouseError` saying which warehouse is unreachable."""
    import psycopg

    try:
        return psycopg.connect(**settings.conninfo(), **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as error:
        raise WarehouseError(
            f"cannot connect to the warehouse at {settings.host}:{settings.port}: {_last_line(error)}"
            " (check DW_URL or DW_PG_HOST/DW_PG_PORT, and that the server is running and reachable)"
        ) from error


def configured_shop(env: Mapping[str, str] | None = None) -> ShopDatabaseSettings | None:
    """The shop database to copy: configured (``SHOP_DB_URL``/``SHOP_PG_*``), else, on a laptop, the demo's embedded
    one when ``make demo`` created it; None when there is neither (the platform runs without orders)."""
    environ = os.environ if env is None else env
    settings = ShopDatabaseSettings.from_env(environ)
    if settings is not None or in_lambda(environ):
        return settings
    embedded = EmbeddedShopDatabase(clickstream_home(environ))
    return embedded.start() if embedded.exists() else None


def resolve_shop(settings: ShopDatabaseSettings) -> ShopDatabaseSettings:
    """The shop database's settings with what ``SHOP_PG_SECRET_ARN`` holds filled in (read once per process): the
    password, and, as an RDS secret carries them, username, host, port and dbname where the environment gave none."""
    if settings.secret_arn is None or settings.password is not None:
        if not settings.host:
            raise ConfigError("SHOP_PG_HOST (or SHOP_DB_URL) is needed: the shop database has no host")
        return settings
    try:
        secret = read_secret(settings.secret_arn, None)
    except SecretError as error:
        raise ShopDatabaseError(
            f"cannot read the shop database's credentials from {error.source}: {error.detail}"
        ) from error
    host = settings.host or str(secret.get("host") or "")
    if not host:
        raise ConfigError(f"the shop database has no host: set SHOP_PG_HOST (secret {settings.secret_arn} names none)")
    try:
        port = int(secret.get("port") or settings.port) if not settings.host else settings.port
    except ValueError:
        raise ShopDatabaseError(
            f"secret {settings.secret_arn}: port must be a number, got {secret.get('port')!r}"
        ) from None
    return dataclasses.replace(
        settings,
        host=host,
        port=port,
        password=str(secret["password"]),
        user=str(secret.get("username") or settings.user),
        database=str(secret.get("dbname") or settings.database) if not settings.host else settings.database,
    )


def connect_shop(settings: ShopDatabaseSettings, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection to the shop's database with the session the sync reads in (UTC, a statement timeout), or a
    :class:`ShopDatabaseError` saying which server is unreachable."""
    import psycopg

    options = "-c TimeZone=UTC -c statement_timeout=600000 -c idle_in_transaction_session_timeout=900000"
    try:
        return psycopg.connect(**settings.conninfo(), options=options, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as error:
        raise ShopDatabaseError(
            f"cannot connect to the shop database at {settings.host}:{settings.port}: {_last_line(error)}"
            " (check SHOP_DB_URL or SHOP_PG_HOST/SHOP_PG_PORT, and that the ETL may reach it)"
        ) from error


def _last_line(error: Exception) -> str:
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


__all__ = [
    "ConfigError",
    "EmbeddedShopDatabase",
    "EmbeddedWarehouse",
    "ShopDatabaseError",
    "WarehouseError",
    "configured_shop",
    "connect",
    "connect_shop",
    "resolve",
    "resolve_shop",
]
