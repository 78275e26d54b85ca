"""The ETL Lambda handler: load + dbt build, failure semantics, and Lambda's own conditions.

Lambda's conditions, reproduced with a mount namespace: the whole filesystem read-only except a fresh
/tmp, no usable /dev/shm (multiprocessing locks fail there), HOME and the working directory not
writable, and a guard that refuses any Python network connection but to the warehouse and S3.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from loader.breaks import UnknownEvent, inject
from loader.config import RawStoreSettings, ShopDatabaseSettings, WarehouseSettings
from loader.etl import EtlFailed, EtlRequestError
from loader.generate import TrafficGenerator
from loader.rawstore import open_store
from loader.replay import replay
from loader.runlock import LOCK_KEY
from loader.shop_orders import ShopOrders
from tests.conftest import ROOT, find_python_312, free_port, load_module

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SCHEDULED = {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}


PYTHON_312 = find_python_312()


def add_traffic(events: int, seed: int, hours: float = 6) -> None:
    replay(
        TrafficGenerator(events=events, days=hours / 24, seed=seed, now=NOW).requests(),
        open_store(RawStoreSettings.from_env()),
    )


def add_traffic_and_orders(server: WarehouseSettings, name: str, events: int, seed: int) -> tuple[Any, int]:
    """Traffic of the last six hours into the lake, and the orders it placed into a new shop database ``name`` on
    ``server``: (the shop database's settings, orders placed)."""
    shop = ShopDatabaseSettings(server.host, server.port, server.user, server.password, name, "disable")
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    with psycopg.connect(**shop.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        orders = ShopOrders.open(conn, seed=seed, since=NOW - timedelta(hours=6), now=NOW)
        generator = TrafficGenerator(events=events, days=0.25, seed=seed, now=NOW, place_order=orders.place_order)
        replay(generator.requests(), open_store(RawStoreSettings.from_env()))
        return shop, orders.write(conn).orders


@pytest.fixture
def etl(s3_env: dict[str, str], dw: WarehouseSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CLICKSTREAM_HOME", str(tmp_path / "home"))
    # these tests are not about the user-agent parsing budget: a busy machine (Spark in the next worker) must not
    # spend it and add its warning to the logged steps
    monkeypatch.setenv("CLICKSTREAM_UA_PARSE_SECONDS", "120")
    return load_module(ROOT / "lambda" / "etl" / "app.py").handler


def query(dw: WarehouseSettings, sql: str) -> Any:
    with psycopg.connect(**dw.conninfo()) as conn:  # type: ignore[arg-type]
        return conn.execute(sql).fetchone()[0]


def test_a_scheduled_run_loads_then_builds_and_the_next_one_is_incremental(
    etl: Any, dw: WarehouseSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    add_traffic(1500, seed=1)
    capsys.readouterr()
    first = etl(SCHEDULED, SimpleNamespace(aws_request_id="req-42"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    logged = [line for line in lines if "_aws" not in line]  # and one line of metrics (EMF)
    assert [line["message"] for line in logged] == ["load", "etl"], logged  # one JSON line per step
    assert all(line["correlationId"] == "req-42" for line in logged)
    assert first["status"] == "succeeded"
    assert first["load"]["events"] > 1000 and first["transform"]["models_ok"] >= 14
    assert first["transform"]["tests_failed"] == 0 and first["transform"]["tests_passed"] > 50
    assert query(dw, "select count(*) from marts.fct_events") > 0
    second = etl(SCHEDULED, None)
    assert (second["status"], second["load"]["objects"]) == ("succeeded", 0)


def test_a_run_short_of_time_loads_what_fits_builds_says_partial_and_the_next_one_continues(
    s3_env: dict[str, str], dw: WarehouseSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lambda's remaining time minus CLICKSTREAM_ETL_RESERVE_SECONDS is the load's deadline: given no more
    than the reserve, the run takes one batch, builds, records itself partial and does not fail the invocation."""
    monkeypatch.setenv("CLICKSTREAM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLICKSTREAM_LOAD_BATCH_OBJECTS", "20")
    monkeypatch.setenv("CLICKSTREAM_ETL_RESERVE_SECONDS", "300")
    etl = load_module(ROOT / "lambda" / "etl" / "app.py").handler
    add_traffic(800, seed=4)
    short = etl(SCHEDULED, SimpleNamespace(aws_request_id="r-1", get_remaining_time_in_millis=lambda: 300_000))
    assert (short["status"], short["load"]["status"], short["load"]["out_of_time"]) == ("partial", "partial", True)
    assert short["load"]["objects"] == 20 and "next run continues" in short["message"]
    assert short["transform"]["models_ok"] >= 14 and query(dw, "select count(*) from marts.fct_events") > 0
    ample = etl(SCHEDULED, SimpleNamespace(aws_request_id="r-2", get_remaining_time_in_millis=lambda: 900_000))
    assert ample["status"] == "succeeded" and ample["load"]["objects"] > 0
    loaded = short["load"]["events"] + ample["load"]["events"]
    assert query(dw, "select count(distinct event_id) from raw.events") == query(dw, "select count(*) from raw.events")
    assert query(dw, "select count(*) from raw.events") == loaded
    assert query(dw, "select string_agg(status, ' ' order by etl_run_id) from raw.etl_runs") == "partial succeeded"


def test_backfill_overrides_reach_the_loader(etl: Any, dw: WarehouseSettings) -> None:
    add_traffic(300, seed=2, hours=1)
    hour = (NOW - timedelta(hours=40)).strftime("%Y-%m-%dT%H")
    replay(TrafficGenerator(events=200, days=0.04, seed=3, now=NOW - timedelta(hours=39, minutes=30)).requests(),
           open_store(RawStoreSettings.from_env()))  # fmt: skip
    only_that_hour = etl({**SCHEDULED, "targetUtcHour": hour, "scope": "hour"}, None)
    assert only_that_hour["load"]["discovery"].startswith(f"from {hour.replace('T', ' ')}:00 UTC")
    assert 0 < only_that_hour["load"]["events"] <= 200
    everything_else = etl(SCHEDULED, None)
    assert everything_else["load"]["events"] >= 290


def test_a_failing_dbt_test_fails_the_invocation_after_the_load_committed(etl: Any, dw: WarehouseSettings) -> None:
    add_traffic(800, seed=4, hours=72)
    etl(SCHEDULED, None)
    with psycopg.connect(**dw.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        # corrupt a day the next run does not recompute: its data test must catch it
        corrupted = conn.execute(
            "update marts.funnel_daily set sessions = sessions + 100000"
            " where step_order = 4 and date_day = (select min(date_day) from marts.funnel_daily)"
        ).rowcount
    assert corrupted > 0
    loaded_before = query(dw, "select count(*) from raw.events")
    replay(
        TrafficGenerator(events=100, days=0.01, seed=5, now=NOW + timedelta(minutes=59)).requests(),
        open_store(RawStoreSettings.from_env()),
    )
    with pytest.raises(EtlFailed, match="funnel_never_increases_with_the_step"):
        etl(SCHEDULED, None)
    assert query(dw, "select count(*) from raw.events") > loaded_before, "the load committed before dbt failed"


def test_a_break_in_the_data_is_reported_under_health_and_published_as_metrics_while_the_run_succeeds(
    etl: Any, dw: WarehouseSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new storefront release sends an event the contract does not know: the health checks warn, the Lambda's
    metrics say so (HealthAnomalies), the marts build and the run succeeds; raw.etl_runs records it."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # not NOW: the session may be an hour old
    requests = TrafficGenerator(events=900, days=3, seed=8, now=now).requests()
    replay(
        inject(requests, [UnknownEvent(now - timedelta(minutes=50))], seed=8), open_store(RawStoreSettings.from_env())
    )
    capsys.readouterr()
    result = etl(SCHEDULED, None)
    assert result["status"] == "succeeded" and result["transform"]["tests_failed"] == 0
    health = result["health"]
    assert health["status"] == "warn" and health["failures"] == ["health_tracker_schema_is_unchanged"]
    assert health["freshness"] == "pass" and any("unknown_event_name" in found for found in health["open_anomalies"])
    [metrics] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [definition] = metrics["_aws"]["CloudWatchMetrics"]
    assert (definition["Namespace"], definition["Dimensions"], metrics["service"]) == (
        "Clickstream",
        [["service"]],
        "clickstream",
    )
    assert metrics["HealthAnomalies"] == [1.0] and metrics["HealthChecksFailed"] == [0.0]
    assert metrics["Events"][0] == health["latest"]["events"] > 0 and "BotShare" in metrics
    assert query(dw, "select count(*) from marts.fct_events") > 0
    assert query(dw, "select status || ' ' || health_status || ' ' || freshness_status from marts.etl_runs") == (
        "succeeded warn pass"
    )


def test_a_second_concurrent_etl_is_skipped_but_a_blocked_backfill_fails(etl: Any, dw: WarehouseSettings) -> None:
    with psycopg.connect(**{**dw.conninfo(), "application_name": "analyst-notebook"}, autocommit=True) as holder:  # type: ignore[arg-type]
        holder.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        result = etl(SCHEDULED, None)
        with pytest.raises(EtlFailed, match="this backfill did not run"):
            etl({"hoursBack": 6}, None)
    assert result["status"] == "skipped"
    assert re.match(r"another run holds the lock \(PostgreSQL pid \d+, analyst-notebook", result["message"])


def test_a_shop_database_that_is_down_fails_its_part_clearly_while_the_clickstream_loads_and_builds(
    s3_env: dict[str, str], dw: WarehouseSettings, pg_server: WarehouseSettings, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("CLICKSTREAM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHOP_DB_URL", f"postgresql://reader@127.0.0.1:{free_port()}/shop")  # nothing listens there
    down = load_module(ROOT / "lambda" / "etl" / "app.py").handler
    add_traffic(800, seed=6)
    with pytest.raises(
        EtlFailed, match=r"shop database sync failed: cannot connect to the shop database at 127\.0\.0\.1"
    ):
        down(SCHEDULED, None)
    assert query(dw, "select count(*) from raw.events") > 700, "the clickstream loaded"
    assert query(dw, "select count(*) from marts.fct_events") > 0, "and dbt built on it"
    assert query(dw, "select status || ': ' || error from raw_shop.sync_runs").startswith("failed: cannot connect")

    shop, placed = add_traffic_and_orders(pg_server, f"{dw.database}_shop", 800, seed=7)
    monkeypatch.setenv("SHOP_DB_URL", shop.url())
    result = load_module(ROOT / "lambda" / "etl" / "app.py").handler(SCHEDULED, None)
    assert (result["status"], result["shop"]["status"]) == ("succeeded", "succeeded")
    assert result["shop"]["tables"]["orders"]["inserted"] == placed > 0
    assert query(dw, "select count(*) from marts.fct_orders") == placed
    assert query(dw, "select count(*) from marts.fct_orders where match_method <> 'none'") > 0


def test_a_bad_override_fails_the_invocation_naming_it(etl: Any) -> None:
    with pytest.raises(EtlRequestError, match="targetUtcHour must"):
        etl({"targetUtcHour": True}, None)
    with pytest.raises(EtlRequestError, match="overridePrefix must start with RAW_PREFIX"):
        etl({"overridePrefix": "2026/11/20/"}, None)


# `clickstream etl --every` as started from a terminal: Ctrl-C reaches it even when this test run was itself
# started in the background (a shell's background job ignores SIGINT, and children inherit that).
_ETL_EVERY = [sys.executable, "-c", "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler);"
              " runpy.run_module('clickstream', run_name='__main__')", "etl", "--every", "1s"]  # fmt: skip


def test_etl_every_keeps_its_schedule_when_a_run_fails(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DW_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    process = subprocess.Popen(_ETL_EVERY, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    failures = [process.stderr.readline() for _ in range(2)]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert all("etl failed: cannot connect to the warehouse at 127.0.0.1:1" in line for line in failures), failures


# -- Lambda's conditions --------------------------------------------------------------------------------
_NETWORK_GUARD = '''
"""Refuse Python network use except the allowed loopback ports (the warehouse and S3); say so on stderr
even if the caller swallows the error, and exit: a test must not pass on a refused connection."""
import os, socket
_allowed = {int(p) for p in os.environ["ALLOWED_PORTS"].split(",")}
_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
def _refuse(what):
    os.write(2, f"NETWORK GUARD: {what} refused in the Lambda test\\n".encode())
    os._exit(97)
def _check(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not (address[0] in ("127.0.0.1", "::1") and address[1] in _allowed):
        _refuse(f"connection to {address}")
def _resolve(host, *args, **kwargs):
    if host not in (None, "localhost", "127.0.0.1", "::1"):
        _refuse(f"name lookup of {host}")
    return _getaddrinfo(host, *args, **kwargs)
socket.socket.connect = lambda self, address: (_check(self, address), _connect(self, address))[1]
socket.socket.connect_ex = lambda self, address: (_check(self, address), _connect_ex(self, address))[1]
socket.getaddrinfo = _resolve
'''


def run_like_lambda(
    python: str, task_root: Path, event: dict[str, Any], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``app.handler(event)`` from ``task_root`` with only a fresh /tmp writable and no /dev/shm.

    The script checks the conditions before it runs the handler: the task root and HOME refuse writes and a
    multiprocessing lock cannot be made.
    """
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("reproducing Lambda's filesystem needs unshare (util-linux)")
    namespace = [unshare, "-m"] if os.geteuid() == 0 else [unshare, "--map-root-user", "-m"]
    guard = task_root.parent / f"{task_root.name}-guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(_NETWORK_GUARD)
    call = (  # where the code came from, then the handler's answer
        "import importlib.util as u, json, sys, app;"
        " print('PATHS ' + json.dumps([u.find_spec(n).origin for n in ('dbt.cli.main', 'psycopg', 'boto3')"
        " if u.find_spec(n.split('.')[0])]));"
        " print('RESULT ' + json.dumps(app.handler(json.loads(sys.argv[1]), None), default=str))"
    )
    # A checkout under /tmp (a CI clone) would vanish under the fresh /tmp: it is bound back, read-only, through a
    # descriptor opened on the old /tmp before the mount.
    keep = ROOT.resolve()
    keep_checkout = (
        f"mkdir -p {keep}; mount --no-canonicalize --bind /proc/self/fd/3/{keep.relative_to('/tmp')} {keep};"
        f" mount -o remount,bind,ro {keep}"
        if keep.is_relative_to("/tmp")
        else ""
    )
    script = textwrap.dedent(f"""
        set -e
        mount --make-rprivate /
        mount --bind {task_root} {task_root}
        mount -o remount,bind,ro {task_root}
        mount -o remount,bind,ro /
        exec 3< /tmp
        mount -t tmpfs -o size=512m tmpfs /tmp
        {keep_checkout}
        exec 3<&-
        mount -t tmpfs -o ro,size=1m tmpfs /dev/shm
        cd {task_root}
        if touch {task_root}/.writable 2>/dev/null || touch "$HOME/.writable" 2>/dev/null; then
            echo "CONDITION: the task root or HOME is writable" >&2; exit 96
        fi
        if {python} -s -c "import multiprocessing; multiprocessing.Lock()" 2>/dev/null; then
            echo "CONDITION: a multiprocessing lock works without /dev/shm" >&2; exit 96
        fi
        touch /tmp/.writable
        exec {python} -s -c "{call}" '{json.dumps(event)}'
    """)
    return subprocess.run([*namespace, "sh", "-c", script], env=env, capture_output=True, text=True, timeout=600)


def lambda_environment(dw: WarehouseSettings, s3_env: dict[str, str], task_root: Path, guard: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(task_root),  # read-only, like /home/sbx_user1051 in Lambda
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "clickstream-etl",
        "PYTHONPATH": f"{guard}:{task_root}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DW_URL": dw.url(),
        "RAW_BUCKET_NAME": s3_env["RAW_BUCKET_NAME"],
        "AWS_ENDPOINT_URL": s3_env["AWS_ENDPOINT_URL"],
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ALLOWED_PORTS": f"{dw.port},{urlsplit(s3_env['AWS_ENDPOINT_URL']).port}",
    }


@pytest.fixture
def task_root() -> Iterator[Path]:
    """Outside /tmp (the namespace replaces /tmp), read-only inside the namespace."""
    path = ROOT / ".clickstream" / "lambda-task" / uuid.uuid4().hex[:8]
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def _assert_lambda_run(result: subprocess.CompletedProcess[str], task_root: Path | None = None) -> dict[str, Any]:
    """The run succeeded (and, given ``task_root``, imported dbt and psycopg from it alone)."""
    assert "NETWORK GUARD" not in result.stderr + result.stdout, result.stderr[-3000:]
    assert "CONDITION" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, (result.stdout[-2000:], result.stderr[-3000:])
    summary: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    assert summary["status"] == "succeeded", summary
    assert summary["load"]["events"] > 0 and summary["transform"]["models_ok"] >= 14
    if task_root is not None:
        [paths] = [
            json.loads(line.removeprefix("PATHS ")) for line in result.stdout.splitlines() if line.startswith("PATHS ")
        ]
        assert all(Path(path).is_relative_to(task_root) for path in paths), paths
    return summary


def test_the_handler_runs_with_a_read_only_project_no_dev_shm_and_only_tmp_writable(
    s3_env: dict[str, str], dw: WarehouseSettings, task_root: Path
) -> None:
    add_traffic(600, seed=6)
    shutil.copytree(ROOT / "loader", task_root / "loader", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "dbt_project", task_root / "dbt_project")
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copyfile(ROOT / name, task_root / name)
    shutil.copyfile(ROOT / "lambda" / "etl" / "app.py", task_root / "app.py")
    env = lambda_environment(dw, s3_env, task_root, task_root.parent / f"{task_root.name}-guard")
    env["PYTHONPATH"] += ":" + ":".join(p for p in sys.path if "site-packages" in p)
    _assert_lambda_run(run_like_lambda(sys.executable, task_root, SCHEDULED, env))


@pytest.fixture(scope="session")
def packages() -> dict[str, Path]:
    """dist/*.zip as `make package` builds them (rebuilt here when missing or older than the sources)."""
    dist = ROOT / "dist"
    sources = [p for d in ("loader", "lambda", "dbt_project") for p in (ROOT / d).rglob("*") if p.is_file()]
    project_files = [
        ROOT / name
        for name in ("requirements.lock", "dbt_project.yml", "profiles.yml", "pyproject.toml", "scripts/package.py")
    ]
    newest_source = max(p.stat().st_mtime for p in [*sources, *project_files])
    zips = [dist / "etl.zip", dist / "ingest.zip"]
    if not all(z.exists() and z.stat().st_mtime > newest_source for z in zips):
        subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py")], check=True, timeout=1200)
    return {"etl": dist / "etl.zip", "ingest": dist / "ingest.zip"}


def unzip(archive: Path, destination: Path) -> int:
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(destination)
        for info in zipped.infolist():  # keep the executable bits (psycopg's bundled libraries need them)
            (destination / info.filename).chmod((info.external_attr >> 16) or 0o644)
        return sum(info.file_size for info in zipped.infolist())


def test_both_packages_fit_lambda_and_only_the_etl_one_carries_dbt_and_a_saved_parse(
    packages: dict[str, Path], tmp_path: Path
) -> None:
    etl, ingest = tmp_path / "etl", tmp_path / "ingest"
    unzipped = unzip(packages["etl"], etl)
    assert unzipped < 250 * 1024 * 1024, f"{unzipped / 2**20:.0f} MB unzipped, over Lambda's 250 MB"
    assert (etl / "target" / "partial_parse.msgpack").exists() and (etl / "dbt").is_dir()
    assert list(etl.glob("psycopg_binary*")) and list(etl.glob("*.dist-info")), "manylinux wheels, installed"
    unzip(packages["ingest"], ingest)
    assert not (ingest / "dbt").exists() and not (ingest / "dbt_project").exists() and (ingest / "app.py").exists()


@pytest.mark.skipif(PYTHON_312 is None, reason="python3.12 (the Lambda runtime) is not installed here")
def test_the_etl_package_runs_from_the_unpacked_zip_alone_using_its_saved_parse(
    packages: dict[str, Path], s3_env: dict[str, str], dw: WarehouseSettings, task_root: Path
) -> None:
    """The deployed shape: the shop database reached with its login from Secrets Manager (moto), as the template
    passes SHOP_PG_HOST/PORT/DATABASE/SSL and SHOP_PG_SECRET_ARN."""
    import boto3

    unzip(packages["etl"], task_root)
    shop, placed = add_traffic_and_orders(dw, "clickstream_dw_shop", 600, seed=7)
    secret = boto3.client("secretsmanager", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    arn = secret.create_secret(
        Name=f"shop-{uuid.uuid4().hex[:8]}", SecretString=json.dumps({"username": shop.user, "password": "unused"})
    )["ARN"]
    deployed = dataclasses.replace(dw, database="clickstream_dw")  # the template's WarehouseDatabaseName default
    with psycopg.connect(**{**dw.conninfo(), "dbname": "postgres"}, autocommit=True) as admin:  # type: ignore[arg-type]
        admin.execute("drop database if exists clickstream_dw with (force)")
        admin.execute("create database clickstream_dw")
    env = lambda_environment(deployed, s3_env, task_root, task_root.parent / f"{task_root.name}-guard")
    env |= {"SHOP_PG_HOST": shop.host, "SHOP_PG_PORT": str(shop.port), "SHOP_PG_DATABASE": shop.database,
            "SHOP_PG_SSL": "disable", "SHOP_PG_SECRET_ARN": arn}  # fmt: skip
    assert PYTHON_312
    summary = _assert_lambda_run(run_like_lambda(PYTHON_312, task_root, SCHEDULED, env), task_root)
    assert summary["transform"]["parse"] == "partial", "the shipped parse serves the deployed warehouse"
    assert (summary["shop"]["status"], summary["shop"]["tables"]["orders"]["inserted"]) == ("succeeded", placed)


@pytest.mark.skipif(PYTHON_312 is None, reason="python3.12 (the Lambda runtime) is not installed here")
def test_the_ingest_package_handler_stores_a_request(
    packages: dict[str, Path], s3_env: dict[str, str], dw: WarehouseSettings, task_root: Path
) -> None:
    unzip(packages["ingest"], task_root)
    env = lambda_environment(dw, s3_env, task_root, task_root.parent / f"{task_root.name}-guard")
    request = {"version": "2.0", "body": json.dumps({"eventName": "click", "clientId": "c1"}),
               "requestContext": {"http": {"method": "POST", "path": "/clickstream", "sourceIp": "1.2.3.4"}}}  # fmt: skip
    assert PYTHON_312
    result = run_like_lambda(PYTHON_312, task_root, request, env)
    assert result.returncode == 0, result.stderr[-3000:]
    response = json.loads(
        next(line for line in result.stdout.splitlines() if line.startswith("RESULT ")).removeprefix("RESULT ")
    )
    assert response["statusCode"] == 200 and json.loads(response["body"])["accepted"] == 1
    assert len(list(open_store(RawStoreSettings.from_env()).list("events/"))) == 1


def test_etl_every_repeats_until_interrupted(home: Path, dw: WarehouseSettings) -> None:
    replay(TrafficGenerator(events=300, days=0.1, seed=8, now=NOW).requests(), open_store(RawStoreSettings.from_env()))
    process = subprocess.Popen(
        _ETL_EVERY,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 240
    assert process.stdout is not None
    while len(lines) < 2 and time.monotonic() < deadline:
        line = process.stdout.readline()
        if "etl " in line:
            lines.append(line)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert len(lines) == 2, lines
    objects = [int(re.search(r"([\d,]+) objects", line).group(1).replace(",", "")) for line in lines]  # type: ignore[union-attr]
    assert all("etl succeeded" in line for line in lines), lines
    assert objects[0] > 0 and objects[1] == 0, "the first run loads the traffic, the next finds nothing new"
