"""Running dbt in-process against the configured (or embedded) warehouse.

``profiles.yml`` reads ``DW_PG_*`` from the environment; :func:`dbt_environment` sets them from the
resolved :class:`WarehouseSettings`, so ``DW_URL``, secrets and the embedded warehouse all work.
"""

from __future__ import annotations

import contextlib
import os
import pprint
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loader.config import WarehouseSettings

PROJECT = Path(__file__).resolve().parents[1]  # the dbt project next to ``loader/`` (repository or Lambda zip)
# dbt's events that mean the saved parse was not reused (a full parse followed).
_FULL_PARSE_EVENTS = frozenset({"UnableToPartialParse", "ParsedFileLoadFailed", "PartialParsingNotEnabled"})


def dbt_environment(settings: WarehouseSettings) -> dict[str, str]:
    """The variables ``profiles.yml`` reads."""
    return {
        "DW_PG_HOST": settings.host,
        "DW_PG_PORT": str(settings.port),
        "DW_PG_USER": settings.user,
        "DW_PG_PASSWORD": settings.password or "",
        "DW_PG_DATABASE": settings.database,
        "DW_PG_SSL": settings.sslmode,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _seed_partial_parse(shipped: Path, target: Path) -> None:
    """Start from the parse shipped with the project (the Lambda package's), so a cold start does not reparse."""
    source, destination = shipped / "partial_parse.msgpack", target / "partial_parse.msgpack"
    if source.exists() and not destination.exists() and source.resolve() != destination.resolve():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)


def _reuse_parse_across_warehouses() -> None:
    """Let a saved parse serve any host, so the one shipped in the Lambda zip is used at a cold start.

    dbt rejects a saved parse when any connection *value* (host, port, user, sslmode...) differs, because a
    model could read ``target.host``. No model here reads connection values (a test checks), so the
    profile is compared by its connection keys and only the values baked into the parsed nodes'
    relation names: the database and the schema.
    """
    from dbt.artifacts.resources.base import FileHash
    from dbt.parser.manifest import ManifestLoader

    build: Any = ManifestLoader.build_manifest_state_check
    if getattr(build, "_keys_only", False):
        return

    def build_manifest_state_check(self: Any) -> Any:
        state = build(self)
        credentials = self.root_project.credentials
        keys = sorted(key for key, _ in credentials.connection_info())
        state.profile_hash = FileHash.from_contents(pprint.pformat((keys, credentials.database, credentials.schema)))
        return state

    build_manifest_state_check._keys_only = True  # type: ignore[attr-defined]
    ManifestLoader.build_manifest_state_check = build_manifest_state_check  # type: ignore[method-assign]


def prepare_dbt() -> Any:
    """Patch dbt for this platform (no ``/dev/shm``; a saved parse reusable across warehouses) and import it;
    returns ``dbtRunner``."""
    from loader.lambda_compat import make_dbt_lambda_safe

    make_dbt_lambda_safe()
    _reuse_parse_across_warehouses()
    from dbt.cli.main import dbtRunner

    return dbtRunner


@dataclass
class DbtSummary:
    """What a dbt invocation did, by node type and status."""

    command: str
    success: bool
    seconds: float
    parse: str = "partial"  # "full" when dbt could not reuse the saved parse
    models_ok: int = 0
    models_failed: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    tests_warned: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # tests that warned
    freshness: dict[str, str] = field(default_factory=dict)  # source freshness: "source.table" -> pass/warn/error
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        text = (
            f"dbt {self.command} {'succeeded' if self.success else 'FAILED'}: {self.models_ok} models built"
            f" ({self.models_failed} failed), {self.tests_passed} tests passed, {self.tests_failed} failed,"
            f" {self.tests_warned} warned, {self.skipped} skipped in {self.seconds:.1f}s"
        )
        if self.error:
            text += f" — {self.error}"
        return text


# dbt commands that read or write the warehouse: the warehouse's own tables (loader/schema.py) are migrated first.
_WAREHOUSE_COMMANDS = frozenset({"build", "run", "test", "seed", "snapshot", "compile", "show", "docs", "source"})

# Scheduled and CLI builds: unit tests are for CI (dbt's advice), and the incremental one needs built models. The
# data health checks (tests tagged health) run after the build, on their own (HEALTH_CHECKS): a break in the data
# is reported as such, never as a failed build, and never stops a mart.
BUILD = ("build", "--exclude-resource-type", "unit_test", "--exclude", "tag:health")
HEALTH_CHECKS = ("test", "--select", "tag:health")
# dbt source freshness of raw.events (warn_after / error_after in models/staging/_sources.yml).
FRESHNESS = ("source", "freshness", "--select", "source:raw.events")


