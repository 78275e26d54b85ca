"""The PostgreSQL warehouse: configured, or an embedded server under ``$CLICKSTREAM_HOME/pg``.

The embedded server uses the PostgreSQL 16 binaries shipped by the ``pgserver`` wheel, listens
on 127.0.0.1 only, and keeps running between commands until ``clickstream db stop``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import socket
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loader.config import ConfigError, WarehouseSettings, clickstream_home, in_lambda

if TYPE_CHECKING:
    import psycopg

EMBEDDED_DATABASE = "clickstream"
EMBEDDED_PREFERRED_PORT = 54329
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


class EmbeddedWarehouse:
    """A private PostgreSQL for laptops and tests (no root, no service manager needed)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.datadir = home / "pg"
        self.port_file = home / "pg.port"
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
        with open(self.home / "pg.lock", "w") as handle:
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

    def start(self) -> WarehouseSettings:
        with self._locked():
            if not (self.datadir / "PG_VERSION").exists():
                self._initdb()
            port = self.running_port() or self._start_server()
            settings = WarehouseSettings(
                host="127.0.0.1",
                port=port,
                user="postgres",
                password=None,
                database=EMBEDDED_DATABASE,
                sslmode="disable",
                embedded=True,
            )
            self._ensure_database(settings)
            return settings

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
            return EMBEDDED_PREFERRED_PORT

    @staticmethod
    def _ensure_database(settings: WarehouseSettings) -> None:
        import psycopg

        admin = {**settings.conninfo(), "dbname": "postgres"}
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            exists = conn.execute("select 1 from pg_database where datname = %s", (settings.database,)).fetchone()
            if not exists:
                conn.execute(f'create database "{settings.database}"')


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


@lru_cache(maxsize=8)
def _secret_password(secret_arn: str | None, password_param: str | None) -> dict[str, Any]:
    """Read the password once per process (Lambda: once per cold start)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if secret_arn:
            text = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
            try:
                secret = json.loads(text)
            except ValueError:
                return {"password": text}
            if not isinstance(secret, dict) or "password" not in secret:
                raise WarehouseError(f"secret {secret_arn} is JSON without a 'password' key")
            return secret
        value = boto3.client("ssm").get_parameter(Name=password_param, WithDecryption=True)["Parameter"]["Value"]
        return {"password": value}
    except (BotoCoreError, ClientError) as error:
        source = f"secret {secret_arn}" if secret_arn else f"parameter {password_param}"
        raise WarehouseError(f"cannot read the warehouse password from {source}: {error}") from error


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
        secret = _secret_password(settings.secret_arn, settings.password_param)
        settings = dataclasses.replace(
            settings,
            password=str(secret["password"]),
            user=str(secret.get("username") or settings.user),
        )
    return settings


def connect(settings: WarehouseSettings, **kwargs: Any) -> psycopg.Connection[Any]:
    """A psycopg connection, or a :class:`WarehouseError` saying which warehouse is unreachable."""
    import psycopg

    try:
        return psycopg.connect(**settings.conninfo(), **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as error:
        detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise WarehouseError(
            f"cannot connect to the warehouse at {settings.host}:{settings.port}: {detail}"
            " (check DW_URL or DW_PG_HOST/DW_PG_PORT, and that the server is running and reachable)"
        ) from error


__all__ = ["ConfigError", "EmbeddedWarehouse", "WarehouseError", "connect", "resolve"]
