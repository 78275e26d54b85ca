"""The dashboard's wheelhouse installs offline on the host's Python with the host's own install script.

dist/dashboard-wheelhouse.tar.gz is what ``make package`` builds and the admin uploads to the artifacts bucket;
/usr/local/sbin/clickstream-install-dashboard is written by the warehouse host's user data. The test takes that
script from infra/template.yaml as it is, points its two host paths (the virtualenv, the settings file) into a
temporary folder, stands in for ``aws s3 cp`` and ``systemctl``, and runs it with a real CPython 3.12: with an
``s3://`` URI (what the first boot and the DashboardInstallCommand output do), then with a local path (an update).
pip sees nothing but the wheelhouse: no index, no find-links or constraints from this machine's configuration.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from tests.conftest import find_python_312

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / "dist" / "dashboard-wheelhouse.tar.gz"
TEMPLATE = ROOT / "infra" / "template.yaml"
INSTALL_SCRIPT = "/usr/local/sbin/clickstream-install-dashboard"
HOST_VENV = "/opt/clickstream/venv"
HOST_SETTINGS = "/etc/clickstream/warehouse.env"
BUCKET = "clickstream-artifacts-test"
ARCHIVE_URI = f"s3://{BUCKET}/dashboard/wheelhouse.tar.gz"


PYTHON_312 = find_python_312()

pytestmark = pytest.mark.skipif(
    PYTHON_312 is None, reason="needs a real CPython 3.12 (~/.pyenv/versions/3.12*/bin/python3.12 or on PATH)"
)

# Stand-ins: `aws s3 cp [options] s3://BUCKET/KEY DEST` copies from a local folder (403 when the key is absent, as
# S3 answers a reader without s3:ListBucket); `systemctl` records its arguments.
AWS_STUB = """#!/bin/bash
set -euo pipefail
[ "$1 $2" = "s3 cp" ] || { echo "aws stub: only 's3 cp' is expected, got $*" >&2; exit 2; }
shift 2
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --region) shift 2 ;;
    --*) shift ;;
    *) args+=("$1"); shift ;;
  esac
