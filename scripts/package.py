"""``make package``: dist/ingest.zip and dist/etl.zip for the python3.12 x86_64 Lambda runtime, and
dist/dashboard-wheelhouse.tar.gz for the warehouse + dashboard host (Amazon Linux 2023, python3.12, x86_64).

Dependencies come from manylinux x86_64 wheels for CPython 3.12 (whatever Python builds the package),
pinned by requirements.lock. The ETL zip also carries the dbt project and a pre-parsed manifest
(target/partial_parse.msgpack), so a cold start does not parse the project from scratch; the ingest zip
has no dbt.

The wheelhouse holds, in its folder wheelhouse/, the project's own wheel and a wheel of every dependency of
``clickstream-warehouse[dashboard]``, so that the host (no internet) installs it with
``pip install --no-index --find-links wheelhouse clickstream_warehouse-*.whl[dashboard]``
(/usr/local/sbin/clickstream-install-dashboard, see infra/template.yaml). pip evaluates environment markers
for the Python that runs it, not for --python-version (shiny needs ``setuptools; python_version >= "3.12"``), so
the wheelhouse's requirements are walked again with the host's markers and what is missing is downloaded too.
Every dependency publishes a wheel today; should one ship only an sdist, the download fails naming it, and its
wheel must be built (``pip wheel --no-deps``, pure Python only) into the wheelhouse before the download.
"""

from __future__ import annotations

import argparse
import email.parser
import gzip
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

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
    "aws-lambda-powertools",  # the data health's CloudWatch metrics (loader/metrics.py)
]
DBT_FILES = ["dbt_project.yml", "profiles.yml", "dbt_project"]
# What the project's wheel is built from (a clean copy: setuptools' build/ folder would keep deleted modules).
PROJECT_FILES = ["pyproject.toml", "README.md", "loader", "clickstream", "dashboard"]
PROJECT_WHEEL = "clickstream_warehouse-*.whl"
FIXED_TIME = (2026, 1, 1, 0, 0, 0)
FIXED_EPOCH = 1767225600  # FIXED_TIME as a Unix time (SOURCE_DATE_EPOCH of the project's wheel)
ARTIFACTS = ("ingest", "etl", "dashboard")
DEFAULT_ARTIFACTS = ["ingest", "etl"]  # what the tests and the bench call this for; `make package` names all three
# Not needed at run time (pruned from the installed dependencies only).
PRUNE = ("__pycache__", "*.pyi")


def manylinux(python_version: str) -> list[str]:
    """pip options selecting manylinux x86_64 CPython wheels of ``python_version``, pinned by requirements.lock."""
    return [
        "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64", "--implementation", "cp",
        "--python-version", python_version, "--only-binary=:all:", "-c", str(ROOT / "requirements.lock"),
    ]  # fmt: skip


def pip(*arguments: str, **env: str) -> None:
    """pip of this Python; the machine's global constraint file is replaced by requirements.lock."""
    command = [sys.executable, "-m", "pip", *arguments]
    subprocess.run(command, check=True, env={**os.environ, "PIP_CONSTRAINT": "", **env})


def install(target: Path, requirements: list[str], python_version: str) -> None:
    pip("install", "--quiet", "--disable-pip-version-check", "--no-compile", "--target", str(target),
        *manylinux(python_version), *requirements)  # fmt: skip


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
            info = zipfile.ZipInfo(str(path.relative_to(tree)), date_time=FIXED_TIME)
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


def write_tar_gz(tree: Path, destination: Path) -> tuple[int, int]:
    """Deterministic .tar.gz of ``tree``'s folders (sorted entries, fixed times, owner root, no gzip name or
    time); returns (archive bytes, unpacked bytes)."""
    destination.unlink(missing_ok=True)
    unpacked = 0

    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_EPOCH, 0, 0, "root", "root"
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    with (
        destination.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path in sorted(tree.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(tree)), recursive=False, filter=normalise)
            unpacked += path.stat().st_size if path.is_file() else 0
    return destination.stat().st_size, unpacked


def target_markers(python_version: str) -> dict[str, str]:
    """The environment markers of the host (and of the Lambda runtime): CPython ``python_version`` on x86_64 Linux."""
    return {
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "implementation_version": f"{python_version}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
    }


def wheel_requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        metadata = email.parser.BytesParser().parsebytes(archive.read(name), headersonly=True)
    return [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]


