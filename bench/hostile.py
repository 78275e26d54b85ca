"""Bench section ``hostile``: what a storm of new user agents costs a load.

3,000 events through the collector (one event per request, as the storefront's tracker sends them), each with its
own random user agent, loaded by a fresh process with the default parsing budget (loader/enrich.py) — beside the
same 3,000 events sent with a single agent. Three alternating rounds on fresh databases, medians; the loader's own
seconds and the whole process's (imports and the parser's regexes included).
"""

from __future__ import annotations

import dataclasses
import json
import random
import string
import time
import uuid
from pathlib import Path
from statistics import median
from typing import Any

from bench.sections import Row, _fresh, _run_loader

EVENTS = 3000
ROUNDS = 3


def _lake(path: Path, agents: list[str]) -> None:
    """One collector object per event in the lake of CLICKSTREAM_HOME ``path``, the i-th sent with
    ``agents[i % len(agents)]``."""
    from datetime import UTC, datetime, timedelta

    from loader.config import IngestSettings
    from loader.ingest import Collector, HttpRequest
    from loader.rawstore import LocalStore
    from tests.unit.test_contract import BROWSER_EVENT

    received = datetime.now(UTC) - timedelta(minutes=10)
    collector = Collector(LocalStore(_fresh(path / "lake"), fsync=False), IngestSettings(), clock=lambda: received)
    for index in range(EVENTS):
        body = json.dumps({**BROWSER_EVENT, "eventId": str(uuid.uuid4())}).encode()
        request = HttpRequest("POST", headers={"user-agent": agents[index % len(agents)]}, body=body)
        assert collector.handle(request).status == 200


def _random_agent(rng: random.Random) -> str:
    """A browser-like agent no parser has met: random tokens in the shape of a real one."""
    token = "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(6, 40)))
    return f"Mozilla/5.0 ({token}; rv:{rng.randint(1, 999)}) Gecko/20100101 {token[:8]}/{rng.randint(1, 200)}.0"


def hostile(work: Path) -> list[Row]:
    import psycopg

    from loader.warehouse import EmbeddedWarehouse

    rng = random.Random(19)
    server = EmbeddedWarehouse(work.parent / "home").start()
    cases = {"one agent": [_random_agent(rng)], "3,000 random agents": [_random_agent(rng) for _ in range(EVENTS)]}
    for name, agents in cases.items():
        _lake(work / name.replace(" ", "-").replace(",", ""), agents)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name in cases:
            settings = dataclasses.replace(server, database="bench_hostile")
            with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:
                conn.execute("drop database if exists bench_hostile with (force)")
                conn.execute("create database bench_hostile")
            env = {"DW_URL": settings.url(), "RAW_BUCKET_NAME": "", "CLICKSTREAM_HOME": str(work / name.replace(" ", "-").replace(",", ""))}  # fmt: skip
            started = time.perf_counter()
            result = _run_loader(env)
            result["wall"] = time.perf_counter() - started
            assert result["status"] == "succeeded" and result["events"] == EVENTS, result
            runs[name].append(result)
            print(f"   {name}: load {result['seconds']:.2f}s, process {result['wall']:.2f}s, agents parsed"
                  f" {result['agents_parsed']:,}, events with an unparsed agent {result['agents_unparsed']:,}",
                  flush=True)  # fmt: skip
    one, storm = (
        {key: median(run[key] for run in runs[name]) for key in ("seconds", "wall", "agents_parsed", "agents_unparsed")}
        for name in cases
    )

    def row(name: str, value: float, reference: float, goal: str = "") -> Row:
        return {"name": name, "value": round(value, 2), "unit": "s", "reference": round(reference, 2),
                "reference_name": "the same events with one agent", "ratio": round(value / reference, 2),
                "goal": goal}  # fmt: skip

    return [
        row(f"clickstream load of {EVENTS:,} one-event objects with {EVENTS:,} random user agents: the whole"
            " process (imports, parser warm-up, load)", storm["wall"], one["wall"], "<= 4"),
        row("  of which the loader's run (parsing bounded by 2 s + 500 µs per event)", storm["seconds"],
            one["seconds"]),
        {"name": f"  agents parsed within the budget (of {EVENTS:,}); the rest stored unparsed",
         "value": int(storm["agents_parsed"]), "unit": "agents"},
    ]  # fmt: skip
