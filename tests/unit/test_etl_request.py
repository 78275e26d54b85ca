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
        ({"scope": "week"}, "scope must be 'hour' or 'day'"),
        ({"targetUtcHour": "yesterday"}, "targetUtcHour must look like Y-m-dTH"),
        ({"targetUtcDate": 20261120}, "targetUtcDate must look like Y-m-d"),
        ({"hoursBack": "6"}, "hoursBack must be a whole number"),
        ({"hoursBack": 0}, "hoursBack must be a whole number"),
        ({"fullRefresh": "yes"}, "fullRefresh must be true or false"),
        ({"overridePrefix": ""}, "overridePrefix must be a non-empty string"),
    ],
)
def test_bad_overrides_name_the_field(event: dict[str, object], message: str) -> None:
    with pytest.raises(EtlRequestError, match=message):
        EtlRequest.from_event(event, NOW)
