from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from loader.etl import EtlRequest, EtlRequestError

NOW = datetime(2026, 11, 24, 13, 40, tzinfo=UTC)
EPOCH_MS = 1764997200000  # 2025-12-06T05:00:00Z


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), getattr(record, "fields", {})))


@pytest.fixture
def warnings() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """(message, fields) of each warning logged; the "clickstream" logger does not propagate once configured."""
    logger, handler = logging.getLogger("clickstream"), _Collect()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def window(event: dict[str, object]) -> tuple[datetime | None, datetime | None]:
    request = EtlRequest.from_event(event, NOW)
    return request.since, request.until


def test_a_scheduled_event_is_the_normal_incremental_run(warnings: list[Any]) -> None:
    event = {"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1",
             "time": "2026-11-24T13:40:00Z", "region": "eu-west-1", "resources": [], "detail": {}}  # fmt: skip
    assert EtlRequest.from_event(event, NOW) == EtlRequest()
    assert EtlRequest.from_event(None, NOW) == EtlRequest() == EtlRequest.from_event({}, NOW)


@pytest.mark.parametrize(
    ("event", "since", "until"),
    [
        # the forms today's ETL took
        ({"targetUtcHour": "2026-11-20T07"}, at(2026, 11, 20, 7), at(2026, 11, 20, 7)),
        ({"targetUtcHour": "2026-11-20T07:35:10Z", "scope": "hour"}, at(2026, 11, 20, 7), at(2026, 11, 20, 7)),
        ({"targetUtcHour": "2026-11-20 07", "scope": "day"}, at(2026, 11, 20, 0), at(2026, 11, 20, 23)),
        ({"targetUtcHour": "2026-11-20T07:35"}, at(2026, 11, 20, 7), at(2026, 11, 20, 7)),
        ({"targetUtcHour": " 2026-11-20T07:35:10 "}, at(2026, 11, 20, 7), at(2026, 11, 20, 7)),
        ({"targetUtcHour": "2026-11-20T07:00:00+00:00"}, at(2026, 11, 20, 7), at(2026, 11, 20, 7)),
        ({"targetUtcDate": "2026-11-19"}, at(2026, 11, 19, 0), at(2026, 11, 19, 23)),
        # the old ETL's: any ISO-8601 instant, converted to UTC first
        ({"targetUtcHour": "2025-12-06T05:00:00.000Z"}, at(2025, 12, 6, 5), at(2025, 12, 6, 5)),
        ({"targetUtcHour": "2025-12-06T12:00:00+07:00"}, at(2025, 12, 6, 5), at(2025, 12, 6, 5)),
        ({"targetUtcHour": "2026-11-20T03:30:00+07:00"}, at(2026, 11, 19, 20), at(2026, 11, 19, 20)),
        ({"targetUtcHour": "2026-11-20T03:30:00+07:00", "scope": "day"}, at(2026, 11, 19, 0), at(2026, 11, 19, 23)),
        ({"targetUtcDate": "2025-12-06T05:00:00.000Z"}, at(2025, 12, 6, 0), at(2025, 12, 6, 23)),
        ({"targetUtcDate": "2025-12-06T12:00:00+07:00"}, at(2025, 12, 6, 0), at(2025, 12, 6, 23)),
        ({"targetUtcDate": "2026-11-20T03:00:00+07:00"}, at(2026, 11, 19, 0), at(2026, 11, 19, 23)),
        ({"targetUtcDate": "2026-11-20T23:30:00-02:00"}, at(2026, 11, 21, 0), at(2026, 11, 21, 23)),
        ({"targetUtcDate": "2026-11-19", "scope": "day"}, at(2026, 11, 19, 0), at(2026, 11, 19, 23)),
        # epoch milliseconds, as a number or a numeric string
        ({"targetUtcHour": EPOCH_MS}, at(2025, 12, 6, 5), at(2025, 12, 6, 5)),
        ({"targetUtcHour": str(EPOCH_MS + 59 * 60_000)}, at(2025, 12, 6, 5), at(2025, 12, 6, 5)),
        ({"targetUtcHour": EPOCH_MS - 1, "scope": "day"}, at(2025, 12, 6, 0), at(2025, 12, 6, 23)),
        ({"targetUtcHour": float(EPOCH_MS)}, at(2025, 12, 6, 5), at(2025, 12, 6, 5)),
        ({"targetUtcDate": EPOCH_MS + 19 * 3_600_000}, at(2025, 12, 7, 0), at(2025, 12, 7, 23)),
        ({"targetUtcDate": f" {EPOCH_MS} "}, at(2025, 12, 6, 0), at(2025, 12, 6, 23)),
        ({"targetUtcDate": 20261120}, at(1970, 1, 1, 0), at(1970, 1, 1, 23)),  # a number is epoch ms, not a date
        # hoursBack: the single hour N hours before the current one (13:00 at NOW)
        ({"hoursBack": 0}, at(2026, 11, 24, 13), at(2026, 11, 24, 13)),
        ({"hoursBack": 1}, at(2026, 11, 24, 12), at(2026, 11, 24, 12)),
        ({"hoursBack": "3"}, at(2026, 11, 24, 10), at(2026, 11, 24, 10)),
        ({"hoursBack": 6, "scope": "hour"}, at(2026, 11, 24, 7), at(2026, 11, 24, 7)),
        ({"hoursBack": 2.0}, at(2026, 11, 24, 11), at(2026, 11, 24, 11)),
        ({"hoursBack": " 14 "}, at(2026, 11, 23, 23), at(2026, 11, 23, 23)),
        ({"hoursBack": 1, "scope": "day"}, at(2026, 11, 24, 0), at(2026, 11, 24, 23)),
        ({"hoursBack": 14, "scope": "day"}, at(2026, 11, 23, 0), at(2026, 11, 23, 23)),
        ({"hoursBack": 8784}, at(2025, 11, 23, 13), at(2025, 11, 23, 13)),
    ],
)
def test_backfill_overrides_of_the_old_etl(
    event: dict[str, object], since: datetime, until: datetime, warnings: list[Any]
) -> None:
    assert window(event) == (since, until)
    assert warnings == []


