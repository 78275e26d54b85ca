"""What every page follows: the sidebar's :class:`Filters`, and the SQL that applies them to a mart.

Filters apply the way the marts define them: sessions (and the funnel and journeys, built from sessions) by the
*session's* login state and device class; events (and products, built from events) by the *event's*. Dates are UTC
days; a range includes both ends. Which login states and device classes there are is the shop's vocabulary
(:mod:`dashboard.vocabulary`), read from the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from psycopg import sql

DEFAULT_DAYS = 7
HOURLY_MAX_DAYS = 3


@dataclass(frozen=True)
class Filters:
    """A range of UTC days (both ends included), a login state, a device class (checked against the vocabulary by
    :meth:`dashboard.vocabulary.Vocabulary.check`)."""

    start: date
    end: date
    login_state: str | None = None  # None: all
    device_class: str | None = None  # None: all

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"the range starts ({self.start}) after it ends ({self.end})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        """Start of the first day, UTC."""
        return datetime.combine(self.start, time(), UTC)

    @property
    def end_at(self) -> datetime:
        """End of the last day (exclusive), UTC."""
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    @property
    def hourly(self) -> bool:
        """Time series by hour for short ranges, else by day."""
        return self.days <= HOURLY_MAX_DAYS

    def previous(self) -> Filters:
        """The period of equal length just before this one, same segment."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    def key(self) -> str:
        """A stable text form (the browser tests wait for it on rendered panels)."""
        return f"{self.start}..{self.end}|{self.login_state or 'all'}|{self.device_class or 'all'}"


def default_filters(last_date: date | None, today: date | None = None) -> Filters:
    """The data's last 7 days (``last_date`` from :func:`dashboard.warehouse.data_bounds`), or the last 7 days up to
    ``today`` when there is no data; all segments."""
    last = last_date or today or datetime.now(UTC).date()
    return Filters(start=last - timedelta(days=DEFAULT_DAYS - 1), end=last)


def where(
    filters: Filters, *, time_column: str, login_column: str, device_column: str, previous: bool = False
) -> tuple[sql.Composed, dict[str, Any]]:
    """``where`` clause for the filters: a half-open time range on ``time_column`` (indexed), then the segment.

    With ``previous``, the range starts at the previous period's start (for one-scan comparisons).
    """
    start = filters.previous().start_at if previous else filters.start_at
    clauses: list[sql.Composable] = [
        sql.SQL("{} >= %(range_start)s and {} < %(range_end)s").format(
            sql.Identifier(time_column), sql.Identifier(time_column)
        )
    ]
    params: dict[str, Any] = {"range_start": start, "range_end": filters.end_at, "period_start": filters.start_at}
    if filters.login_state is not None:
        clauses.append(sql.SQL("{} = %(login_state)s").format(sql.Identifier(login_column)))
        params["login_state"] = filters.login_state
    if filters.device_class is not None:
        clauses.append(sql.SQL("{} = %(device_class)s").format(sql.Identifier(device_column)))
        params["device_class"] = filters.device_class
    return sql.SQL("where ") + sql.SQL(" and ").join(clauses), params


def date_where(filters: Filters, *, date_column: str = "date_day") -> tuple[sql.Composed, dict[str, Any]]:
    """``where`` clause for daily marts (date_day, device_class, login_state)."""
    clauses: list[sql.Composable] = [sql.SQL("{} between %(start)s and %(end)s").format(sql.Identifier(date_column))]
    params: dict[str, Any] = {"start": filters.start, "end": filters.end}
    if filters.login_state is not None:
        clauses.append(sql.SQL("login_state = %(login_state)s"))
        params["login_state"] = filters.login_state
    if filters.device_class is not None:
        clauses.append(sql.SQL("device_class = %(device_class)s"))
        params["device_class"] = filters.device_class
    return sql.SQL("where ") + sql.SQL(" and ").join(clauses), params


def segmented(mart: str, filters: Filters) -> sql.Identifier:
    """``marts.<mart>`` for all segments, ``marts.<mart>_by_segment`` when a login state or device is chosen (the
    additive measures of the two agree: a dbt test checks)."""
    segmented = filters.login_state is not None or filters.device_class is not None
    return sql.Identifier("marts", f"{mart}_by_segment" if segmented else mart)
