"""``make package``: dist/ingest.zip and dist/etl.zip for the python3.12 x86_64 Lambda runtime.

Dependencies come from manylinux x86_64 wheels for CPython 3.12 (whatever Python builds the package),
pinned by requirements.lock. The ETL zip also carries the dbt project and a pre-parsed manifest
(target/partial_parse.msgpack), so a cold start does not parse the project from scratch; the ingest zip
has no dbt.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDA_LIMIT_BYTES = 250 * 1024 * 1024  # unzipped code + layers

INGEST_REQUIREMENTS = ["boto3", "orjson"]
ETL_REQUIREMENTS = [
    "boto3",
    "orjson",
    "psycopg[binary]",
    "device-detector",
    "crawlerdetect",
    "dbt-core",
    "dbt-postgres",
]
DBT_FILES = ["dbt_project.yml", "profiles.yml", "dbt_project"]
# Not needed at run time (pruned from the installed dependencies only).
PRUNE = ("__pycache__", "*.pyi")


def install(target: Path, requirements: list[str], python_version: str) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
        "--implementation", "cp",
        "--python-version", python_version, "--only-binary=:all:", "-c", str(ROOT / "requirements.lock"), *requirements,
    ]  # fmt: skip
    subprocess.run(command, check=True, env={**os.environ, "PIP_CONSTRAINT": ""})


def prune(tree: Path) -> None:
    for pattern in PRUNE:
        for path in sorted(tree.rglob(pattern), reverse=True):
            if path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def copy_sources(tree: Path, handler: str, with_dbt: bool) -> None:
    shutil.copytree(ROOT / "loader", tree / "loader", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "lambda" / handler / "app.py", tree / "app.py")
    if with_dbt:
        for name in DBT_FILES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copyfile(source, tree / name)


def preparse(tree: Path, database: str) -> None:
    """target/partial_parse.msgpack for the shipped project, parsed by this machine's dbt (the same version
    as the zip's) with the platform's patches, which compare the profile by connection keys and database
    only — so the deployed warehouse's host and user do not force a full parse at a cold start. The
    database (the template's WarehouseDatabaseName) is in the parsed relation names, so it must match."""
    from importlib.metadata import version

    shipped = next(tree.glob("dbt_core-*.dist-info")).name.removesuffix(".dist-info").split("-", 1)[1]
    if version("dbt-core") != shipped:
        raise SystemExit(
            f"dbt-core {version('dbt-core')} here but {shipped} in the zip: the saved parse would be unused"
        )
    env = {**os.environ, "DW_PG_HOST": "warehouse.invalid", "DW_PG_DATABASE": database,
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "PYTHONPATH": str(ROOT)}  # fmt: skip
    code = "from loader.transform import prepare_dbt; prepare_dbt(); from dbt.cli.main import cli; cli()"
    subprocess.run(
        [sys.executable, "-c", code, "parse", "--quiet", "--project-dir", str(tree), "--profiles-dir", str(tree),
         "--target-path", str(tree / "target"), "--log-path", str(tree / "target" / "logs")],
        check=True, env=env, cwd=tree.parent,  # not the tree: its packages are built for another Python
    )  # fmt: skip
    for name in ("logs", "manifest.json", "semantic_manifest.json", "perf_info.json"):
        path = tree / "target" / name
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def write_zip(tree: Path, destination: Path) -> tuple[int, int]:
    """Deterministic zip (sorted entries, fixed times); returns (zip bytes, unzipped bytes)."""
    destination.unlink(missing_ok=True)
    unzipped = 0
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(path.relative_to(tree)), date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data)
    return destination.stat().st_size, unzipped


def build(name: str, requirements: list[str], with_dbt: bool, python_version: str, database: str) -> tuple[int, int]:
    tree = ROOT / "build" / name
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    install(tree, requirements, python_version)
    prune(tree)
    copy_sources(tree, name, with_dbt)
    if with_dbt:
        preparse(tree, database)
    sizes = write_zip(tree, ROOT / "dist" / f"{name}.zip")
    if sizes[1] > LAMBDA_LIMIT_BYTES:
        raise SystemExit(f"{name}.zip unpacks to {sizes[1] / 2**20:.0f} MB, over Lambda's 250 MB limit")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python-version", default="3.12", help="Lambda runtime's Python (default 3.12)")
    parser.add_argument(
        "--database",
        default="clickstream",
        help="the warehouse database the ETL will use (the template's WarehouseDatabaseName; default clickstream)",
    )
    parser.add_argument("functions", nargs="*", help="ingest, etl (default: both)")
    args = parser.parse_args()
    args.functions = args.functions or ["ingest", "etl"]
    if set(args.functions) - {"ingest", "etl"}:
        parser.error("functions are ingest and etl")
    (ROOT / "dist").mkdir(exist_ok=True)
    for name in args.functions:
        zipped, unzipped = build(
            name,
            ETL_REQUIREMENTS if name == "etl" else INGEST_REQUIREMENTS,
            name == "etl",
            args.python_version,
            args.database,
        )
        print(f"dist/{name}.zip: {zipped / 2**20:.1f} MB zipped, {unzipped / 2**20:.1f} MB unzipped (limit 250 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
