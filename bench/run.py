"""``make bench``: performance figures, each beside a reference measured in the same run.

Prints a table and writes ``bench/results.json``. Sections can be chosen: ``bench/run.py ingest loader``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import cost, dashboard, dbt_builds, engines, health, hostile, sections, shop  # noqa: E402
from bench.sections import Row  # noqa: E402

SECTIONS: dict[str, Callable[[Path], list[Row]]] = {
    "ingest": sections.ingest,
    "loader": sections.loader,
    "shop": shop.shop,
    "hostile": hostile.hostile,
    "cost": cost.cost,
    "dbt": dbt_builds.dbt,
    "health": health.health,
    "engines": engines.engines,
    "package": sections.package,
    "dashboard": dashboard.dashboard,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sections", nargs="*", help=f"sections to run: {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--work", type=Path, default=ROOT / ".clickstream" / "bench", help="scratch directory")
    args = parser.parse_args()
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    chosen: dict[str, Callable[[Path], list[dict[str, Any]]]] = {
        name: SECTIONS[name] for name in (args.sections or SECTIONS)
    }
    results_path = ROOT / "bench" / "results.json"
    try:
        results: dict[str, Any] = json.loads(results_path.read_text())
    except (OSError, ValueError):
        results = {}
    results.setdefault("sections", {})
    for name, section in chosen.items():
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        rows = [{**row, "met": goal_met(row)} if row.get("goal") else row for row in section(args.work / name)]
        results["sections"][name] = {"rows": rows, "seconds": round(time.perf_counter() - started, 1)}
        _print_rows(rows)
    results["machine"] = {"python": platform.python_version(), "cpus": _cpus(), "platform": platform.platform()}
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {results_path.relative_to(ROOT)}")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


_GOAL = re.compile(r"^\s*(<=|>=|<|>)\s*([\d.]+)\s*(\S+)?\s*$")


def goal_met(row: dict[str, Any]) -> bool | None:
    """Whether the row meets its goal: "<= 0.1" compares the ratio, "<= 150 ms" (with a unit) the value."""
    match = _GOAL.match(str(row.get("goal", "")))
    if match is None:
        return None
    operator, limit, unit = match.group(1), float(match.group(2)), match.group(3)
    measured = row.get("value") if unit else row.get("ratio")
    if measured is None:
        return None
    return {"<=": measured <= limit, ">=": measured >= limit, "<": measured < limit, ">": measured > limit}[operator]


def _print_rows(rows: list[dict[str, Any]]) -> None:
    headers = ["measurement", "value", "reference", "ratio", "goal"]
    table = [
        [
            row["name"],
            _fmt(row.get("value"), row.get("unit")),
            (
                f"{_fmt(row['reference'], row.get('reference_unit', row.get('unit')))} ({row['reference_name']})"
                if row.get("reference") is not None
                else ""
            ),
            f"{row['ratio']:.2f}" if row.get("ratio") is not None else "",
            f"{row['goal']} {'met' if row['met'] else 'MISSED'}" if row.get("met") is not None else row.get("goal", ""),
        ]
        for row in rows
    ]
    widths = [max(len(str(line[i])) for line in [headers, *table]) for i in range(len(headers))]
    for line in [headers, ["-" * w for w in widths], *table]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))


def _fmt(value: Any, unit: str | None) -> str:
    if value is None:
        return ""
    text = f"{value:,}" if not isinstance(value, float) else (f"{value:,.1f}" if value >= 100 else f"{value:,.3g}")
    return f"{text} {unit}" if unit else text


if __name__ == "__main__":
    sys.exit(main())