def missing_requirements(wheelhouse: Path, root: Path, extras: set[str], python_version: str) -> list[str]:
    """Requirements of ``root[extras]``'s closure, under the host's markers, that no wheel in ``wheelhouse`` meets."""
    wheels = {parse_wheel_filename(w.name)[0]: w for w in wheelhouse.glob("*.whl")}
    markers = target_markers(python_version)
    pending = [(parse_wheel_filename(root.name)[0], frozenset(extras))]
    walked: set[tuple[str, str]] = set()
    missing: set[str] = set()
    while pending:
        name, wanted = pending.pop()
        contexts = [e for e in ("", *sorted(wanted)) if (name, e) not in walked]
        walked.update((name, e) for e in contexts)
        for requirement in wheel_requirements(wheels[name]) if contexts else []:
            if requirement.marker and not any(requirement.marker.evaluate({**markers, "extra": e}) for e in contexts):
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency in wheels:
                pending.append((dependency, frozenset(requirement.extras)))
            else:
                requirement.marker = None
                missing.add(str(requirement))
    return sorted(missing)


def build_wheelhouse(python_version: str) -> tuple[int, int, int]:
    """dist/dashboard-wheelhouse.tar.gz: wheelhouse/ with the project's wheel and every dependency of its
    ``dashboard`` extra; returns (archive bytes, unpacked bytes, wheels)."""
    tree = ROOT / "build" / "dashboard-wheelhouse"
    source = ROOT / "build" / "dashboard-source"
    for path in (tree, source):
        shutil.rmtree(path, ignore_errors=True)
    wheelhouse = tree / "wheelhouse"
    wheelhouse.mkdir(parents=True)
    source.mkdir(parents=True)
    for name in PROJECT_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(ROOT / name, source / name)
    pip("wheel", "--quiet", "--disable-pip-version-check", "--no-deps", "--wheel-dir", str(wheelhouse), str(source),
        SOURCE_DATE_EPOCH=str(FIXED_EPOCH))  # fmt: skip
    shutil.rmtree(source)
    wheels = sorted(wheelhouse.glob(PROJECT_WHEEL))
    if len(wheels) != 1:
        raise SystemExit(f"expected one {PROJECT_WHEEL} from pip wheel in {wheelhouse}, found {wheels}")
    # What the host's install command resolves: the project's wheel with its dashboard extra, then whatever the
    # host's markers add (each round resolves the new requirements' own dependencies with this Python's markers).
    requirements = [f"{wheels[0]}[dashboard]"]
    for _ in range(5):
        pip("download", "--quiet", "--disable-pip-version-check", "--dest", str(wheelhouse),
            *manylinux(python_version), *requirements)  # fmt: skip
        requirements = missing_requirements(wheelhouse, wheels[0], {"dashboard"}, python_version)
        if not requirements:
            break
    else:
        raise SystemExit(f"the wheelhouse still lacks {requirements} for Python {python_version} after 5 downloads")
    not_wheels = sorted(p.name for p in wheelhouse.iterdir() if p.suffix != ".whl")
    if not_wheels:
        raise SystemExit(f"the wheelhouse must hold wheels only (the host builds nothing), found {not_wheels}")
    archive, unpacked = write_tar_gz(tree, ROOT / "dist" / "dashboard-wheelhouse.tar.gz")
    return archive, unpacked, len(list(wheelhouse.iterdir()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--python-version", default="3.12", help="Python of the Lambda runtime and the host (default 3.12)"
    )
    parser.add_argument(
        "--database",
        default="clickstream_dw",
        help="the warehouse database the ETL will use (the template's WarehouseDatabaseName; default clickstream_dw)",
    )
    parser.add_argument(
        "artifacts",
        nargs="*",
        help="ingest, etl (the Lambda zips), dashboard (the host's wheelhouse); default: ingest etl",
    )
    args = parser.parse_args()
    args.artifacts = args.artifacts or DEFAULT_ARTIFACTS
    unknown = sorted(set(args.artifacts) - set(ARTIFACTS))
    if unknown:
        parser.error(f"artifacts are {', '.join(ARTIFACTS)}, not {', '.join(unknown)}")
    (ROOT / "dist").mkdir(exist_ok=True)
    for name in args.artifacts:
        if name == "dashboard":
            archive, unpacked, count = build_wheelhouse(args.python_version)
            print(
                f"dist/dashboard-wheelhouse.tar.gz: {archive / 2**20:.1f} MB, {count} wheels "
                f"({unpacked / 2**20:.1f} MB unpacked)"
            )
            continue
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
