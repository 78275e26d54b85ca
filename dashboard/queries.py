"""Every query the dashboard runs: plain functions ``(pool, filters) -> DataFrame | dict``, testable without Shiny.

They read schema ``marts`` only, with values always passed as parameters. Filters apply the way the marts define
them: sessions (and the funnel and journeys, built from sessions) by the *session's* login state and device class;
events (and products, built from events) by the *event's*. Dates are UTC days; a range includes both ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, LiteralString

import pandas as pd
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

LOGIN_STATES = ("logged_in", "anonymous")  # what the storefront sends; older "guest" rows show under All
DEVICE_CLASSES = ("desktop", "mobile", "tablet", "other", "unknown")
DEFAULT_DAYS = 7
HOURLY_MAX_DAYS = 3
EVENTS_PAGE_SIZE = 50
EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # the event contract's eventName
# The marts the dashboard reads; all must exist before it can show anything.
MARTS = (
    "fct_sessions",
    "fct_events",
    "traffic_hourly",
    "traffic_hourly_by_segment",
    "funnel_daily",
    "funnel_daily_by_segment",
    "product_engagement_daily",
    "product_engagement_daily_by_segment",
    "journey_transitions",
    "retention_weekly",
    "pipeline_status",
)
KPI_NAMES = (
    "events",
    "sessions",
    "clients",
    "users",
    "conversion_rate",
    "bounce_rate",
    "median_session_seconds",
)
# Rates change by percentage points; everything else by a relative change.
RATE_KPIS = frozenset({"conversion_rate", "bounce_rate"})

WarehouseState = Literal["missing", "empty", "ready"]
Breakdown = Literal["product", "category", "brand"]
RankBy = Literal["views", "add_to_carts"]


@dataclass(frozen=True)
class Filters:
    """What every panel follows: a range of UTC days (both ends included), a login state, a device class."""

    start: date
    end: date
    login_state: str | None = None  # None: all
    device_class: str | None = None  # None: all

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"the range starts ({self.start}) after it ends ({self.end})")
        if self.login_state is not None and self.login_state not in LOGIN_STATES:
            raise ValueError(f"login state must be one of {', '.join(LOGIN_STATES)} or None, got {self.login_state!r}")
        if self.device_class is not None and self.device_class not in DEVICE_CLASSES:
            raise ValueError(
                f"device class must be one of {', '.join(DEVICE_CLASSES)} or None, got {self.device_class!r}"
            )

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


def _where(
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


def _segmented(mart: str, filters: Filters) -> sql.Identifier:
    """``marts.<mart>`` for all segments, ``marts.<mart>_by_segment`` when a login state or device is chosen (the
    additive measures of the two agree: a dbt test checks)."""
    segmented = filters.login_state is not None or filters.device_class is not None
    return sql.Identifier("marts", f"{mart}_by_segment" if segmented else mart)


def _date_where(filters: Filters, *, date_column: str = "date_day") -> tuple[sql.Composed, dict[str, Any]]:
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


def _rows(
    pool: ConnectionPool, query: sql.Composed | sql.SQL | LiteralString, params: Mapping[str, Any] | Sequence[Any] = ()
) -> list[dict[str, Any]]:
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def _frame(rows: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """A DataFrame with these columns, even when there are no rows (the queries cast numerics to float8/bigint)."""
    return pd.DataFrame.from_records(rows, columns=list(columns))


# -- warehouse ------------------------------------------------------------------------------------
def warehouse_state(pool: ConnectionPool) -> WarehouseState:
    """``missing`` (marts not built yet), ``empty`` (built, no sessions) or ``ready``."""
    missing = _rows(
        pool,
        "select name from unnest(%s::text[]) as marts (name) where to_regclass('marts.' || quote_ident(name)) is null",
        (list(MARTS),),
    )
    if missing:
        return "missing"
    has_rows = _rows(pool, "select exists (select 1 from marts.fct_sessions) as has_rows")[0]["has_rows"]
    return "ready" if has_rows else "empty"


def data_bounds(pool: ConnectionPool) -> dict[str, date | None]:
    """First and last UTC day with a session (``None`` when there are none)."""
    row = _rows(
        pool,
        "select (min(started_at) at time zone 'UTC')::date as first_date,"
        " (max(started_at) at time zone 'UTC')::date as last_date from marts.fct_sessions",
    )[0]
    return {"first_date": row["first_date"], "last_date": row["last_date"]}


def default_filters(last_date: date | None, today: date | None = None) -> Filters:
    """The data's last 7 days (from :func:`data_bounds`), or the last 7 days up to ``today`` when there is no
    data; all segments."""
    last = last_date or today or datetime.now(UTC).date()
    return Filters(start=last - timedelta(days=DEFAULT_DAYS - 1), end=last)


def pipeline_status(pool: ConnectionPool) -> dict[str, Any]:
    """The last ETL run and the newest event (values ``None`` when nothing was loaded or built)."""
    rows = _rows(
        pool,
        "select last_load_finished_at, last_load_status, marts_refreshed_at, newest_event_at from marts.pipeline_status",
    )
    empty = {
        "last_load_finished_at": None,
        "last_load_status": None,
        "marts_refreshed_at": None,
        "newest_event_at": None,
    }
    return {**empty, **rows[0]} if rows else empty


# -- overview -------------------------------------------------------------------------------------
def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _change(name: str, current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    if name in RATE_KPIS:
        return current - previous
    return None if previous == 0 else (current - previous) / previous


def kpis(pool: ConnectionPool, filters: Filters) -> dict[str, dict[str, Any]]:
    """The KPIs of the range and of the previous period of equal length, and the change.

    ``{"current": {...}, "previous": {...}, "change": {...}}``, each keyed by :data:`KPI_NAMES`. Sessions, clients,
    users, conversion and bounce rates and the median session length count sessions *started* in the range
    (session's segment, fct_sessions); events count events in the range (event's segment, traffic_hourly). Rates
    are fractions and change in points (0.01 = one point); the others change relatively (0.1 = +10 %); a change is
    ``None`` when the previous period has nothing to compare with.
    """
    sessions_where, sessions_params = _where(
        filters, time_column="started_at", login_column="login_state", device_column="device_class", previous=True
    )
    events_where, events_params = _where(
        filters, time_column="hour_at", login_column="login_state", device_column="device_class", previous=True
    )
    # Shaped for speed at 1M events: one pass with FILTER aggregates (no sort by period; durations stay numeric, no
    # per-row cast), distinct counts by hashing (count(distinct) would sort the text ids), and the passes run side by
    # side.
    totals_query = sql.SQL(
        """
        with sessions as (
            select started_at >= %(period_start)s as is_current, is_converted, is_bounce, duration_seconds
            from marts.fct_sessions
            {where}
        )
        select
            count(*) filter (where is_current) as current_sessions,
            count(*) filter (where is_current and is_converted) as current_converted,
            count(*) filter (where is_current and is_bounce) as current_bounced,
            percentile_cont(0.5) within group (order by duration_seconds) filter (where is_current) as current_median,
            count(*) filter (where not is_current) as previous_sessions,
            count(*) filter (where not is_current and is_converted) as previous_converted,
            count(*) filter (where not is_current and is_bounce) as previous_bounced,
            percentile_cont(0.5) within group (order by duration_seconds) filter (where not is_current)
                as previous_median
        from sessions
        """
    ).format(where=sessions_where)
    distinct_query = sql.SQL(
        """
        select is_current, count(*) as distinct_count
        from (
            select distinct started_at >= %(period_start)s as is_current, {column}
            from marts.fct_sessions
            {where} and {column} is not null
        ) as distinct_values
        group by is_current
        """
    )
    events_query = sql.SQL(
        """
        select
            coalesce(sum(events) filter (where hour_at >= %(period_start)s), 0)::bigint as current_events,
            coalesce(sum(events) filter (where hour_at < %(period_start)s), 0)::bigint as previous_events
        from {traffic}
        {where}
        """
    ).format(traffic=_segmented("traffic_hourly", filters), where=events_where)
    periods: dict[str, dict[str, Any]] = {}
    # Four independent scans: run side by side on the pool's connections (one after another with a pool of one).
    with ThreadPoolExecutor(max_workers=min(4, pool.max_size)) as workers:
        totals_rows = workers.submit(_rows, pool, totals_query, sessions_params)
        events_rows = workers.submit(_rows, pool, events_query, events_params)
        distinct_rows = {
            name: workers.submit(
                _rows, pool, distinct_query.format(column=sql.Identifier(column), where=sessions_where), sessions_params
            )
            for name, column in (("clients", "client_id"), ("users", "user_id"))
        }
        [totals], [events] = totals_rows.result(), events_rows.result()
        distinct = {
            (name, row["is_current"]): row["distinct_count"]
            for name, rows in distinct_rows.items()
            for row in rows.result()
        }
    for period, is_current in (("current", True), ("previous", False)):
        sessions = totals[f"{period}_sessions"]
        periods[period] = {
            "events": events[f"{period}_events"],
            "sessions": sessions,
            "clients": distinct.get(("clients", is_current), 0),
            "users": distinct.get(("users", is_current), 0),
            "conversion_rate": totals[f"{period}_converted"] / sessions if sessions else None,
            "bounce_rate": totals[f"{period}_bounced"] / sessions if sessions else None,
            "median_session_seconds": _float(totals[f"{period}_median"]),
        }
    change = {name: _change(name, periods["current"][name], periods["previous"][name]) for name in KPI_NAMES}
    return {"current": periods["current"], "previous": periods["previous"], "change": change}


def timeseries(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """Events and sessions per hour (ranges of up to 3 days) or per UTC day: columns bucket_at, events, sessions.

    Every bucket of the range is present (zeros where nothing happened); the sums equal the events and sessions
    KPIs.
    """
    sessions_where, sessions_params = _where(
        filters, time_column="started_at", login_column="login_state", device_column="device_class"
    )
    events_where, events_params = _where(
        filters, time_column="hour_at", login_column="login_state", device_column="device_class"
    )
    unit = sql.Literal("hour" if filters.hourly else "day")
    sessions_query = sql.SQL(
        "select date_trunc({unit}, started_at at time zone 'UTC') as bucket, count(*) as sessions"
        " from marts.fct_sessions {where} group by 1"
    ).format(unit=unit, where=sessions_where)
    events_query = sql.SQL(
        "select date_trunc({unit}, hour_at at time zone 'UTC') as bucket, sum(events)::bigint as events"
        " from {traffic} {where} group by 1"
    ).format(unit=unit, traffic=_segmented("traffic_hourly", filters), where=events_where)
    with pool.connection() as conn, conn.cursor() as cur:
        sessions: dict[datetime, int] = dict(cur.execute(sessions_query, sessions_params).fetchall())
        events: dict[datetime, int] = dict(cur.execute(events_query, events_params).fetchall())
    buckets = pd.date_range(
        filters.start_at.replace(tzinfo=None),
        filters.end_at.replace(tzinfo=None),
        freq="h" if filters.hourly else "D",
        inclusive="left",
    )
    return pd.DataFrame(
        {
            "bucket_at": buckets.tz_localize(UTC),
            "events": [int(events.get(b.to_pydatetime(), 0)) for b in buckets],
            "sessions": [int(sessions.get(b.to_pydatetime(), 0)) for b in buckets],
        }
    )


# -- funnel ---------------------------------------------------------------------------------------
def funnel(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """The five steps (funnel_daily summed over the range): step_order, step_name, sessions, conversion_from_previous,
    conversion_from_start. Empty when no session started in the range."""
    where, params = _date_where(filters)
    query = sql.SQL(
        """
        with steps as (
            select step_order, step_name, sum(sessions)::bigint as sessions
            from {funnel}
            {where}
            group by step_order, step_name
        )
        select
            step_order,
            step_name,
            sessions,
            sessions::float8 / nullif(lag(sessions) over (order by step_order), 0) as conversion_from_previous,
            sessions::float8 / nullif(first_value(sessions) over (order by step_order), 0) as conversion_from_start
        from steps
        order by step_order
        """
    ).format(funnel=_segmented("funnel_daily", filters), where=where)
    return _frame(
        _rows(pool, query, params),
        ["step_order", "step_name", "sessions", "conversion_from_previous", "conversion_from_start"],
    )


# -- products -------------------------------------------------------------------------------------
_BREAKDOWN_KEYS: dict[str, tuple[str, ...]] = {
    "product": ("product_id",),
    "category": ("product_category",),
    "brand": ("product_brand",),
}
PRODUCT_COLUMNS = (
    "views",
    "add_to_carts",
    "view_to_cart_rate",
    "unique_viewer_days",
    "remove_from_carts",
    "wishlist_toggles",
    "shares",
    "checkout_starts",
    "purchases",
)


def product_ranking(
    pool: ConnectionPool,
    filters: Filters,
    by: Breakdown = "product",
    rank_by: RankBy = "views",
    limit: int | None = None,
) -> pd.DataFrame:
    """Products, categories or brands by views or add-to-carts (product_engagement_daily over the range).

    Products carry their latest name, category and brand. ``view_to_cart_rate`` = add_to_carts / views;
    ``unique_viewer_days`` sums the mart's per-day viewers (a client viewing on two days counts twice; with a
    segment chosen, once per day and segment).
    """
    if by not in _BREAKDOWN_KEYS:
        raise ValueError(f"by must be one of {', '.join(_BREAKDOWN_KEYS)}, got {by!r}")
    if rank_by not in ("views", "add_to_carts"):
        raise ValueError(f"rank_by must be views or add_to_carts, got {rank_by!r}")
    where, params = _date_where(filters)
    key = sql.Identifier(_BREAKDOWN_KEYS[by][0])
    labels = (
        sql.SQL(
            """,
            (array_agg(product_name order by date_day desc) filter (where product_name is not null))[1] as product_name,
            (array_agg(product_category order by date_day desc) filter (where product_category is not null))[1]
                as product_category,
            (array_agg(product_brand order by date_day desc) filter (where product_brand is not null))[1]
                as product_brand"""
        )
        if by == "product"
        else sql.SQL("")
    )
    second = "add_to_carts" if rank_by == "views" else "views"
    query = sql.SQL(
        """
        select
            {key}{labels},
            sum(views)::bigint as views,
            sum(add_to_carts)::bigint as add_to_carts,
            sum(add_to_carts)::float8 / nullif(sum(views), 0) as view_to_cart_rate,
            sum(unique_viewers)::bigint as unique_viewer_days,
            sum(remove_from_carts)::bigint as remove_from_carts,
            sum(wishlist_toggles)::bigint as wishlist_toggles,
            sum(shares)::bigint as shares,
            sum(checkout_starts)::bigint as checkout_starts,
            sum(purchases)::bigint as purchases
        from {products}
        {where}
        group by {key}
        order by {rank} desc, {second} desc, {key} nulls last
        {limit}
        """
    ).format(
        key=key,
        labels=labels,
        products=_segmented("product_engagement_daily", filters),
        where=where,
        rank=sql.Identifier(rank_by),
        second=sql.Identifier(second),
        limit=sql.SQL("limit %(limit)s") if limit is not None else sql.SQL(""),
    )
    if limit is not None:
        params["limit"] = limit
    columns = [_BREAKDOWN_KEYS[by][0]]
    if by == "product":
        columns += ["product_name", "product_category", "product_brand"]
    return _frame(_rows(pool, query, params), [*columns, *PRODUCT_COLUMNS])


# -- journeys -------------------------------------------------------------------------------------
def journeys(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """Transitions summed over the range: step_index, from_step, to_step, sessions (from_step at step_index leads
    to to_step at step_index + 1)."""
    where, params = _date_where(filters)
    query = sql.SQL(
        """
        select step_index, from_step, to_step, sum(sessions)::bigint as sessions
        from marts.journey_transitions
        {where}
        group by step_index, from_step, to_step
        order by step_index, sessions desc, from_step, to_step
        """
    ).format(where=where)
    return _frame(_rows(pool, query, params), ["step_index", "from_step", "to_step", "sessions"])


# -- retention ------------------------------------------------------------------------------------
def retention(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """Cohorts whose week (Monday to Sunday, UTC) overlaps the range, every week since: cohort_week,
    weeks_since_first_visit, cohort_size, active_clients, retention_rate. retention_weekly has no segments: the
    login state and device class filters do not apply."""
    query = """
        select cohort_week, weeks_since_first_visit, cohort_size, active_clients, retention_rate::float8 as retention_rate
        from marts.retention_weekly
        where cohort_week between %(first_week)s and %(end)s
        order by cohort_week, weeks_since_first_visit
    """
    params = {"first_week": filters.start - timedelta(days=6), "end": filters.end}
    return _frame(
        _rows(pool, query, params),
        ["cohort_week", "weeks_since_first_visit", "cohort_size", "active_clients", "retention_rate"],
    )


# -- events ---------------------------------------------------------------------------------------
EVENT_COLUMNS = (
    "event_at",
    "event_name",
    "client_id",
    "user_id",
    "user_login_state",
    "device_class",
    "browser",
    "page_path",
    "product_name",
    "session_key",
    "event_id",
)


def events_page(
    pool: ConnectionPool, filters: Filters, search: str = "", page: int = 0, page_size: int = EVENTS_PAGE_SIZE
) -> dict[str, Any]:
    """The newest events of the range (fct_events, event's segment), ``page_size`` per page, newest first.

    ``search`` matches a client id exactly, or an event name case-insensitively. Returns
    ``{"rows": DataFrame, "page": n, "page_size": n, "has_previous": bool, "has_next": bool}``.
    """
    if page < 0 or page_size < 1:
        raise ValueError(f"page must be >= 0 and page_size >= 1, got {page} and {page_size}")
    where, params = _where(
        filters, time_column="event_at", login_column="user_login_state", device_column="device_class"
    )
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in EVENT_COLUMNS)
    newest_first = sql.SQL("order by event_at desc, event_id desc")
    term = search.strip()
    if term:
        # A client's events come from the (client_id, event_at) index; a term shaped like an event name (the
        # contract's pattern) also matches event_name. Each branch newest first, at most what the page needs.
        conditions = [sql.SQL("client_id = %(search)s")]
        params["search"] = term
        if EVENT_NAME.fullmatch(term.lower()):
            conditions.append(sql.SQL("event_name = %(event_name)s"))
            params["event_name"] = term.lower()
        branches = sql.SQL(" union ").join(
            sql.SQL("(select {columns} from marts.fct_events {where} and {condition} {order} limit %(until)s)").format(
                columns=columns, where=where, condition=condition, order=newest_first
            )
            for condition in conditions
        )
        query = sql.SQL(
            "select {columns} from ({branches}) as matches {order} limit %(limit)s offset %(offset)s"
        ).format(columns=columns, branches=branches, order=newest_first)
    else:
        query = sql.SQL(
            "select {columns} from marts.fct_events {where} {order} limit %(limit)s offset %(offset)s"
        ).format(columns=columns, where=where, order=newest_first)
    params.update(limit=page_size + 1, offset=page * page_size, until=(page + 1) * page_size + 1)
    rows = _rows(pool, query, params)
    return {
        "rows": _frame(rows[:page_size], EVENT_COLUMNS),
        "page": page,
        "page_size": page_size,
        "has_previous": page > 0,
        "has_next": len(rows) > page_size,
    }