def test_hours_back_counts_from_the_injected_now() -> None:
    request = EtlRequest.from_event({"hoursBack": 1}, datetime(2026, 11, 25, 0, 5, tzinfo=UTC))
    assert (request.since, request.until) == (at(2026, 11, 24, 23), at(2026, 11, 24, 23))


def test_prefix_and_full_refresh() -> None:
    request = EtlRequest.from_event({"overridePrefix": " events/2026/11/20/ ", "fullRefresh": True}, NOW)
    assert request == EtlRequest(prefix="events/2026/11/20/", full_refresh=True)
    assert EtlRequest.from_event({"hoursBack": 0, "fullRefresh": True}, NOW).full_refresh


@pytest.mark.parametrize(
    ("event", "expected", "ignored"),
    [
        (
            {
                "overridePrefix": "events/",
                "targetUtcHour": "2026-11-20T07",
                "targetUtcDate": "2026-11-19",
                "hoursBack": 3,
            },
            EtlRequest(prefix="events/"),
            ["targetUtcHour", "targetUtcDate", "hoursBack"],
        ),
        (
            {"hoursBack": 3, "targetUtcDate": "2026-11-19", "targetUtcHour": "2026-11-20T07"},
            EtlRequest(since=at(2026, 11, 20, 7), until=at(2026, 11, 20, 7)),
            ["targetUtcDate", "hoursBack"],
        ),
        (
            {"targetUtcDate": "2026-11-19", "hoursBack": 3},
            EtlRequest(since=at(2026, 11, 19, 0), until=at(2026, 11, 19, 23)),
            ["hoursBack"],
        ),
        (  # ignored overrides are not parsed (they do not run)
            {"targetUtcHour": "2026-11-20T07", "hoursBack": -1, "targetUtcDate": "someday"},
            EtlRequest(since=at(2026, 11, 20, 7), until=at(2026, 11, 20, 7)),
            ["targetUtcDate", "hoursBack"],
        ),
    ],
)
def test_the_highest_priority_override_wins_and_the_others_are_logged(
    event: dict[str, object], expected: EtlRequest, ignored: list[str], warnings: list[Any]
) -> None:
    assert EtlRequest.from_event(event, NOW) == expected
    [(message, fields)] = warnings
    assert message.startswith(f"etl event: {', '.join(ignored)} ignored: ")
    assert fields["ignored"] == ignored
    assert fields["used"] == next(name for name in event if name not in ignored)


def test_unknown_fields_are_logged_and_ignored(warnings: list[Any]) -> None:
    event = {"source": "aws.events", "key1": "value1", "targetUTCHour": "2026-11-20T07", "hoursBack": 1}
    assert window(event) == (at(2026, 11, 24, 12), at(2026, 11, 24, 12))
    [(message, fields)] = warnings
    assert message == "etl event: unknown field(s) key1, targetUTCHour ignored"
    assert fields["ignored"] == ["key1", "targetUTCHour"]
    assert fields["did_you_mean"] == {"targetUTCHour": "targetUtcHour"}


def test_only_unknown_fields_is_the_normal_run(warnings: list[Any]) -> None:
    assert EtlRequest.from_event({"key1": "value1"}, NOW) == EtlRequest()
    assert [fields["ignored"] for _, fields in warnings] == [["key1"]]


