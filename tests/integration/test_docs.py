"""``clickstream docs``: dbt's documentation of the models, generated from the warehouse in use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from loader.config import WarehouseSettings
from tests.conftest import ROOT


def test_clickstream_docs_generates_the_site_and_a_catalog_of_the_built_marts(
    built: WarehouseSettings, tmp_path: Path
) -> None:
    target = tmp_path / "target"
    env = {
        **os.environ,
        "DW_URL": built.url(),
        "DBT_TARGET_PATH": str(target),  # not the checkout's target/ (its saved parse seeds the ETL's)
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "CLICKSTREAM_HOME": str(tmp_path / "home"),
    }
    generated = subprocess.run(
        [sys.executable, "-m", "clickstream", "docs", "--generate-only"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert generated.returncode == 0, (generated.stdout[-2000:], generated.stderr[-3000:])
    assert "dbt docs generated" in generated.stdout
    assert (target / "index.html").stat().st_size > 0
    catalog = json.loads((target / "catalog.json").read_text())
    sessions = catalog["nodes"]["model.clickstream.fct_sessions"]
    assert (sessions["metadata"]["schema"], sessions["metadata"]["name"]) == ("marts", "fct_sessions")
    assert {"session_key", "client_id"} <= set(sessions["columns"]), "the columns are read from the warehouse"
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["nodes"]["model.clickstream.fct_sessions"]["description"], "the YAML's descriptions are in"