def run_dbt(
    args: Sequence[str],
    settings: WarehouseSettings,
    *,
    project: Path = PROJECT,
    target_path: Path | None = None,
    quiet: bool = False,
    json_logs: bool = False,
) -> DbtSummary:
    """Invoke dbt with ``args`` (e.g. ``["build"]``) in this process; never raises for dbt failures
    (an interrupt or exit is re-raised)."""
    dbt_runner = prepare_dbt()
    if args and args[0] in _WAREHOUSE_COMMANDS:
        from loader.schema import migrate_warehouse

        migrate_warehouse(settings)

    full_args = [*args]
    if quiet and "--quiet" not in full_args:
        full_args.append("--quiet")  # errors only on the console; the full log is in the target's logs/dbt.log
    if json_logs and "--log-format" not in full_args:
        full_args += ["--log-format", "json"]  # one JSON object per line, like the platform's own logs
    if "--project-dir" not in full_args:
        full_args += ["--project-dir", str(project)]
    if "--profiles-dir" not in full_args:
        full_args += ["--profiles-dir", str(project)]
    env = dbt_environment(settings)
    if target_path is not None:
        env["DBT_TARGET_PATH"] = str(target_path)
        env["DBT_LOG_PATH"] = str(target_path / "logs")
        _seed_partial_parse(project / "target", target_path)
    full_parse_events: list[str] = []

    def on_event(event: Any) -> None:
        if event.info.name in _FULL_PARSE_EVENTS:
            full_parse_events.append(event.info.name)

    started = time.perf_counter()
    with _environment(env):
        result = dbt_runner(callbacks=[on_event]).invoke(full_args)
    if isinstance(result.exception, (KeyboardInterrupt, SystemExit)):
        raise result.exception  # dbt hands interrupts back as results; the caller must stop
    summary = DbtSummary(
        command=" ".join(args[:1]),
        success=bool(result.success),
        seconds=round(time.perf_counter() - started, 2),
        parse="full" if full_parse_events else "partial",
    )
    if result.exception is not None:
        summary.error = f"{type(result.exception).__name__}: {result.exception}"
    statuses: Counter[tuple[str, str]] = Counter()
    for node_result in getattr(result.result, "results", None) or []:
        node = getattr(node_result, "node", None)
        kind = str(getattr(node, "resource_type", "")) if node is not None else ""
        status = str(getattr(node_result, "status", ""))
        statuses[(kind, status)] += 1
        if kind == "source":
            summary.freshness[f"{getattr(node, 'source_name', '?')}.{getattr(node, 'name', '?')}"] = status
        if status in ("error", "fail", "runtime error"):
            summary.failures.append(
                f"{kind} {getattr(node, 'name', '?')}: {str(getattr(node_result, 'message', ''))[:300]}"
            )
        elif status == "warn" and kind in ("test", "unit_test"):
            summary.warnings.append(f"{kind} {getattr(node, 'name', '?')}")
    for (kind, status), count in statuses.items():
        if kind in ("model", "seed", "snapshot"):
            if status == "success":
                summary.models_ok += count
            elif status == "error":
                summary.models_failed += count
        elif kind in ("test", "unit_test"):
            if status == "pass":
                summary.tests_passed += count
            elif status in ("fail", "error"):
                summary.tests_failed += count
            elif status == "warn":
                summary.tests_warned += count
        if status == "skipped":
            summary.skipped += count
    return summary


def generate_docs(
    settings: WarehouseSettings, *, project: Path = PROJECT, target_path: Path | None = None
) -> DbtSummary:
    """``dbt docs generate``: index.html, manifest.json and catalog.json (the built relations' columns and types,
    read from the warehouse) in the target directory."""
    return run_dbt(["docs", "generate"], settings, project=project, target_path=target_path)


def serve_docs(
    settings: WarehouseSettings,
    *,
    host: str,
    port: int,
    project: Path = PROJECT,
    target_path: Path | None = None,
) -> DbtSummary:
    """``dbt docs serve`` of what :func:`generate_docs` wrote, on ``host:port``, until interrupted (no browser is
    opened: the URL is printed)."""
    args = ["docs", "serve", "--no-browser", "--host", host, "--port", str(port)]
    return run_dbt(args, settings, project=project, target_path=target_path)