done
source_path="$FAKE_S3/${args[0]#s3://}"
[ -f "$source_path" ] || { echo "fatal error: An error occurred (403) when calling the HeadObject operation" >&2; exit 1; }
cp "$source_path" "${args[1]}"
"""
SYSTEMCTL_STUB = """#!/bin/bash
echo "$*" >> "$SYSTEMCTL_LOG"
"""


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    """dist/dashboard-wheelhouse.tar.gz as `make package` builds it (rebuilt when missing or older than the sources)."""
    sources = [
        p
        for d in ("loader", "clickstream", "dashboard")
        for p in (ROOT / d).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    project_files = [ROOT / name for name in ("requirements.lock", "pyproject.toml", "scripts/package.py")]
    newest_source = max(p.stat().st_mtime for p in [*sources, *project_files])
    if not (WHEELHOUSE.exists() and WHEELHOUSE.stat().st_mtime > newest_source):
        subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), "dashboard"], check=True, timeout=1200)
    return WHEELHOUSE


def install_script() -> str:
    """The install script exactly as the warehouse host's user data writes it."""
    template = json.loads(json.dumps(cfn_yaml.load(str(TEMPLATE))))
    user_data = template["Resources"]["WarehouseInstance"]["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    match = re.search(rf"cat > {re.escape(INSTALL_SCRIPT)} <<'EOF'\n(.*?)\nEOF\n", user_data, re.S)
    assert match, f"the user data no longer writes {INSTALL_SCRIPT} with a quoted heredoc"
    script = match.group(1)
    assert "${" not in script, "the install script takes nothing from the template's !Sub"
    assert HOST_VENV in script and HOST_SETTINGS in script
    return script


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A stand-in host: its paths under a temporary folder, python3.12 and the stubs first on PATH."""
    root = tmp_path_factory.mktemp("host")
    paths = {name: root / name for name in ("bin", "s3", "venv", "work")}
    for path in (paths["bin"], paths["s3"], paths["work"]):
        path.mkdir()
    (paths["bin"] / "python3.12").symlink_to(str(PYTHON_312))
    for name, text in (("aws", AWS_STUB), ("systemctl", SYSTEMCTL_STUB)):
        (paths["bin"] / name).write_text(text)
        (paths["bin"] / name).chmod(0o755)
    settings = root / "warehouse.env"
    settings.write_text(f"AWS_REGION=eu-west-1\nCLICKSTREAM_DASHBOARD_ARCHIVE={ARCHIVE_URI}\n")
    script = install_script().replace(HOST_VENV, str(paths["venv"])).replace(HOST_SETTINGS, str(settings))
    paths["script"] = root / "clickstream-install-dashboard"
    paths["script"].write_text(script)
    paths["systemctl_log"] = root / "systemctl.log"
    return paths


def run_install(host: dict[str, Path], *arguments: str) -> subprocess.CompletedProcess[str]:
    # Nothing from this machine's pip configuration (its find-links hold wheels the host would not have).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{host['bin']}:/usr/bin:/bin",
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        FAKE_S3=str(host["s3"]),
        SYSTEMCTL_LOG=str(host["systemctl_log"]),
    )
    return subprocess.run(
        ["bash", str(host["script"]), *arguments],
        env=env,
        cwd=host["work"],
        capture_output=True,
        text=True,
        timeout=900,
    )


def in_venv(host: dict[str, Path], *command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(command, env=env, cwd=host["work"], capture_output=True, text=True, timeout=120)


def test_the_wheelhouse_holds_only_wheels_and_the_project_wheel_beside_its_dependencies(wheelhouse: Path) -> None:
    with tarfile.open(wheelhouse) as archive:
        names = archive.getnames()
    files = [n for n in names if n != "wheelhouse"]
    assert files and all(n.startswith("wheelhouse/") and n.endswith(".whl") for n in files), files[:5]
    assert [n for n in files if Path(n).name.startswith("clickstream_warehouse-")] != []
    for needed in ("shiny-", "plotly-", "pandas-", "psycopg_pool-", "psycopg_binary-"):
        assert any(Path(n).name.startswith(needed) for n in files), f"no {needed}* wheel"
    platform_wheels = [n for n in files if "-none-any" not in n and "-abi3-" not in n]
    assert all("cp312-cp312-manylinux" in n for n in platform_wheels), [n for n in platform_wheels if "cp312" not in n]


def test_the_install_script_installs_the_dashboard_offline_from_s3_then_updates_it_from_a_path(
    wheelhouse: Path, host: dict[str, Path]
) -> None:
    missing = run_install(host)
    assert missing.returncode != 0 and "403" in missing.stderr, "an absent archive fails (the first boot logs it)"
    assert not (host["venv"] / "bin" / "clickstream").exists()

    (host["s3"] / BUCKET / "dashboard").mkdir(parents=True)
    shutil.copyfile(wheelhouse, host["s3"] / BUCKET / "dashboard" / "wheelhouse.tar.gz")
    first = run_install(host)  # no argument: the archive of the settings file, the artifacts bucket's URI
    assert first.returncode == 0, (first.stdout[-2000:], first.stderr[-3000:])

    python = str(host["venv"] / "bin" / "python")
    assert in_venv(host, python, "-c", "import sys; print(sys.version_info[:2])").stdout.strip() == "(3, 12)"
    help_ = in_venv(host, str(host["venv"] / "bin" / "clickstream"), "dashboard", "--help")
    assert help_.returncode == 0 and "--port" in help_.stdout, help_.stderr[-2000:]
    imported = in_venv(host, python, "-c", "import dashboard.app; print(dashboard.app.__file__)")
    assert imported.returncode == 0, imported.stderr[-3000:]
    assert Path(imported.stdout.strip()).is_relative_to(host["venv"]), "imported from the virtualenv, not the checkout"

    update = run_install(host, str(wheelhouse))
    assert update.returncode == 0, (update.stdout[-2000:], update.stderr[-3000:])
    calls = host["systemctl_log"].read_text().splitlines()
    assert calls.count("restart clickstream-dashboard.service") == 2, calls
