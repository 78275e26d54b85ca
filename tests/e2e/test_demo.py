"""`make demo`'s job, `clickstream demo`, twice on a fresh home: embedded warehouse and shop database, traffic and
orders, the ETL Lambda handler, the summary with revenue and capture rate; the second run adds a slice, moves
earlier orders along and runs incrementally."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import psycopg


def clickstream(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "CLICKSTREAM_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run(
        [sys.executable, "-m", "clickstream", *args], env=env, capture_output=True, text=True, timeout=900
    )


def test_the_demo_runs_end_to_end_and_again_incrementally(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        first = clickstream(home, "demo", "--events", "6000", "--days", "3")
        assert first.returncode == 0, first.stderr[-3000:]
        out = first.stdout
        assert "== 1/3 traffic: 6,000 events over the last 3 days (first run)" in out
        for section in (
            "Conversion funnel",
            "Top products by views",
            "Categories",
            "Channels",
            "Warehouse: postgresql://",
        ):
            assert section in out, section
        assert "Dashboard: .venv/bin/clickstream dashboard" in out
        shop = re.search(r"Revenue ([\d.]+) ₫ from ([\d,]+) paid orders of ([\d,]+) placed", out)
        capture = re.search(r"Capture rate ([\d.]+)% of orders, ([\d.]+)% of revenue: ([\d,]+) matched by order id,"
                            r" ([\d,]+) by user and time, ([\d,]+) unmatched", out)  # fmt: skip
        assert shop and capture, out
        assert re.search(r"shop sync: [\d,]+ new orders", out) and "tracked purchases whose payment failed" in out
        assert "Carts: " in out and "revenue left in carts" in out and "Best sellers by revenue" in out
        assert "Attributed revenue" in out and "Customers by RFM segment" in out and "new clients" in out
        attributed = re.findall(r"^     (\w+)\s+([\d.]+) ₫\s+([\d.]+) ₫", out, re.MULTILINE)
        assert len(attributed) >= 5, "attributed revenue of several channels"
        revenue = re.search(r"Tracked revenue ([\d.]+) ₫ from ([\d,]+) completed checkouts", out)
        assert revenue and int(revenue.group(1).replace(".", "")) > 0 and int(revenue.group(2).replace(",", "")) > 0
        loaded = int(re.search(r"loaded [\d,]+ objects, ([\d,]+) events", out).group(1).replace(",", ""))  # type: ignore[union-attr]
        assert 5500 < loaded <= 6000
        url = re.search(r"Warehouse: (postgresql://\S+)", out).group(1)  # type: ignore[union-attr]
        with psycopg.connect(url) as conn:
            printed = int(revenue.group(1).replace(".", ""))
            assert conn.execute("select sum(tracked_revenue) from marts.fct_sessions").fetchone()[0] == printed
            paid, placed, matched, by_id, by_time = conn.execute(
                "select sum(revenue), count(*), count(*) filter (where match_method <> 'none'),"
                " count(*) filter (where match_method = 'order_id'), count(*) filter (where match_method = 'user_time')"
                " from marts.fct_orders"
            ).fetchone()
            assert (int(shop.group(1).replace(".", "")), int(shop.group(3).replace(",", ""))) == (paid, placed)
            assert float(capture.group(1)) == round(100 * matched / placed, 1) and 0.5 < matched / placed < 1
            assert [int(capture.group(n).replace(",", "")) for n in (3, 4, 5)] == [by_id, by_time, placed - matched]
            assert by_id > 0 and by_time > 0 and placed - matched > 0, "every way of matching, and untracked orders"
            markov = dict(conn.execute(
                "select channel, sum(attributed_revenue) from marts.attribution_channel_daily where model = 'markov'"
                " group by channel"
            ).fetchall())  # fmt: skip
            assert {channel: int(money.replace(".", "")) for channel, _, money in attributed} == {
                channel: round(value) for channel, value in markov.items()
            }
            totals = conn.execute(
                "select model, sum(attributed_revenue) from marts.attribution_channel_daily group by model"
            ).fetchall()
            attributable = conn.execute(
                "select sum(revenue) from (select distinct order_id, revenue from marts.attribution_paths) as orders"
            ).fetchone()[0]
            assert len(totals) == 7 and all(abs(total - attributable) < 1 for _, total in totals), (
                totals,
                attributable,
            )
            events = conn.execute("select count(*) from marts.fct_events").fetchone()[0]
            top = conn.execute("select sum(sessions) from marts.funnel_daily where step_order = 0").fetchone()[0]
        assert f"{events:,} events in" in out and re.search(rf"session_start\s+{top:,}\s", out)

        second = clickstream(home, "demo", "--events", "6000", "--days", "3")
        assert second.returncode == 0, second.stderr[-3000:]
        assert "run 2: a fresh slice since the last run" in second.stdout
        added = int(re.search(r"loaded [\d,]+ objects, ([\d,]+) events", second.stdout).group(1).replace(",", ""))  # type: ignore[union-attr]
        assert 0 < added < loaded / 2, "only the new slice is loaded"
        assert re.search(r"[\d,]+ earlier orders moved on", second.stdout)
        with psycopg.connect(url) as conn:
            assert conn.execute("select count(*) from raw.events").fetchone()[0] == loaded + added
            assert conn.execute("select count(*) from raw_shop.sync_runs where status = 'succeeded'").fetchone()[0] == 2
    finally:
        clickstream(home, "db", "stop")
