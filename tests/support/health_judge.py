"""How the data health monitor did on generated traffic with known breaks (loader/breaks.py): which breaks
marts.data_health_hourly flagged, and the false alarms it raised on the normal hours. Shared by the data health tests
and ``make bench``'s health section."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from loader.breaks import BotBurst, Break, NoCheckouts, UnknownEvent, VolumeDrop
from loader.config import WarehouseSettings

HOUR = timedelta(hours=1)
# The anomaly each kind of break must raise in its hours.
EXPECTED = {VolumeDrop: "volume_drop", NoCheckouts: "no_checkouts", BotBurst: "bot_spike",
            UnknownEvent: "unknown_event_name"}  # fmt: skip


def a_week_of_breaks(end: datetime) -> tuple[VolumeDrop, NoCheckouts, BotBurst, UnknownEvent]:
    """One of each break in the week before ``end`` (a Monday, 00:00 UTC): a busy hour at 5% of its volume, a day
    without checkouts, a bot's burst of product views, a release's unknown event."""
    return (
        VolumeDrop(end - timedelta(days=6, hours=10), end - timedelta(days=6, hours=9)),  # 21:00 in Vietnam
        NoCheckouts(end - timedelta(days=4), end - timedelta(days=3)),
        BotBurst(end - timedelta(days=2, hours=14), end - timedelta(days=2, hours=13), events=1500),
        UnknownEvent(end - timedelta(days=1, hours=9), name="promo_banner_view"),
    )


def window(item: Break) -> tuple[datetime, datetime]:
    """The hours a break touches."""
    if isinstance(item, UnknownEvent):
        first = item.start.replace(minute=0, second=0, microsecond=0)
        return first, first + HOUR
    return item.start, item.end


@dataclass(frozen=True)
class Verdict:
    flagged: dict[str, bool]  # each break's kind: whether the anomaly it must raise was raised in its hours
    normal_hours: int  # judged hours (complete, with a baseline) that no break touched
    false_alarms: dict[datetime, list[str]]  # of those, the hours with an anomaly no break explains

    @property
    def false_alarm_share(self) -> float:
        return len(self.false_alarms) / self.normal_hours if self.normal_hours else 0.0

    def kinds(self) -> dict[str, int]:
        """How many false alarms each kind of anomaly raised."""
        counts: dict[str, int] = {}
        for found in self.false_alarms.values():
            for kind in found:
                counts[kind] = counts.get(kind, 0) + 1
        return counts


def judge(dw: WarehouseSettings, breaks: Sequence[Break]) -> Verdict:
    """The verdict on the warehouse's marts.data_health_hourly. A day without checkouts explains its run of
    ``no_checkouts`` hours until the next checkout arrives, and a low capture rate for the 24 hours after it (they
    still count its untracked orders)."""
    with psycopg.connect(**dw.conninfo()) as conn:  # type: ignore[arg-type]
        hours: list[tuple[datetime, list[str], bool]] = conn.execute(  # type: ignore[assignment]
            "select hour_at, anomalies, is_complete and events_score is not null"
            " from marts.data_health_hourly order by hour_at"
        ).fetchall()
        explained: list[tuple[str, datetime, datetime]] = []
        for item in breaks:
            if isinstance(item, NoCheckouts):
                resumed = conn.execute(
                    "select min(hour_at) from marts.data_health_hourly where hour_at >= %s"
                    " and checkout_complete_events > 0",
                    (item.end,),
                ).fetchone()
                until: Any = resumed[0] if resumed and resumed[0] else item.end + 24 * HOUR
                explained += [("no_checkouts", item.end, until), ("low_capture_rate", item.end, item.end + 23 * HOUR)]
    windows = [window(item) for item in breaks]
    flagged = {
        type(item).__name__: any(
            EXPECTED[type(item)] in found for hour, found, _ in hours if window(item)[0] <= hour < window(item)[1]
        )
        for item in breaks
    }
    normal = [(hour, found) for hour, found, judged in hours if judged and not any(s <= hour < e for s, e in windows)]
    false_alarms = {}
    for hour, found in normal:
        unexplained = [kind for kind in found if not any(k == kind and s <= hour <= e for k, s, e in explained)]
        if unexplained:
            false_alarms[hour] = unexplained
    return Verdict(flagged, len(normal), false_alarms)