@pytest.mark.parametrize(
    ("event", "expected", "why"),
    [
        ({"scope": "day"}, EtlRequest(), "no targetUtcHour or hoursBack was given"),
        ({"scope": "hour", "fullRefresh": True}, EtlRequest(full_refresh=True), "no targetUtcHour or hoursBack"),
        ({"scope": "day", "overridePrefix": "events/"}, EtlRequest(prefix="events/"), "overridePrefix names the"),
        (
            {"scope": "hour", "targetUtcDate": "2026-11-19"},
            EtlRequest(since=at(2026, 11, 19, 0), until=at(2026, 11, 19, 23)),
            "targetUtcDate is always its whole UTC day",
        ),
    ],
)
def test_a_scope_that_changes_nothing_is_logged_and_ignored(
    event: dict[str, object], expected: EtlRequest, why: str, warnings: list[Any]
) -> None:
    assert EtlRequest.from_event(event, NOW) == expected
    [(message, fields)] = warnings
    assert message.startswith(f"etl event: scope {event['scope']!r} ignored: {why}")
    assert fields["ignored"] == ["scope"]


def test_several_problems_give_one_warning_each(warnings: list[Any]) -> None:
    EtlRequest.from_event({"overridePrefix": "events/", "hoursBack": 1, "scope": "day", "extra": 1}, NOW)
    assert [fields["ignored"] for _, fields in warnings] == [["extra"], ["hoursBack"], ["scope"]]


INSTANT = r"must be an ISO-8601 date or instant \(e.g. 2026-11-20T07, .*\) or epoch milliseconds \(a number or numeric string\)"
HOURS = r"hoursBack must be a whole number of hours from 0 \(the current hour\) to 8784, as a number or numeric string"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"targetUtcHour": "2026-11-20T07", "scope": "week"}, "scope must be 'hour' or 'day', got 'week'"),
        ({"scope": "DAY"}, "scope must be 'hour' or 'day'"),
        ({"hoursBack": 1, "scope": True}, "scope must be 'hour' or 'day', got True"),
        ({"targetUtcHour": "yesterday"}, f"targetUtcHour {INSTANT}, got 'yesterday'"),
        ({"targetUtcHour": True}, f"targetUtcHour {INSTANT}, got True"),
        ({"targetUtcHour": ""}, f"targetUtcHour {INSTANT}"),
        ({"targetUtcHour": ["2026-11-20T07"]}, f"targetUtcHour {INSTANT}"),
        ({"targetUtcHour": "2026-11-31T07"}, f"targetUtcHour {INSTANT}"),
        ({"targetUtcHour": 10**20}, f"targetUtcHour {INSTANT}"),
        ({"targetUtcHour": float("nan")}, f"targetUtcHour {INSTANT}"),
        ({"targetUtcDate": False}, f"targetUtcDate {INSTANT}, got False"),
        ({"targetUtcDate": "20-11-2026"}, f"targetUtcDate {INSTANT}"),
        ({"targetUtcDate": {"year": 2026}}, f"targetUtcDate {INSTANT}"),
        ({"hoursBack": -1}, f"{HOURS}, got -1"),
        ({"hoursBack": "-2"}, f"{HOURS}, got '-2'"),
        ({"hoursBack": 1.5}, f"{HOURS}, got 1.5"),
        ({"hoursBack": "1.5"}, HOURS),
        ({"hoursBack": True}, f"{HOURS}, got True"),
        ({"hoursBack": 8785}, HOURS),
        ({"hoursBack": 10**40}, HOURS),
        ({"hoursBack": float("inf")}, HOURS),
        ({"hoursBack": "three"}, HOURS),
        ({"hoursBack": "1_0"}, HOURS),
        ({"hoursBack": ""}, HOURS),
        ({"fullRefresh": "yes"}, "fullRefresh must be true or false"),
        ({"fullRefresh": 1, "hoursBack": 1}, "fullRefresh must be true or false"),
        ({"shopFullSync": "true"}, "shopFullSync must be true or false"),
        ({"overridePrefix": ""}, "overridePrefix must be a non-empty string"),
        ({"overridePrefix": 5, "targetUtcHour": "2026-11-20T07"}, "overridePrefix must be a non-empty string"),
    ],
)
def test_bad_overrides_name_the_field(event: dict[str, object], message: str) -> None:
    with pytest.raises(EtlRequestError, match=message):
        EtlRequest.from_event(event, NOW)


def test_a_non_object_event_is_refused() -> None:
    with pytest.raises(EtlRequestError, match="must be a JSON object, got list"):
        EtlRequest.from_event([1, 2], NOW)


def test_only_asked_for_runs_count_as_backfills() -> None:
    assert not EtlRequest.from_event(None, NOW).is_backfill
    assert not EtlRequest.from_event({"scope": "day", "key1": 1}, NOW).is_backfill
    assert EtlRequest.from_event({"hoursBack": 0}, NOW).is_backfill
    assert EtlRequest.from_event({"hoursBack": 2}, NOW).is_backfill
    assert EtlRequest.from_event({"fullRefresh": True}, NOW).is_backfill
    shop = EtlRequest.from_event({"shopFullSync": True, "overridePrefix": "events/2026/"}, NOW)
    assert shop.is_backfill and shop.shop_full_sync and shop.prefix == "events/2026/"
