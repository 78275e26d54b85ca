"""``make demo``: the whole pipeline on the embedded defaults, then a readable summary."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loader.config import clickstream_home


def _state_path() -> Path:
    return clickstream_home(os.environ) / "demo.json"


def _next_slice(events: int, days: float, now: datetime) -> tuple[int, float, int]:
    """First run: ``events`` over ``days``. Later runs: a fresh slice since the previous run."""
    try:
        state: dict[str, Any] = json.loads(_state_path().read_text())
    except (OSError, ValueError):
        return events, days, 1
    previous = datetime.fromisoformat(state["now"])
    hours = min(max((now - previous).total_seconds() / 3600, 1.0), days * 24)
    slice_events = max(500, int(events * hours / (days * 24)), events // 20)
    return slice_events, hours / 24, int(state["runs"]) + 1


def run(*, events: int, days: float) -> int:
    from loader.cli import generate_traffic

    now = datetime.now(UTC)
    slice_events, slice_days, run_number = _next_slice(events, days, now)
    what = "first run" if run_number == 1 else f"run {run_number}: a fresh slice"
    print(f"== 1/2 generating {slice_events:,} events over {slice_days * 24:.1f} hours ({what})", flush=True)
    generated = generate_traffic(slice_events, slice_days, seed=run_number, now=now)
    print(
        f"   {generated['requests']:,} requests → {generated['events_accepted']:,} events stored in "
        f"{generated['location']} ({generated['events_rejected']} rejected on purpose) in {generated['seconds']}s"
    )
    from loader.cli import run_load

    print("== 2/2 loading new raw objects into the warehouse (schema raw)", flush=True)
    loaded = run_load(trigger="demo")
    print(f"   {loaded.line()}")
    _state_path().parent.mkdir(parents=True, exist_ok=True)
    _state_path().write_text(json.dumps({"runs": run_number, "now": now.isoformat()}))
    return 0
