"""The Acquisition page's queries: sessions by traffic source (fct_sessions), attribution by model, channel and
campaign (attribution_paths and the daily attribution marts) and the ad spend beside it.

What the filters mean here:

- Sessions count on the UTC day they started, in their *own* login state and device class (as on the Overview),
  by their own traffic source: source, medium and campaign (from the landing page's UTM tags, an ad click id or the
  referrer) and the channel the seed channel_rules gives them. Conversion rate: sessions with a purchase
  (checkout_complete) ÷ sessions, as on the Overview. Revenue: the paid revenue (VND) of the shop orders those
  sessions placed (fct_sessions.revenue), counted with the session; an order no tracked session placed has no
  source and is not here (the Revenue page has it).
- Attribution counts each order on the UTC day it was placed (as the Revenue page does) and shares it among its
  touches: the customer's sessions in the attribution window before it (attribution_paths). Each model's credits add
  up to the orders that had a touch, and its attributed revenue to their paid revenue; orders with no touch are not
  attributed (the summary line says how many).
- With a login state or device class chosen, attribution follows the *touch's* session: only the credit of the
  touches in that segment counts (attribution_paths joined to fct_sessions by session_key), so each model's totals
  are the part of the orders those sessions earned, and the channels agree with the sessions table above. Ad spend
  has no segment: spend and ROAS show with both filters on All ("–" under a segment, as the KPI says).
- Without a segment the attribution reads the daily marts (attribution_channel_daily, attribution_campaign_daily),
  where spend is. ROAS = attributed revenue ÷ ad spend over the range, for the channels and campaigns with spend
  imported (``clickstream ad-spend import``); "–" where there is none.
"""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from psycopg import sql
from psycopg_pool import ConnectionPool

from dashboard import db
from dashboard.filters import Filters, where
from dashboard.formats import RATE_KPIS

State = Literal["missing", "empty", "no_orders", "ready"]
Breakdown = Literal["channel", "source_medium", "campaign"]

# The marts (and seed) this page reads besides fct_sessions, and the columns fct_sessions must have.
TABLES = ("attribution_paths", "attribution_channel_daily", "attribution_campaign_daily", "fct_orders", "channels")
SESSION_COLUMNS = ("source", "medium", "campaign", "channel")
# The attribution models in the marts' order (attribution_paths' credit columns), as the page names them.
MODELS: dict[str, str] = {
    "first_touch": "First touch",
    "last_touch": "Last touch",
    "last_non_direct": "Last non-direct",
    "linear": "Linear",
    "position_based": "Position-based 40/20/40",
    "time_decay": "Time decay",
    "markov": "Data-driven (Markov)",
}
NOT_SET = "(not set)"  # a session or touch without a campaign (attribution_campaign_daily's name for it)
KPI_NAMES = ("sessions", "conversion_rate", "orders", "revenue", "ad_spend")
TRAFFIC_COLUMNS = (
    "key",
    "channels",
    "sessions",
    "share",
    "converted_sessions",
    "conversion_rate",
    "orders",
    "revenue",
    "revenue_per_session",
)
ATTRIBUTION_COLUMNS = ("model", "channel", "attributed_conversions", "attributed_revenue", "spend", "roas")
CAMPAIGN_COLUMNS = ("channel", "campaign", "attributed_conversions", "attributed_revenue", "spend", "roas")


def state(pool: ConnectionPool) -> State:
    """``missing`` (a mart of :data:`TABLES` or fct_sessions' traffic source columns are not built: marts from
    before attribution), ``empty`` (no session), ``no_orders`` (sessions but no shop order: no shop database) or
    ``ready``."""
    [found] = db.rows(
        pool,
        "select"
        " (select count(*) from unnest(%(tables)s::text[]) as marts (name)"
        "  where to_regclass('marts.' || quote_ident(name)) is null) as missing_tables,"
        " (select count(*) from information_schema.columns where table_schema = 'marts'"
        "  and table_name = 'fct_sessions' and column_name = any(%(columns)s)) as session_columns",
        {"tables": list(TABLES), "columns": list(SESSION_COLUMNS)},
    )
    if found["missing_tables"] or found["session_columns"] < len(SESSION_COLUMNS):
        return "missing"
    [has] = db.rows(
        pool,
        "select exists (select 1 from marts.fct_sessions) as sessions,"
        " exists (select 1 from marts.fct_orders) as orders",
    )
    if not has["sessions"]:
        return "empty"
    return "ready" if has["orders"] else "no_orders"


def segmented(filters: Filters) -> bool:
    return filters.login_state is not None or filters.device_class is not None


