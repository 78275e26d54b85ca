"""Bench section ``health``: how often the data health monitor cries wolf, and whether it still sees the breaks.

For three shop sizes and two seeds each: ten weeks of generated traffic (and the orders it placed) with one of each
known break injected in the last week (tests/support/health_judge.py), loaded and synced, and the seeds and models
up to marts.data_health_hourly built as of the end. Every judged hour (complete, with a baseline: six weeks) that no break
touched counts; an anomaly there is a false alarm. The issue's bar is under 1% of the hours.
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.sections import Row, _batched_lake

END = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
WEEKS = 10
SEEDS = (31, 32)
SHOPS = (("a small shop", 25), ("the tests' shop", 70), ("a busier shop", 300))  # and its events per hour


@dataclasses.dataclass
class _Injected:
    """A generator's requests with the breaks applied (what :func:`_batched_lake` reads)."""

    generator: Any
    breaks: tuple[Any, ...]
    seed: int

    def requests(self) -> Any:
        from loader.breaks import inject

        return inject(self.generator.requests(), self.breaks, self.seed)


def _judged_shop(work: Path, per_hour: int, seed: int, *, keep: bool = False) -> tuple[Any, float]:
    """The verdict on one shop's ten weeks, and the seconds its dbt run took; ``keep``: its databases stay, to be
    looked into."""
    import psycopg

    from loader.generate import TrafficGenerator
    from loader.shop_orders import ShopOrders
    from loader.transform import run_dbt
    from loader.warehouse import EmbeddedWarehouse
    from tests.support.built_warehouse import Warehouse
    from tests.support.health_judge import a_week_of_breaks, judge

    server = EmbeddedWarehouse(work.parent / "home").start()
    name = f"bench_health_{per_hour}_{seed}"
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    dw = dataclasses.replace(server, database=name)
    root = work / name
    warehouse = Warehouse(root, dw, load_since=END - timedelta(weeks=WEEKS + 1))
    breaks = a_week_of_breaks(END)
    days = WEEKS * 7
    events = per_hour * 24 * days
    with psycopg.connect(**warehouse.shop.conninfo(), autocommit=True) as conn:
        orders = ShopOrders.open(conn, seed=seed, since=END - timedelta(days=days), now=END)
        generator = TrafficGenerator(
            events=events, days=days, seed=seed, now=END, client_pool=max(50, events // 18),
            place_order=orders.place_order,
        )  # fmt: skip
        _batched_lake(_Injected(generator, breaks, seed), warehouse.store)
        orders.write(conn)
    warehouse.load()
    as_of = json.dumps({"health_as_of": END.isoformat()})
    started = time.perf_counter()
    built = run_dbt(
        ["build", "--select", "+data_health_hourly", "--exclude-resource-type", "test", "unit_test", "--quiet",
         "--vars", as_of], dw, target_path=root / "target",
    )  # fmt: skip
    seconds = time.perf_counter() - started
    assert built.success, built.failures or built.error
    verdict = judge(dw, breaks)
    if keep:
        return verdict, seconds
    with psycopg.connect(**{**server.conninfo(), "dbname": "postgres"}, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'drop database if exists "{name}_shop" with (force)')
    return verdict, seconds


def health(work: Path) -> list[Row]:
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for label, per_hour in SHOPS:
        normal, alarms, flagged, breaks, kinds = 0, 0, 0, 0, {}
        for seed in SEEDS:
            verdict, seconds = _judged_shop(work, per_hour, seed)
            normal += verdict.normal_hours
            alarms += len(verdict.false_alarms)
            flagged += sum(verdict.flagged.values())
            breaks += len(verdict.flagged)
            for kind, count in verdict.kinds().items():
                kinds[kind] = kinds.get(kind, 0) + count
            missed = [kind for kind, seen in verdict.flagged.items() if not seen]
            print(f"   {label}, seed {seed}: {len(verdict.false_alarms)} false alarms in {verdict.normal_hours} hours"
                  f"{', missed ' + ', '.join(missed) if missed else ''}; dbt run {seconds:.1f}s", flush=True)  # fmt: skip
        share = 100 * alarms / normal
        by_kind = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) or "none"
        rows += [
            {"name": f"false alarms, {label} (~{per_hour} events/h), {len(SEEDS)} seeds × {WEEKS - 4} judged weeks"
                     f" ({by_kind})",
             "value": round(share, 2), "unit": "%", "reference": normal, "reference_unit": "h", "reference_name": "normal hours judged",
             "goal": "< 1 %"},
            {"name": f"injected breaks flagged, {label} (drop to 5%, a day without checkouts, bot burst, unknown"
                     " event)",
             "value": flagged, "unit": "breaks", "reference": breaks, "reference_name": "injected",
             "ratio": round(flagged / breaks, 3), "goal": ">= 1"},
        ]  # fmt: skip
    return rows
