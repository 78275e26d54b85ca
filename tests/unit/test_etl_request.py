from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loader.etl import EtlRequest, EtlRequestError

NOW = datetime(2026, 11, 24, 13, 40, tzinfo=UTC)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_scheduled_event_is_the_normal_incremental_run() -> None:
    assert EtlRequest.from_event({"source": "aws.events", "detail-type": "Scheduled Event"}, NOW) == EtlRequest()


@pytest.mark.parametrize(
    ("event", "since", "until"),
    [
        ({"targetUtcHour": "2026-11-20T07"}, at(2026, 11, 20, 7), at(2026, 11, 20, 7)),
        ({"targetUtcHour": "2026-11-20T07:35:10Z", "scope": "hour"}, at(2026, 11, 20, 7), at(2026, 11, 20, 7)),
        ({"targetUtcHour": "2026-11-20 07", "scope": "day"}, at(2026, 11, 20, 0), at(2026, 11, 20, 23)),
        ({"targetUtcDate": "2026-11-19"}, at(2026, 11, 19, 0), at(2026, 11, 19, 23)),
        ({"hoursBack": 6}, at(2026, 11, 24, 7, 40), NOW),
    ],
)
def test_backfill_overrides_of_todays_etl(event: dict[str, object], since: datetime, until: datetime) -> None:
    request = EtlRequest.from_event(event, NOW)
    assert (request.since, request.until) == (since, until)


def test_prefix_and_full_refresh() -> None:
    request = EtlRequest.from_event({"overridePrefix": " events/2026/11/20/ ", "fullRefresh": True}, NOW)
    assert (request.prefix, request.full_refresh) == ("events/2026/11/20/", True)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"targetUtcHour": "2026-11-20T07", "scope": "week"}, "scope must be 'hour' or 'day'"),
        ({"scope": "day"}, "scope only goes with targetUtcHour"),
        ({"targetUtcDate": "2026-11-20", "scope": "hour"}, "scope only goes with targetUtcHour"),
        ({"targetUtcHour": "yesterday"}, r"targetUtcHour must look like YYYY-MM-DDTHH \(e.g. 2026-11-20T07\)"),
        ({"targetUtcDate": 20261120}, "targetUtcDate must look like YYYY-MM-DD"),
        ({"targetUtcDate": "2026-11-20", "targetUtcHour": "2026-11-20T07"}, "give one of overridePrefix"),
        ({"overridePrefix": "events/", "hoursBack": 3}, "give one of overridePrefix"),
        ({"targetUTCHour": "2026-11-20T07"}, "unknown field.* targetUTCHour"),
        ({"key1": "value1"}, "unknown field"),
        ({"hoursBack": "6"}, "hoursBack must be a whole number"),
        ({"hoursBack": 0}, "hoursBack must be a whole number"),
        ({"fullRefresh": "yes"}, "fullRefresh must be true or false"),
        ({"overridePrefix": ""}, "overridePrefix must be a non-empty string"),
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
    assert EtlRequest.from_event({"hoursBack": 2}, NOW).is_backfill
    assert EtlRequest.from_event({"fullRefresh": True}, NOW).is_backfill