def _change(name: str, current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None:
        return None
    if name in RATE_KPIS:
        return current - previous
    return None if previous == 0 else (current - previous) / previous


def kpis(pool: ConnectionPool, filters: Filters) -> dict[str, dict[str, Any]]:
    """The KPIs of the range and of the previous period of equal length, and the change.

    ``{"current": {...}, "previous": {...}, "change": {...}}``, each keyed by :data:`KPI_NAMES`: sessions started
    in the period (their own segment), the share with a purchase, the shop orders they placed and those orders'
    paid revenue; the ad spend of the period's days (``None`` under a segment, spend has none, and when no spend is
    imported for the period). Rates are fractions and change in points; the others change relatively; a change is
    ``None`` when the previous period has nothing to compare with.
    """
    sessions_where, params = where(
        filters, time_column="started_at", login_column="login_state", device_column="device_class", previous=True
    )
    query = sql.SQL(
        """
        select
            started_at >= %(period_start)s as is_current,
            count(*) as sessions,
            count(*) filter (where is_converted) as converted_sessions,
            coalesce(sum(order_count), 0)::bigint as orders,
            coalesce(sum(revenue), 0)::float8 as revenue
        from marts.fct_sessions
        {where}
        group by is_current
        """
    ).format(where=sessions_where)
    found = {row["is_current"]: row for row in db.rows(pool, query, params)}
    spend: dict[bool, float] = {}
    if not segmented(filters):
        # spend is repeated on every model's row of a day and channel: once each
        spend_rows = db.rows(
            pool,
            """
            select date_day >= %(start)s as is_current, sum(spend)::float8 as spend
            from (
                select distinct date_day, channel, spend
                from marts.attribution_channel_daily
                where date_day between %(previous_start)s and %(end)s and spend is not null
            ) as spend_days
            group by is_current
            """,
            {"start": filters.start, "end": filters.end, "previous_start": filters.previous().start},
        )
        spend = {row["is_current"]: float(row["spend"]) for row in spend_rows}
    periods: dict[str, dict[str, Any]] = {}
    for period, is_current in (("current", True), ("previous", False)):
        row = found.get(is_current) or dict.fromkeys(("sessions", "converted_sessions", "orders", "revenue"), 0)
        sessions = int(row["sessions"])
        periods[period] = {
            "sessions": sessions,
            "conversion_rate": row["converted_sessions"] / sessions if sessions else None,
            "orders": int(row["orders"]),
            "revenue": float(row["revenue"]),
            "ad_spend": spend.get(is_current),
        }
    change = {name: _change(name, periods["current"][name], periods["previous"][name]) for name in KPI_NAMES}
    return {"current": periods["current"], "previous": periods["previous"], "change": change}


_TRAFFIC_KEYS: dict[str, sql.Composable] = {
    "channel": sql.SQL("channel"),
    "source_medium": sql.SQL("coalesce(source, {not_set}) || ' / ' || coalesce(medium, {not_set})").format(
        not_set=sql.Literal(NOT_SET)
    ),
    "campaign": sql.SQL("campaign"),
}


def traffic(pool: ConnectionPool, filters: Filters, by: Breakdown) -> pd.DataFrame:
    """Sessions started in the range (their own segment) by ``channel``, ``source_medium`` (``"google / organic"``)
    or ``campaign`` (``None``: sessions without one): key, channels (the channels of its sessions, sorted), sessions,
    share (of the range's sessions), converted_sessions, conversion_rate, orders (placed by them), revenue (those
    orders' paid revenue, VND), revenue_per_session. By sessions, then revenue; sessions without a campaign last."""
    if by not in _TRAFFIC_KEYS:
        raise ValueError(f"by must be one of {', '.join(_TRAFFIC_KEYS)}, got {by!r}")
    sessions_where, params = where(
        filters, time_column="started_at", login_column="login_state", device_column="device_class"
    )
    key = _TRAFFIC_KEYS[by]
    query = sql.SQL(
        """
        select
            {key} as key,
            array_agg(distinct channel order by channel) as channels,
            count(*) as sessions,
            count(*) filter (where is_converted) as converted_sessions,
            coalesce(sum(order_count), 0)::bigint as orders,
            coalesce(sum(revenue), 0)::float8 as revenue
        from marts.fct_sessions
        {where}
        group by {key}
        order by {key} is null, sessions desc, revenue desc, {key}
        """
    ).format(key=key, where=sessions_where)
    frame = db.frame(
        db.rows(pool, query, params), ("key", "channels", "sessions", "converted_sessions", "orders", "revenue")
    )
    total = frame["sessions"].sum()
    frame["share"] = frame["sessions"] / total if total else 0.0
    frame["conversion_rate"] = frame["converted_sessions"] / frame["sessions"]
    frame["revenue_per_session"] = frame["revenue"] / frame["sessions"]
    return frame[list(TRAFFIC_COLUMNS)]


def to_float(value: Any) -> float | None:
    """A float, or ``None`` for SQL null / pandas' missing value."""
    return None if value is None or pd.isna(value) else float(value)


def return_on_spend(revenue: float, spend: float | None) -> float | None:
    return revenue / spend if spend else None


def attribution(pool: ConnectionPool, filters: Filters) -> pd.DataFrame:
    """What every model credits each channel with, for the orders placed in the range: model, channel,
    attributed_conversions (orders, in parts), attributed_revenue (VND), spend (VND, over the range; ``None``
    without any, and under a segment), roas (attributed revenue ÷ spend; ``None`` without spend).

    Every model has a row for every channel any model credits (zeros where it gives nothing), models in
    :data:`MODELS` order, each by attributed revenue. Without a segment from attribution_channel_daily; with one,
    the credit of the touches whose session is in it (attribution_paths ⋈ fct_sessions)."""
    params: dict[str, Any] = {"start": filters.start, "end": filters.end}
    if not segmented(filters):
        query: sql.Composed | sql.SQL = sql.SQL(
            """
            select
                model,
                channel,
                sum(attributed_conversions)::float8 as attributed_conversions,
                sum(attributed_revenue)::float8 as attributed_revenue,
                sum(spend)::float8 as spend
            from marts.attribution_channel_daily
            where date_day between %(start)s and %(end)s
            group by model, channel
            """
        )
        frame = db.frame(db.rows(pool, query, params), ATTRIBUTION_COLUMNS[:-1])
    else:
        touches_where, params = _touches_where(filters)
        sums = sql.SQL(",\n").join(
            sql.SQL(
                "sum(paths.{model})::float8 as {conversions}, sum(paths.{model} * paths.revenue)::float8 as {revenue}"
            ).format(
                model=sql.Identifier(model),
                conversions=sql.Identifier(f"{model}_conversions"),
                revenue=sql.Identifier(f"{model}_revenue"),
            )
            for model in MODELS
        )
        query = sql.SQL(
            """
            select paths.channel, {sums}
            from marts.attribution_paths as paths
            inner join marts.fct_sessions as sessions on paths.session_key = sessions.session_key
            {where}
            group by paths.channel
            """
        ).format(sums=sums, where=touches_where)
        wide = db.rows(pool, query, params)
        frame = db.frame(
            [
                {
                    "model": model,
                    "channel": row["channel"],
                    "attributed_conversions": row[f"{model}_conversions"],
                    "attributed_revenue": row[f"{model}_revenue"],
                    "spend": None,
                }
                for row in wide
                for model in MODELS
            ],
            ATTRIBUTION_COLUMNS[:-1],
        )
    return _complete(frame)


def _touches_where(filters: Filters) -> tuple[sql.Composed, dict[str, Any]]:
    """Touches of the orders placed on the range's days whose session is in the filters' segment."""
    clauses: list[sql.Composable] = [sql.SQL("paths.ordered_date between %(start)s and %(end)s")]
    params: dict[str, Any] = {"start": filters.start, "end": filters.end}
    if filters.login_state is not None:
        clauses.append(sql.SQL("sessions.login_state = %(login_state)s"))
        params["login_state"] = filters.login_state
    if filters.device_class is not None:
        clauses.append(sql.SQL("sessions.device_class = %(device_class)s"))
        params["device_class"] = filters.device_class
    return sql.SQL("where ") + sql.SQL(" and ").join(clauses), params


def _complete(frame: pd.DataFrame) -> pd.DataFrame:
    """Every model × every channel present (zeros where a model credits nothing; a channel's spend on each), ROAS,
    models in order and each by attributed revenue."""
    found = {(r.model, r.channel): r for r in frame.itertuples(index=False)}
    channels = sorted({r.channel for r in frame.itertuples(index=False)})
    spend: dict[str, float] = {}  # the same on every model's rows of a channel
    for row in frame.itertuples(index=False):
        if to_float(row.spend) is not None:
            spend[row.channel] = float(row.spend)
    records = []
    for model in MODELS:
        rows = []
        for channel in channels:
            row = found.get((model, channel))
            revenue = float(row.attributed_revenue) if row else 0.0
            rows.append(
                {
                    "model": model,
                    "channel": channel,
                    "attributed_conversions": float(row.attributed_conversions) if row else 0.0,
                    "attributed_revenue": revenue,
                    "spend": spend.get(channel),
                    "roas": return_on_spend(revenue, spend.get(channel)),
                }
            )
        rows.sort(key=lambda r: (-r["attributed_revenue"], -r["attributed_conversions"], r["channel"]))
        records += rows
    return db.frame(records, ATTRIBUTION_COLUMNS)


def attribution_campaigns(pool: ConnectionPool, filters: Filters, model: str) -> pd.DataFrame:
    """What ``model`` credits each campaign (within its channel; :data:`NOT_SET` without one) with, for the orders
    placed in the range: channel, campaign, attributed_conversions, attributed_revenue, spend, roas (as
    :func:`attribution`; a campaign with spend and no credit shows with 0). By attributed revenue."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if not segmented(filters):
        query: sql.Composed | sql.SQL = sql.SQL(
            """
            select
                channel,
                campaign,
                sum(attributed_conversions)::float8 as attributed_conversions,
                sum(attributed_revenue)::float8 as attributed_revenue,
                sum(spend)::float8 as spend
            from marts.attribution_campaign_daily
            where date_day between %(start)s and %(end)s and model = %(model)s
            group by channel, campaign
            order by attributed_revenue desc, attributed_conversions desc, channel, campaign
            """
        )
        params: dict[str, Any] = {"start": filters.start, "end": filters.end, "model": model}
    else:
        touches_where, params = _touches_where(filters)
        query = sql.SQL(
            """
            select
                paths.channel,
                coalesce(paths.campaign, {not_set}) as campaign,
                sum(paths.{model})::float8 as attributed_conversions,
                sum(paths.{model} * paths.revenue)::float8 as attributed_revenue,
                null::float8 as spend
            from marts.attribution_paths as paths
            inner join marts.fct_sessions as sessions on paths.session_key = sessions.session_key
            {where}
            group by 1, 2
            order by attributed_revenue desc, attributed_conversions desc, 1, 2
            """
        ).format(not_set=sql.Literal(NOT_SET), model=sql.Identifier(model), where=touches_where)
    records = [
        {**row, "roas": return_on_spend(float(row["attributed_revenue"]), to_float(row["spend"]))}
        for row in db.rows(pool, query, params)
    ]
    return db.frame(records, CAMPAIGN_COLUMNS)


def attributed_orders(pool: ConnectionPool, filters: Filters) -> dict[str, Any]:
    """The orders placed in the range (fct_orders, every segment: ``orders``), those with a touch (in the segment,
    when one is chosen: ``attributed_orders``) and their paid revenue (``attributed_revenue``, VND): what every
    model's credits add up to without a segment.

    Without a segment from attribution_channel_daily: first touch gives each order with a touch one whole credit,
    so its conversions are those orders and its revenue theirs (the mart's invariant, per day). With one, the
    orders with a touch whose session is in it (attribution_paths ⋈ fct_sessions)."""
    touches_where, params = _touches_where(filters)
    attributed: sql.Composed | sql.SQL
    if segmented(filters):
        attributed = sql.SQL(
            """
            select count(*) as attributed_orders, coalesce(sum(revenue), 0)::float8 as attributed_revenue
            from (
                select paths.order_id, max(paths.revenue) as revenue
                from marts.attribution_paths as paths
                inner join marts.fct_sessions as sessions on paths.session_key = sessions.session_key
                {where}
                group by paths.order_id
            ) as attributed
            """
        ).format(where=touches_where)
    else:
        attributed = sql.SQL(
            """
            select
                round(coalesce(sum(attributed_conversions), 0))::bigint as attributed_orders,
                coalesce(sum(attributed_revenue), 0)::float8 as attributed_revenue
            from marts.attribution_channel_daily
            where date_day between %(start)s and %(end)s and model = 'first_touch'
            """
        )
    query = sql.SQL(
        """
        select
            attributed.*,
            (
                select count(*) from marts.fct_orders
                where ordered_at >= %(start_at)s and ordered_at < %(end_at)s
            ) as orders
        from ({attributed}) as attributed
        """
    ).format(attributed=attributed)
    [found] = db.rows(pool, query, {**params, "start_at": filters.start_at, "end_at": filters.end_at})
    return {
        "orders": int(found["orders"]),
        "attributed_orders": int(found["attributed_orders"]),
        "attributed_revenue": float(found["attributed_revenue"]),
    }
