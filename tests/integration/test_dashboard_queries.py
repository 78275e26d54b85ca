"""The dashboard's queries equal independent counts written here against the marts (and fct tables); its
vocabulary is the seeds'."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

import pandas as pd
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from dashboard import (
    acquisition_queries,
    customers,
    events,
    freshness,
    funnel,
    journeys,
    overview,
    products,
    retention,
    revenue,
    vocabulary,
    warehouse,
)
from dashboard.filters import Filters, default_filters
from dashboard.formats import RATE_KPIS
from loader.config import WarehouseSettings
from tests.conftest import ROOT
from tests.support.dashboard_expected import (
    expected_acquisition_kpis,
    expected_attributed_orders,
    expected_attribution,
    expected_campaign_attribution,
    expected_carts,
    expected_customer_kpis,
    expected_event_ids,
    expected_events,
    expected_first_orders,
    expected_funnel,
    expected_lifecycle,
    expected_order_products,
    expected_products,
    expected_revenue_by_day,
    expected_revenue_by_segment,
    expected_revenue_kpis,
    expected_score_grid,
    expected_segments,
    expected_session_kpis,
    expected_traffic,
    segment_sql,
    spend_imported,
)
from tests.support.dashboard_warehouse import query

LAST_DAY = date(2026, 11, 24)  # the generated traffic ends 2026-11-24 12:00 UTC
SEGMENTS = [(None, None), ("logged_in", None), ("anonymous", "mobile"), ("anonymous", None), (None, "tablet")]
RANGES = [
    (LAST_DAY - timedelta(days=6), LAST_DAY),  # the default: last 7 days
    (LAST_DAY - timedelta(days=2), LAST_DAY),  # 3 days: hourly
    (LAST_DAY - timedelta(days=1), LAST_DAY - timedelta(days=1)),  # one day
    (LAST_DAY - timedelta(days=13), LAST_DAY),  # everything
]
CASES = [Filters(start, end, login, device) for (start, end) in RANGES for (login, device) in SEGMENTS]


def case_id(f: Filters) -> str:
    return f.key()


def assert_close(actual: Any, expected: Any, what: str) -> None:
    """Equal within float rounding; ``None`` and NaN (pandas' missing) both mean "no value"."""
    actual = None if actual is None or pd.isna(actual) else actual
    if expected is None or actual is None:
        assert actual is None and expected is None, f"{what}: {actual!r} != {expected!r}"
    else:
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), f"{what}: {actual!r} != {expected!r}"


# -- filters ----------------------------------------------------------------------------------------
def test_the_previous_period_has_the_same_length_and_ends_the_day_before() -> None:
    f = Filters(date(2026, 11, 18), date(2026, 11, 24), "anonymous", "mobile")
    assert f.previous() == Filters(date(2026, 11, 11), date(2026, 11, 17), "anonymous", "mobile")
    assert Filters(date(2026, 11, 24), date(2026, 11, 24)).previous().start == date(2026, 11, 23)
    assert f.days == 7 and not f.hourly and Filters(date(2026, 11, 22), date(2026, 11, 24)).hourly


def test_filters_refuse_reversed_ranges_and_segments_the_vocabulary_lacks(traffic_pool: ConnectionPool) -> None:
    with pytest.raises(ValueError, match="starts"):
        Filters(date(2026, 11, 24), date(2026, 11, 23))
    shop = vocabulary.read(traffic_pool)
    with pytest.raises(ValueError, match="login state"):
        shop.check(Filters(date(2026, 11, 24), date(2026, 11, 24), login_state="robot"))
    with pytest.raises(ValueError, match="device class"):
        shop.check(Filters(date(2026, 11, 24), date(2026, 11, 24), device_class="fridge"))
    for f in CASES:
        assert shop.check(f) is f


# -- the vocabulary -------------------------------------------------------------------------------
def seed(name: str) -> list[dict[str, str]]:
    with (ROOT / "dbt_project" / "seeds" / f"{name}.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def test_the_vocabulary_is_the_seeds_in_their_order(traffic_pool: ConnectionPool) -> None:
    shop = vocabulary.read(traffic_pool)
    assert list(shop.login_states.items()) == [
        (r["login_state"], r["label"]) for r in seed("login_states") if r["is_sent_by_storefront"] == "true"
    ]
    assert list(shop.login_states) == ["logged_in", "anonymous"], "what the storefront sends; guest shows under All"
    assert list(shop.device_classes.items()) == [
        (r["device_class"], r["label"]) for r in seed("device_classes") if r["device_class"] != "bot"
    ]
    steps = sorted(seed("funnel_steps"), key=lambda r: int(r["step_order"]))
    assert list(shop.funnel_steps.items()) == [(r["step_name"], r["label"]) for r in steps]
    assert {name: (t.label, t.color) for name, t in shop.page_types.items()} == {
        r["page_type"]: (r["label"], r["color"] or None) for r in seed("page_types")
    }


def test_the_vocabulary_names_every_funnel_step_and_journey_page_of_the_marts(
    traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    shop = vocabulary.read(traffic_pool)
    assert {name for (name,) in query(traffic_dw, "select distinct step_name from marts.funnel_daily")} == set(
        shop.funnel_steps
    )
    steps = query(
        traffic_dw,
        "select from_step from marts.journey_transitions union select to_step from marts.journey_transitions",
    )
    assert {name for (name,) in steps} - set(shop.page_types) == {journeys.START, *journeys.ENDS}
    segments = query(traffic_dw, "select distinct login_state, device_class from marts.fct_sessions")
    assert {device for _, device in segments} <= set(shop.device_classes)
    assert {login for login, _ in segments} - set(shop.login_states) <= {"guest"}


# -- the pool -----------------------------------------------------------------------------------------
def test_the_pool_reads_marts_only_and_cannot_write(traffic_pool: ConnectionPool) -> None:
    with traffic_pool.connection() as conn:
        assert conn.execute("show search_path").fetchone()[0] == "marts"
        assert conn.execute("show default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("select count(*) from fct_sessions").fetchone()[0] > 0  # unqualified: marts
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("delete from marts.fct_sessions")
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("select 1 from events")  # raw.events is not on the path
    assert traffic_pool.max_size == 4 and traffic_pool.min_size == 1


def test_the_default_range_is_the_last_seven_days_of_data(
    traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    last = query(traffic_dw, "select max(started_date) from marts.fct_sessions")[0][0]
    assert last == LAST_DAY
    assert default_filters(warehouse.data_bounds(traffic_pool)["last_date"]) == Filters(last - timedelta(days=6), last)
    assert warehouse.state(traffic_pool) == "ready"
    first = query(traffic_dw, "select min(started_date) from marts.fct_sessions")[0][0]
    assert warehouse.data_bounds(traffic_pool) == {"first_date": first, "last_date": last}


def test_pipeline_status_is_the_last_load_and_the_newest_event(
    traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    status = freshness.pipeline_status(traffic_pool)
    finished, load_status = query(
        traffic_dw,
        "select finished_at, status from raw.load_runs where finished_at is not null order by load_id desc limit 1",
    )[0]
    assert status["last_load_finished_at"] == finished and status["last_load_status"] == load_status == "succeeded"
    assert status["newest_event_at"] == query(traffic_dw, "select max(event_at) from marts.fct_events")[0][0]
    assert status["marts_refreshed_at"] is not None


# -- overview -------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", CASES, ids=case_id)
def test_kpis_equal_independent_counts_for_the_range_and_the_previous_period(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    result = overview.kpis(traffic_pool, f)
    for period, filters in (("current", f), ("previous", f.previous())):
        expected = {**expected_session_kpis(traffic_dw, filters), "events": expected_events(traffic_dw, filters)}
        for name in overview.KPI_NAMES:
            assert_close(result[period][name], expected[name], f"{period} {name}")
    current, previous = result["current"], result["previous"]
    for name in overview.KPI_NAMES:
        if current[name] is None or previous[name] is None or (name not in RATE_KPIS and not previous[name]):
            expected_change = None
        elif name in RATE_KPIS:
            expected_change = current[name] - previous[name]
        else:
            expected_change = current[name] / previous[name] - 1
        assert_close(result["change"][name], expected_change, f"change of {name}")
    if f.start == RANGES[0][0] and f.login_state is None and f.device_class is None:
        assert current["sessions"] > 200 and previous["sessions"] > 200 and current["events"] > 1000


def test_a_range_before_the_data_compares_with_nothing(traffic_pool: ConnectionPool) -> None:
    first = warehouse.data_bounds(traffic_pool)["first_date"]
    assert isinstance(first, date)
    result = overview.kpis(traffic_pool, Filters(first, first + timedelta(days=1)))
    assert result["current"]["sessions"] > 0 and result["previous"]["sessions"] == 0
    assert result["previous"]["conversion_rate"] is None and result["change"]["sessions"] is None
    assert result["change"]["conversion_rate"] is None


@pytest.mark.parametrize("f", CASES[::3], ids=case_id)
def test_timeseries_has_every_bucket_and_counts_like_fct_tables(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    frame = overview.timeseries(traffic_pool, f)
    unit = "hour" if f.days <= 3 else "day"
    assert len(frame) == f.days * (24 if unit == "hour" else 1)
    assert frame["bucket_at"].iloc[0].to_pydatetime() == f.start_at
    params: dict[str, Any] = {"start": f.start, "end": f.end, "unit": unit}
    events = dict(
        query(
            traffic_dw,
            "select date_trunc(%(unit)s, event_at at time zone 'UTC'), count(*) from marts.fct_events"
            " where (event_at at time zone 'UTC')::date between %(start)s and %(end)s"
            + segment_sql(f, "user_login_state", params)
            + " group by 1",
            params,
        )
    )
    params = {"start": f.start, "end": f.end, "unit": unit}
    sessions = dict(
        query(
            traffic_dw,
            "select date_trunc(%(unit)s, started_at at time zone 'UTC'), count(*) from marts.fct_sessions"
            " where started_date between %(start)s and %(end)s" + segment_sql(f, "login_state", params) + " group by 1",
            params,
        )
    )
    for row in frame.itertuples(index=False):
        bucket = row.bucket_at.to_pydatetime().replace(tzinfo=None)
        assert row.events == events.get(bucket, 0), bucket
        assert row.sessions == sessions.get(bucket, 0), bucket
    kpis = overview.kpis(traffic_pool, f)["current"]
    assert frame["events"].sum() == kpis["events"] and frame["sessions"].sum() == kpis["sessions"]


# -- funnel ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", CASES, ids=case_id)
def test_funnel_steps_count_sessions_reaching_each_step_in_order(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    reached = expected_funnel(traffic_dw, f)
    frame = funnel.steps(traffic_pool, f)
    assert frame["step_name"].tolist() == [
        "session_start", "product_view", "add_to_cart_click", "checkout_start", "checkout_complete"
    ]  # fmt: skip
    assert frame["sessions"].tolist() == list(reached)
    for step in range(1, 5):
        previous = reached[step - 1]
        assert_close(
            frame["conversion_from_previous"].iloc[step],
            reached[step] / previous if previous else None,
            f"step {step} from previous",
        )
        assert_close(frame["conversion_from_start"].iloc[step], reached[step] / reached[0], f"step {step} overall")
    assert reached[0] == overview.kpis(traffic_pool, f)["current"]["sessions"]


# -- products -------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", CASES[::2], ids=case_id)
@pytest.mark.parametrize(
    ("by", "column"), [("product", "product_id"), ("category", "product_category"), ("brand", "product_brand")]
)
def test_product_rankings_equal_counts_over_fct_events(
    f: Filters, by: products.Breakdown, column: str, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    expected = expected_products(traffic_dw, f, column)
    frame = products.ranking(traffic_pool, f, by)
    actual = {
        row[column]: (row["views"], row["add_to_carts"])
        for row in frame.to_dict("records")
        if row["views"] or row["add_to_carts"]
    }
    assert actual == expected
    ranked = list(zip(frame["views"], frame["add_to_carts"], strict=True))
    assert ranked == sorted(ranked, reverse=True), "ranked by views, then add-to-carts"
    for row in frame.to_dict("records"):
        assert_close(row["view_to_cart_rate"], row["add_to_carts"] / row["views"] if row["views"] else None, "rate")
    by_carts = products.ranking(traffic_pool, f, by, rank_by="add_to_carts", limit=5)
    assert len(by_carts) == min(5, len(frame))
    assert by_carts["add_to_carts"].tolist() == sorted(frame["add_to_carts"], reverse=True)[: len(by_carts)]


def test_products_carry_their_name_category_and_brand(
    traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    f = Filters(LAST_DAY - timedelta(days=6), LAST_DAY)
    frame = products.ranking(traffic_pool, f, "product")
    names = dict(
        query(
            traffic_dw,
            "select distinct on (product_id) product_id, product_name from marts.fct_events"
            " where product_id is not null and product_name is not null order by product_id, event_at desc",
        )
    )
    assert frame["product_name"].notna().all() and frame["product_category"].notna().all()
    for row in frame.head(10).to_dict("records"):
        assert row["product_name"] == names[row["product_id"]]


# -- journeys -------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", CASES[::2], ids=case_id)
def test_journeys_aggregate_transitions_and_start_once_per_session(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    params: dict[str, Any] = {"start": f.start, "end": f.end}
    expected: Counter[tuple[int, str, str]] = Counter()
    for step_index, from_step, to_step, sessions in query(
        traffic_dw,
        "select step_index, from_step, to_step, sessions from marts.journey_transitions"
        " where date_day between %(start)s and %(end)s" + segment_sql(f, "login_state", params),
        params,
    ):
        expected[(step_index, from_step, to_step)] += sessions
    frame = journeys.transitions(traffic_pool, f)
    assert {(r.step_index, r.from_step, r.to_step): r.sessions for r in frame.itertuples(index=False)} == dict(expected)
    # every session starts once; what leaves a node arrived there
    sessions = overview.kpis(traffic_pool, f)["current"]["sessions"]
    assert frame.loc[frame["step_index"] == 0, "sessions"].sum() == sessions
    into: defaultdict[tuple[int, str], int] = defaultdict(int)
    out: defaultdict[tuple[int, str], int] = defaultdict(int)
    for r in frame.itertuples(index=False):
        out[(r.step_index, r.from_step)] += r.sessions
        into[(r.step_index + 1, r.to_step)] += r.sessions
    for node, leaving in out.items():
        if node[0] > 0:
            assert leaving == into[node], node
    # every transition, recomputed in Python from fct_events: page types in order, repeats collapsed, at most 8
    # steps, then exit (or continues)
    kinds = {"home_view": "home", "category_view": "category", "product_view": "product", "add_to_cart_click": "cart",
             "checkout_start": "checkout", "checkout_complete": "purchase", "login_success": "login"}  # fmt: skip
    params = {"start": f.start, "end": f.end}
    segment = segment_sql(f, "s.login_state", params).replace(" device_class", " s.device_class")
    paths: dict[str, list[str]] = {
        key: []
        for (key,) in query(
            traffic_dw,
            "select session_key from marts.fct_sessions as s where started_date between %(start)s and %(end)s"
            + segment,
            params,
        )
    }
    for key, name in query(
        traffic_dw,
        "select e.session_key, e.event_name from marts.fct_events as e join marts.fct_sessions as s using (session_key)"
        " where s.started_date between %(start)s and %(end)s"
        + segment
        + " order by e.session_key, e.event_at, e.event_id",
        params,
    ):
        if name in kinds and (not paths[key] or paths[key][-1] != kinds[name]):
            paths[key].append(kinds[name])
    recomputed: Counter[tuple[int, str, str]] = Counter()
    for steps in paths.values():
        path = ["session_start", *steps[:8], "continues" if len(steps) > 8 else "exit"]
        for index in range(len(path) - 1):
            recomputed[(index, path[index], path[index + 1])] += 1
    assert {(r.step_index, r.from_step, r.to_step): r.sessions for r in frame.itertuples(index=False)} == dict(
        recomputed
    )


# -- retention ------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", [CASES[0], CASES[5], CASES[-1]], ids=case_id)
def test_retention_shows_the_cohorts_overlapping_the_range_computed_from_sessions(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    rows = query(
        traffic_dw,
        """
        with firsts as (
            select client_id, date_trunc('week', min(started_at) at time zone 'UTC')::date as cohort_week
            from marts.fct_sessions group by client_id
        ),
        activity as (
            select distinct client_id, date_trunc('week', started_at at time zone 'UTC')::date as week
            from marts.fct_sessions
        )
        select f.cohort_week, (a.week - f.cohort_week) / 7, count(*),
               (select count(*) from firsts c where c.cohort_week = f.cohort_week)
        from firsts f join activity a using (client_id)
        where f.cohort_week <= %(end)s and f.cohort_week + 6 >= %(start)s
        group by 1, 2
        """,
        {"start": f.start, "end": f.end},
    )
    expected = {(week, since): (active, size) for week, since, active, size in rows}
    frame = retention.cohorts(traffic_pool, f)
    actual = {
        (r.cohort_week, r.weeks_since_first_visit): (r.active_clients, r.cohort_size)
        for r in frame.itertuples(index=False)
    }
    assert actual == expected and len(actual) > 0
    for r in frame.itertuples(index=False):
        assert r.retention_rate == pytest.approx(r.active_clients / r.cohort_size, abs=5e-5)
    # the segment filters do not apply to retention
    assert retention.cohorts(traffic_pool, Filters(f.start, f.end, "anonymous", "tablet")).equals(frame)


# -- events ---------------------------------------------------------------------------------------
def all_pages(pool: ConnectionPool, f: Filters, search: str = "", page_size: int = 50) -> list[str]:
    ids: list[str] = []
    page = 0
    while True:
        result = events.newest(pool, f, search, page, page_size)
        assert result["has_previous"] == (page > 0)
        assert len(result["rows"]) == page_size or not result["has_next"]
        ids += [str(i) for i in result["rows"]["event_id"]]
        if not result["has_next"]:
            return ids
        page += 1


def test_events_page_newest_first_fifty_per_page(traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings) -> None:
    f = Filters(LAST_DAY - timedelta(days=6), LAST_DAY)
    expected = expected_event_ids(traffic_dw, f)
    first = events.newest(traffic_pool, f)
    assert [str(i) for i in first["rows"]["event_id"]] == expected[:50]
    assert first["has_next"] and not first["has_previous"] and first["page_size"] == 50
    third = events.newest(traffic_pool, f, page=2)
    assert [str(i) for i in third["rows"]["event_id"]] == expected[100:150]
    assert list(third["rows"].columns) == list(events.COLUMNS)
    times = third["rows"]["event_at"].tolist()
    assert times == sorted(times, reverse=True)
    last_page = (len(expected) - 1) // 50
    last = events.newest(traffic_pool, f, page=last_page)
    assert [str(i) for i in last["rows"]["event_id"]] == expected[last_page * 50 :] and not last["has_next"]
    assert events.newest(traffic_pool, f, page=last_page + 1)["rows"].empty


@pytest.mark.parametrize("f", [CASES[1], CASES[2], CASES[9]], ids=case_id)
def test_events_pages_follow_the_segment_and_cover_every_event(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    assert all_pages(traffic_pool, f, page_size=200) == expected_event_ids(traffic_dw, f)


def test_events_search_finds_a_client_or_an_event_name(
    traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    f = Filters(LAST_DAY - timedelta(days=13), LAST_DAY)
    client = query(
        traffic_dw, "select client_id from marts.fct_events group by 1 having count(*) > 60 order by 1 limit 1"
    )[0][0]
    by_client = expected_event_ids(traffic_dw, f, " and client_id = %(client)s", client=client)
    assert all_pages(traffic_pool, f, client) == by_client and len(by_client) > 60
    assert all_pages(traffic_pool, f, f"  {client} ") == by_client, "surrounding blanks are ignored"
    purchases = expected_event_ids(traffic_dw, f, " and event_name = 'checkout_complete'")
    assert all_pages(traffic_pool, f, "Checkout_Complete") == purchases and len(purchases) > 50
    segment = Filters(f.start, f.end, "logged_in", "desktop")
    assert all_pages(traffic_pool, segment, "checkout_complete") == expected_event_ids(
        traffic_dw, segment, " and event_name = 'checkout_complete'"
    )
    nothing = events.newest(traffic_pool, f, "no-such-client")
    assert nothing["rows"].empty and not nothing["has_next"]
    injection = events.newest(traffic_pool, f, "x' or '1'='1")
    assert injection["rows"].empty, "the search is a parameter, not SQL"


def test_events_page_refuses_negative_pages(traffic_pool: ConnectionPool) -> None:
    with pytest.raises(ValueError, match="page"):
        events.newest(traffic_pool, Filters(LAST_DAY, LAST_DAY), page=-1)


# -- revenue --------------------------------------------------------------------------------------
UNSEGMENTED = [f for f in CASES if f.login_state is None and f.device_class is None]


def test_the_traffic_warehouse_has_orders_tracked_and_not(
    traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    assert revenue.state(traffic_pool) == "ready"
    methods = dict(query(traffic_dw, "select match_method, count(*) from marts.fct_orders group by 1"))
    assert methods.get("order_id", 0) > 20 and methods.get("none", 0) > 5, methods
    first, last = query(traffic_dw, "select min(ordered_date), max(ordered_date) from marts.fct_orders")[0]
    assert revenue.order_bounds(traffic_pool) == {"first_date": first, "last_date": last}


@pytest.mark.parametrize("f", CASES, ids=case_id)
def test_revenue_kpis_equal_sums_over_fct_orders_for_the_range_and_the_previous_period(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    result = revenue.kpis(traffic_pool, f)
    for period, filters in (("current", f), ("previous", f.previous())):
        expected = expected_revenue_kpis(traffic_dw, filters)
        for name in revenue.KPI_NAMES:
            assert_close(result[period][name], expected[name], f"{period} {name}")
    current, previous = result["current"], result["previous"]
    for name in revenue.KPI_NAMES:
        if current[name] is None or previous[name] is None or (name not in RATE_KPIS and not previous[name]):
            expected_change = None
        elif name in RATE_KPIS:
            expected_change = current[name] - previous[name]
        else:
            expected_change = current[name] / previous[name] - 1
        assert_close(result["change"][name], expected_change, f"change of {name}")
    if f == CASES[0]:
        assert current["orders"] > 30 and previous["orders"] > 30 and current["revenue"] > 0
        assert 0 < current["capture_rate"] < 1 and 0 < current["revenue_capture_rate"] < 1


@pytest.mark.parametrize("f", UNSEGMENTED, ids=case_id)
def test_revenue_kpis_without_a_segment_agree_with_order_reconciliation_daily(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    [(orders, matched, paid, shop_revenue, matched_revenue)] = query(
        traffic_dw,
        "select coalesce(sum(shop_orders), 0), coalesce(sum(matched_orders), 0), coalesce(sum(paid_orders), 0),"
        " coalesce(sum(shop_revenue), 0), coalesce(sum(matched_revenue), 0)"
        " from marts.order_reconciliation_daily where date_day between %s and %s",
        (f.start, f.end),
    )
    current = revenue.kpis(traffic_pool, f)["current"]
    assert (current["orders"], current["paid_orders"]) == (orders, paid)
    assert_close(current["revenue"], float(shop_revenue), "revenue")
    assert_close(current["capture_rate"], matched / orders if orders else None, "capture rate")
    assert_close(
        current["revenue_capture_rate"],
        float(matched_revenue / shop_revenue) if shop_revenue else None,
        "revenue captured",
    )


def test_untracked_orders_belong_to_no_segment(traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings) -> None:
    """Without a segment an order the tracker never saw counts (a "Not tracked" bar); under any segment it is left
    out, so the segments' orders and the untracked ones add up to all orders."""
    f = Filters(LAST_DAY - timedelta(days=13), LAST_DAY)
    everything = revenue.kpis(traffic_pool, f)["current"]
    missing = revenue.untracked(traffic_pool, f)
    [(untracked_orders, untracked_revenue)] = query(
        traffic_dw,
        "select count(*), coalesce(sum(revenue), 0) from marts.fct_orders"
        " where match_method = 'none' and ordered_date between %s and %s",
        (f.start, f.end),
    )
    assert missing["orders"] == untracked_orders > 0
    assert_close(missing["revenue"], float(untracked_revenue), "untracked revenue")
    for by, column in (("device_class", "device_class"), ("login_state", "login_state")):
        values = [
            v
            for (v,) in query(traffic_dw, f"select distinct {column} from marts.fct_orders where {column} is not null")
        ]
        segments = [
            revenue.kpis(traffic_pool, Filters(f.start, f.end, **{column: value}))["current"] for value in values
        ]
        assert sum(s["orders"] for s in segments) + missing["orders"] == everything["orders"], by
        assert_close(sum(s["revenue"] for s in segments) + missing["revenue"], everything["revenue"], by)
        assert all(s["capture_rate"] is None and s["revenue_capture_rate"] is None for s in segments), "All only"
        frame = revenue.by_segment(traffic_pool, f, by)  # type: ignore[arg-type]
        not_tracked = frame[~frame["is_tracked"]]
        assert len(not_tracked) == 1 and not_tracked["segment"].isna().all()
        assert int(not_tracked["orders"].iloc[0]) == missing["orders"]
        assert not frame["is_tracked"].iloc[-1], "Not tracked comes last"
        segmented = revenue.by_segment(traffic_pool, Filters(f.start, f.end, **{column: values[0]}), by)  # type: ignore[arg-type]
        assert segmented["is_tracked"].all() and segmented["segment"].tolist() == [values[0]]


@pytest.mark.parametrize("f", CASES[::3], ids=case_id)
def test_revenue_by_day_has_every_day_and_sums_like_fct_orders(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    frame = revenue.daily(traffic_pool, f)
    assert frame["date_day"].tolist() == [f.start + timedelta(days=n) for n in range(f.days)]
    expected = expected_revenue_by_day(traffic_dw, f)
    for row in frame.itertuples(index=False):
        orders, total, tracked = expected.get(row.date_day, (0, 0.0, 0.0))
        assert row.orders == orders, row.date_day
        assert_close(row.revenue, total, f"revenue {row.date_day}")
        assert_close(row.tracked_revenue, tracked, f"tracked revenue {row.date_day}")
        assert_close(row.untracked_revenue, total - tracked, f"untracked revenue {row.date_day}")
    kpis = revenue.kpis(traffic_pool, f)["current"]
    assert frame["orders"].sum() == kpis["orders"] and frame["paid_orders"].sum() == kpis["paid_orders"]
    assert_close(frame["revenue"].sum(), kpis["revenue"], "revenue")


@pytest.mark.parametrize("f", CASES[::2], ids=case_id)
@pytest.mark.parametrize("by", ["device_class", "login_state"])
def test_revenue_by_segment_equals_sums_over_fct_orders(
    f: Filters, by: revenue.Breakdown, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    expected = expected_revenue_by_segment(traffic_dw, f, by)
    frame = revenue.by_segment(traffic_pool, f, by)
    actual = {
        (row.segment if row.is_tracked else None): (row.orders, row.paid_orders, row.revenue)
        for row in frame.itertuples(index=False)
    }
    assert actual.keys() == expected.keys()
    for key, (orders, paid, total) in expected.items():
        assert actual[key][:2] == (orders, paid), key
        assert_close(actual[key][2], total, f"revenue of {key}")
    tracked = frame[frame["is_tracked"]]
    assert tracked["revenue"].tolist() == sorted(tracked["revenue"], reverse=True), "largest first"
    assert None not in expected or not frame["is_tracked"].iloc[-1], "Not tracked comes last"
    if f.login_state or f.device_class:
        assert None not in expected and frame["is_tracked"].all()
    with pytest.raises(ValueError, match="by must be"):
        revenue.by_segment(traffic_pool, f, "channel")  # type: ignore[arg-type]


@pytest.mark.parametrize("f", CASES[::2], ids=case_id)
def test_carts_equal_counts_over_fct_carts(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    result = revenue.carts(traffic_pool, f)
    expected = expected_carts(traffic_dw, f)
    assert result.keys() == expected.keys()
    for name, value in expected.items():
        assert_close(result[name], value, name)
    assert result["carts"] == result["ordered_carts"] + result["abandoned_carts"] + result["open_carts"]
    if f == CASES[0]:
        assert result["abandoned_carts"] > 10 and result["ordered_carts"] > 10 and result["recovered_carts"] > 0


@pytest.mark.parametrize("f", UNSEGMENTED, ids=case_id)
def test_carts_without_a_segment_agree_with_abandoned_carts_daily(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    [daily] = query(
        traffic_dw,
        "select coalesce(sum(carts), 0), coalesce(sum(ordered_carts), 0), coalesce(sum(abandoned_carts), 0),"
        " coalesce(sum(open_carts), 0), coalesce(sum(recovered_carts), 0), coalesce(sum(abandoned_value), 0),"
        " coalesce(sum(recovered_revenue), 0), coalesce(sum(revenue_left_in_cart), 0)"
        " from marts.abandoned_carts_daily where date_day between %s and %s",
        (f.start, f.end),
    )
    result = revenue.carts(traffic_pool, f)
    names = ("carts", "ordered_carts", "abandoned_carts", "open_carts", "recovered_carts", "abandoned_value",
             "recovered_revenue", "revenue_left_in_cart")  # fmt: skip
    for name, value in zip(names, daily, strict=True):
        assert_close(result[name], float(value), name)


@pytest.mark.parametrize("f", CASES[::2], ids=case_id)
def test_products_by_revenue_equal_sums_over_order_lines(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    expected = expected_order_products(traffic_dw, f)
    frame = revenue.products(traffic_pool, f)
    actual = {row.product_id: (row.orders, row.units, row.revenue) for row in frame.itertuples(index=False)}
    assert actual.keys() == expected.keys()
    for product, (orders, units, total) in expected.items():
        assert actual[product][:2] == (orders, units), product
        assert_close(actual[product][2], total, f"revenue of {product}")
    ranked = list(zip(frame["revenue"], frame["units"], strict=True))
    assert ranked == sorted(ranked, reverse=True), "by revenue, then units"
    by_units = revenue.products(traffic_pool, f, "units", limit=5)
    assert by_units["units"].tolist() == sorted(frame["units"], reverse=True)[: len(by_units)] and len(by_units) <= 5
    by_orders = revenue.products(traffic_pool, f, "orders")
    assert by_orders["orders"].tolist() == sorted(frame["orders"], reverse=True)
    if len(frame):
        assert frame["product_name"].notna().all() and frame["product_brand"].notna().all()
    with pytest.raises(ValueError, match="rank_by"):
        revenue.products(traffic_pool, f, "views")  # type: ignore[arg-type]


def test_products_carry_the_catalogs_names(traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings) -> None:
    names = dict(query(traffic_dw, "select distinct product_id, product_name from marts.fct_order_items"))
    frame = revenue.products(traffic_pool, Filters(LAST_DAY - timedelta(days=13), LAST_DAY))
    assert len(frame) > 5 and all(names[r.product_id] == r.product_name for r in frame.itertuples(index=False))


def test_a_range_before_the_orders_compares_with_nothing(traffic_pool: ConnectionPool) -> None:
    first = revenue.order_bounds(traffic_pool)["first_date"]
    assert isinstance(first, date)
    result = revenue.kpis(traffic_pool, Filters(first, first + timedelta(days=1)))
    assert result["current"]["orders"] > 0 and result["previous"]["orders"] == 0
    assert result["previous"]["average_order_value"] is None and result["previous"]["capture_rate"] is None
    assert all(change is None for change in result["change"].values())


# -- acquisition ----------------------------------------------------------------------------------
def expected_change(name: str, current: float | None, previous: float | None) -> float | None:
    if current is None or previous is None or (name not in RATE_KPIS and not previous):
        return None
    return current - previous if name in RATE_KPIS else current / previous - 1


def test_the_traffic_warehouse_has_channels_attribution_and_ad_spend(
    traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    assert acquisition_queries.state(traffic_pool) == "ready" and customers.state(traffic_pool) == "ready"
    channels = dict(query(traffic_dw, "select channel, count(*) from marts.fct_sessions group by 1"))
    assert {"direct", "organic_search", "paid_social", "paid_search", "email"} <= channels.keys(), channels
    assert set(acquisition_queries.MODELS) == {
        model for (model,) in query(traffic_dw, "select distinct model from marts.attribution_channel_daily")
    }, "the page offers every model the marts have, and no other"
    spent = query(traffic_dw, "select distinct channel, campaign from raw.ad_spend order by 1, 2")
    assert spent == [("paid_search", "(not set)"), ("paid_social", "black_friday_2026"), ("paid_social", "gaming_gear")]
    shop = vocabulary.read(traffic_pool)
    assert set(channels) <= set(shop.channels), "every channel of the sessions has a label"


@pytest.mark.parametrize("f", CASES, ids=case_id)
def test_acquisition_kpis_equal_sessions_and_the_orders_they_placed_for_the_range_and_the_previous_period(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    result = acquisition_queries.kpis(traffic_pool, f)
    for period, filters in (("current", f), ("previous", f.previous())):
        expected = expected_acquisition_kpis(traffic_dw, filters)
        for name in acquisition_queries.KPI_NAMES:
            assert_close(result[period][name], expected[name], f"{period} {name}")
    for name in acquisition_queries.KPI_NAMES:
        change = expected_change(name, result["current"][name], result["previous"][name])
        assert_close(result["change"][name], change, f"change of {name}")
    overview_kpis = overview.kpis(traffic_pool, f)["current"]
    assert result["current"]["sessions"] == overview_kpis["sessions"], "the Overview's sessions"
    assert_close(result["current"]["conversion_rate"], overview_kpis["conversion_rate"], "the Overview's conversion")
    if f.login_state or f.device_class:
        assert result["current"]["ad_spend"] is None and result["change"]["ad_spend"] is None, "spend has no segment"
    elif f == CASES[0]:
        assert result["current"]["ad_spend"] > 0 and result["current"]["orders"] > 20


@pytest.mark.parametrize("f", CASES[::2], ids=case_id)
@pytest.mark.parametrize("by", ["channel", "source_medium", "campaign"])
def test_sessions_by_channel_source_and_campaign_equal_counts_over_sessions_and_their_orders(
    f: Filters, by: acquisition_queries.Breakdown, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    expected = expected_traffic(traffic_dw, f, by)
    frame = acquisition_queries.traffic(traffic_pool, f, by)
    keys = [None if not isinstance(k, str) else k for k in frame["key"]]
    assert set(keys) == set(expected) and len(keys) == len(expected)
    total = sum(group["sessions"] for group in expected.values())
    for key, row in zip(keys, frame.itertuples(index=False), strict=True):
        group = expected[key]
        assert (row.sessions, row.converted_sessions, row.orders) == (
            group["sessions"], group["converted"], group["orders"]
        ), key  # fmt: skip
        assert_close(row.revenue, group["revenue"], f"revenue of {key}")
        assert list(row.channels) == sorted(group["channels"]), key
        assert_close(row.conversion_rate, group["converted"] / group["sessions"], f"conversion of {key}")
        assert_close(row.share, group["sessions"] / total, f"share of {key}")
        assert_close(row.revenue_per_session, group["revenue"] / group["sessions"], f"revenue per session of {key}")
    named = [(row.sessions, row.revenue) for key, row in zip(keys, frame.itertuples(index=False), strict=True) if key]
    assert named == sorted(named, key=lambda r: (-r[0], -r[1])), "by sessions, then revenue"
    assert None not in keys or keys[-1] is None, "sessions without a campaign last"
    kpis = acquisition_queries.kpis(traffic_pool, f)["current"]
    assert frame["sessions"].sum() == kpis["sessions"] and frame["orders"].sum() == kpis["orders"]
    assert_close(frame["revenue"].sum(), kpis["revenue"], "revenue")


@pytest.mark.parametrize("f", UNSEGMENTED, ids=case_id)
def test_every_models_credit_per_channel_equals_attribution_channel_daily(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    """What the model selector shows: each model's conversions and revenue per channel are the daily mart's, and the
    channels' spend is what was imported."""
    daily = {
        (model, channel): (float(conversions), float(revenue))
        for model, channel, conversions, revenue in query(
            traffic_dw,
            "select model, channel, sum(attributed_conversions), sum(attributed_revenue)"
            " from marts.attribution_channel_daily where date_day between %s and %s group by 1, 2",
            (f.start, f.end),
        )
    }
    frame = acquisition_queries.attribution(traffic_pool, f)
    assert list(dict.fromkeys(frame["model"])) == (list(acquisition_queries.MODELS) if daily else [])
    shown = {(r.model, r.channel): r for r in frame.itertuples(index=False)}
    assert set(daily) <= set(shown)
    for key, row in shown.items():
        conversions, revenue = daily.get(key, (0.0, 0.0))
        assert row.attributed_conversions == pytest.approx(conversions, abs=1e-9), key
        assert row.attributed_revenue == pytest.approx(revenue, abs=1e-6), key
    spend = spend_imported(traffic_dw, f)
    for row in frame.itertuples(index=False):
        assert_close(row.spend, spend.get(row.channel), f"spend on {row.channel}")
    for model in acquisition_queries.MODELS:
        rows = frame[frame["model"] == model]
        assert rows["attributed_revenue"].tolist() == sorted(rows["attributed_revenue"], reverse=True), model
        assert sorted(rows["channel"]) == sorted(set(frame["channel"])), "every model has every channel"


@pytest.mark.parametrize("f", CASES[::2], ids=case_id)
def test_attribution_equals_credits_summed_over_the_touches_in_the_segment(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    expected = expected_attribution(traffic_dw, f)
    frame = acquisition_queries.attribution(traffic_pool, f)
    shown = {(r.model, r.channel): (r.attributed_conversions, r.attributed_revenue) for r in frame.itertuples()}
    touched = {channel for _, channel in expected}
    assert touched <= {channel for _, channel in shown} <= touched | set(spend_imported(traffic_dw, f)), (
        "every channel touched, and those with spend (zero credit when untouched)"
    )
    for key, (conversions, credited) in shown.items():
        wanted = expected.get(key, (0.0, 0.0))
        assert conversions == pytest.approx(wanted[0], abs=1e-6), key
        # the daily mart rounds each day's revenue to the hundredth of a dong
        assert credited == pytest.approx(wanted[1], abs=0.01 * f.days), key


@pytest.mark.parametrize("f", CASES[::2], ids=case_id)
def test_each_models_total_is_the_revenue_of_the_orders_with_a_touch(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    """The models side by side: without a segment every model's total credits are the orders with a touch and its
    attributed revenue their paid revenue; under a segment, at most that (the touches in it only)."""
    orders = acquisition_queries.attributed_orders(traffic_pool, f)
    expected = expected_attributed_orders(traffic_dw, f)
    assert orders["orders"] == expected["orders"] and orders["attributed_orders"] == expected["attributed_orders"]
    assert_close(orders["attributed_revenue"], expected["attributed_revenue"], "attributed revenue")
    [(paid_revenue,)] = query(
        traffic_dw,
        "select coalesce(sum(revenue), 0) from marts.fct_orders where ordered_date between %s and %s"
        " and order_id in (select order_id from marts.attribution_paths)",
        (f.start, f.end),
    )
    frame = acquisition_queries.attribution(traffic_pool, f)
    totals = frame.groupby("model")[["attributed_conversions", "attributed_revenue"]].sum()
    segmented = f.login_state is not None or f.device_class is not None
    rounding = 0.005 * f.days * frame["channel"].nunique()  # the daily mart rounds each row to the hundredth
    for model in acquisition_queries.MODELS if len(frame) else ():
        conversions, credited = totals.loc[model]
        if segmented:
            assert conversions <= orders["attributed_orders"] + 1e-6 and credited <= float(paid_revenue) + 1e-6
        else:
            assert conversions == pytest.approx(orders["attributed_orders"], abs=1e-6), model
            assert credited == pytest.approx(float(paid_revenue), abs=rounding), model
            assert_close(orders["attributed_revenue"], float(paid_revenue), "the orders' revenue")
    if f == CASES[0]:
        assert 0 < orders["attributed_orders"] < orders["orders"], "some orders have no touch"


@pytest.mark.parametrize("f", CASES[::2], ids=case_id)
def test_roas_shows_only_where_spend_was_imported_and_not_under_a_segment(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    spend = spend_imported(traffic_dw, f)
    segmented = f.login_state is not None or f.device_class is not None
    frame = acquisition_queries.attribution(traffic_pool, f)
    for row in frame.itertuples(index=False):
        if segmented or row.channel not in spend:
            assert pd.isna(row.spend) and pd.isna(row.roas), (row.model, row.channel)
        else:
            assert row.roas == pytest.approx(row.attributed_revenue / spend[row.channel]), (row.model, row.channel)
    if not segmented and spend:
        assert {r.channel for r in frame.itertuples() if not pd.isna(r.roas)} == set(spend) & set(frame["channel"])
    campaigns = acquisition_queries.attribution_campaigns(traffic_pool, f, "linear")
    spent = spend_imported(traffic_dw, f, by="campaign")
    for row in campaigns.itertuples(index=False):
        key = (row.channel, row.campaign)
        if segmented or key not in spent:
            assert pd.isna(row.spend) and pd.isna(row.roas), key
        else:
            assert_close(row.spend, spent[key], f"spend on {key}")
            assert row.roas == pytest.approx(row.attributed_revenue / spent[key]), key
    if not segmented:
        assert set(spent) <= {(r.channel, r.campaign) for r in campaigns.itertuples()}, "spend with no credit shows"


@pytest.mark.parametrize("f", CASES[::3], ids=case_id)
@pytest.mark.parametrize("model", ["first_touch", "position_based", "markov"])
def test_campaign_attribution_equals_credits_summed_over_the_touches(
    f: Filters, model: str, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    expected = expected_campaign_attribution(traffic_dw, f, model)
    frame = acquisition_queries.attribution_campaigns(traffic_pool, f, model)
    shown = {(r.channel, r.campaign): (r.attributed_conversions, r.attributed_revenue) for r in frame.itertuples()}
    assert set(expected) <= set(shown)
    for key, (conversions, credited) in shown.items():
        wanted = expected.get(key, (0.0, 0.0))
        assert conversions == pytest.approx(wanted[0], abs=1e-6), key
        assert credited == pytest.approx(wanted[1], abs=0.01 * f.days), key
    assert frame["attributed_revenue"].tolist() == sorted(frame["attributed_revenue"], reverse=True)
    by_channel = acquisition_queries.attribution(traffic_pool, f)
    by_channel = by_channel[by_channel["model"] == model]
    assert_close(frame["attributed_revenue"].sum(), by_channel["attributed_revenue"].sum(), "campaigns add up")


def test_acquisition_refuses_breakdowns_and_models_it_does_not_know(traffic_pool: ConnectionPool) -> None:
    f = Filters(LAST_DAY - timedelta(days=6), LAST_DAY)
    with pytest.raises(ValueError, match="by must be"):
        acquisition_queries.traffic(traffic_pool, f, "device")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model must be"):
        acquisition_queries.attribution_campaigns(traffic_pool, f, "linear; drop table marts.fct_sessions")


# -- customers ------------------------------------------------------------------------------------
SCOPE_CASES = [(f, scope) for f in (CASES[0], CASES[10], CASES[15]) for scope in ("all", "acquired")]


def scope_id(case: tuple[Filters, str]) -> str:
    return f"{case[0].key()}|{case[1]}"


@pytest.mark.parametrize("case", SCOPE_CASES, ids=scope_id)
def test_customer_kpis_equal_sums_over_dim_customers(
    case: tuple[Filters, customers.Scope], traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    f, scope = case
    result = customers.kpis(traffic_pool, f, scope)
    current = result["current"]
    assert current is not None
    expected = expected_customer_kpis(traffic_dw, f, scope)
    for name in customers.KPI_NAMES:
        assert_close(current[name], expected[name], name)
    if scope == "all":
        assert result["previous"] is None and result["change"] is None
        assert current == customers.kpis(traffic_pool, Filters(date(2026, 11, 20), date(2026, 11, 20)))["current"]
        return
    previous, change = result["previous"], result["change"]
    assert previous is not None and change is not None
    before = expected_customer_kpis(traffic_dw, f.previous(), scope)
    for name in customers.KPI_NAMES:
        assert_close(previous[name], before[name], f"previous {name}")
        assert_close(change[name], expected_change(name, current[name], previous[name]), f"change of {name}")
    # the segment filters do not apply
    assert customers.kpis(traffic_pool, Filters(f.start, f.end, "logged_in", "tablet"), scope) == result


@pytest.mark.parametrize("case", SCOPE_CASES, ids=scope_id)
def test_segments_follow_the_seed_and_equal_counts_over_dim_customers(
    case: tuple[Filters, customers.Scope], traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    f, scope = case
    frame = customers.segments(traffic_pool, f, scope)
    seeded = [r["segment"] for r in sorted(seed("rfm_segments"), key=lambda r: int(r["priority"]))]
    assert frame["segment"].tolist()[: len(seeded)] == seeded, "every segment of the seed, in its order"
    expected = expected_segments(traffic_dw, f, scope)
    assert set(frame["segment"]) == set(seeded) | set(expected)
    total = sum(count for count, _, _ in expected.values())
    for row in frame.itertuples(index=False):
        count, revenue, orders = expected.get(row.segment, (0, 0.0, None))
        assert row.customers == count, row.segment
        assert_close(row.revenue, revenue, f"revenue of {row.segment}")
        assert_close(row.average_orders, orders, f"orders of {row.segment}")
        assert_close(row.share, count / total if total else 0.0, f"share of {row.segment}")
    if scope == "all":
        assert frame["customers"].sum() == query(traffic_dw, "select count(*) from marts.dim_customers")[0][0] > 50
        assert (frame["customers"] > 0).sum() >= 5, "several segments have customers"


@pytest.mark.parametrize("case", SCOPE_CASES[:2], ids=scope_id)
def test_the_score_grid_counts_customers_and_names_cells_as_the_mart_names_them(
    case: tuple[Filters, customers.Scope], traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    f, scope = case
    expected = expected_score_grid(traffic_dw, f, scope)
    frame = customers.score_grid(traffic_pool, f, scope)
    assert {(r.r_score, r.fm_score): r.customers for r in frame.itertuples()} == {
        k: n for k, (n, _) in expected.items()
    }
    shop = vocabulary.read(traffic_pool)
    for (r_score, fm_score), (_, segment) in expected.items():
        assert shop.segment_at(r_score, fm_score) == segment, (r_score, fm_score)


@pytest.mark.parametrize("case", SCOPE_CASES, ids=scope_id)
@pytest.mark.parametrize(
    ("by", "column"), [("channel", "first_order_channel"), ("device_class", "first_order_device_class")]
)
def test_customers_by_their_first_orders_channel_and_device(
    case: tuple[Filters, customers.Scope],
    by: customers.FirstOrderBy,
    column: str,
    traffic_pool: ConnectionPool,
    traffic_dw: WarehouseSettings,
) -> None:
    f, scope = case
    expected = expected_first_orders(traffic_dw, f, column, scope)
    frame = customers.first_orders(traffic_pool, f, by, scope)
    keys = [k if isinstance(k, str) else None for k in frame["key"]]
    assert set(keys) == set(expected) and len(keys) == len(expected)
    for key, row in zip(keys, frame.itertuples(index=False), strict=True):
        assert row.customers == expected[key][0], key
        assert_close(row.revenue, expected[key][1], f"revenue of {key}")
    assert None not in keys or keys[-1] is None, "not tracked last"
    tracked = [n for k, n in zip(keys, frame["customers"], strict=True) if k]
    assert tracked == sorted(tracked, reverse=True)
    with pytest.raises(ValueError, match="by must be"):
        customers.first_orders(traffic_pool, f, "login_state")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "f",
    [
        CASES[0],
        Filters(date(2026, 11, 1), date(2026, 11, 30)),
        Filters(LAST_DAY, LAST_DAY),
        Filters(date(2026, 11, 15), date(2026, 11, 16)),
    ],
    ids=case_id,
)
def test_the_lifecycle_shows_every_week_overlapping_the_range_as_recounted_from_sessions(
    f: Filters, traffic_pool: ConnectionPool, traffic_dw: WarehouseSettings
) -> None:
    frame = customers.lifecycle(traffic_pool, f)
    first = f.start - timedelta(days=f.start.weekday())
    assert frame["activity_week"].tolist() == [
        first + timedelta(weeks=n) for n in range((f.end - first).days // 7 + 1)
    ], "every Monday from the range's first week to its last"
    expected = expected_lifecycle(traffic_dw, f)
    for row in frame.itertuples(index=False):
        counts = (row.new_clients, row.retained_clients, row.returning_clients, row.churned_clients)
        assert counts == expected.get(row.activity_week, (0, 0, 0, 0)), row.activity_week
        assert row.active_clients == sum(counts[:3])
    assert customers.lifecycle(traffic_pool, Filters(f.start, f.end, "anonymous", "mobile")).equals(frame)
    if f == CASES[0]:
        assert frame["new_clients"].sum() > 0 and frame["churned_clients"].sum() > 0


def test_customers_refuse_a_scope_they_do_not_know(traffic_pool: ConnectionPool) -> None:
    f = Filters(LAST_DAY - timedelta(days=6), LAST_DAY)
    for call in (customers.kpis, customers.segments, customers.score_grid):
        with pytest.raises(ValueError, match="scope must be"):
            call(traffic_pool, f, "everyone")  # type: ignore[operator]


def test_the_vocabulary_names_channels_and_rfm_segments_as_the_seeds_do(traffic_pool: ConnectionPool) -> None:
    shop = vocabulary.read(traffic_pool)
    assert list(shop.channels.items()) == [(r["channel"], r["label"]) for r in seed("channels")]
    segments = sorted(seed("rfm_segments"), key=lambda r: int(r["priority"]))
    assert [(name, s.label, s.r_min, s.r_max, s.fm_min, s.fm_max) for name, s in shop.rfm_segments.items()] == [
        (r["segment"], r["label"], int(r["r_min"]), int(r["r_max"]), int(r["fm_min"]), int(r["fm_max"]))
        for r in segments
    ]


# -- empty and missing warehouses -------------------------------------------------------------------
def test_an_empty_warehouse_gives_zeros_and_empty_frames(empty_pool: ConnectionPool) -> None:
    assert warehouse.state(empty_pool) == "empty"
    assert warehouse.data_bounds(empty_pool) == {"first_date": None, "last_date": None}
    today = date(2026, 11, 25)
    f = default_filters(warehouse.data_bounds(empty_pool)["last_date"], today=today)
    assert f == Filters(today - timedelta(days=6), today)
    result = overview.kpis(empty_pool, f)
    assert result["current"] == {
        "events": 0, "sessions": 0, "clients": 0, "users": 0,
        "conversion_rate": None, "bounce_rate": None, "median_session_seconds": None,
    }  # fmt: skip
    assert all(change is None for change in result["change"].values())
    series = overview.timeseries(empty_pool, f)
    assert len(series) == 7 and series["events"].sum() == 0 and series["sessions"].sum() == 0
    for frame in (
        funnel.steps(empty_pool, f),
        products.ranking(empty_pool, f, "brand"),
        journeys.transitions(empty_pool, f),
        retention.cohorts(empty_pool, f),
        events.newest(empty_pool, f)["rows"],
    ):
        assert frame.empty and len(frame.columns) > 0
    status = freshness.pipeline_status(empty_pool)
    assert status["newest_event_at"] is None and status["last_load_status"] == "succeeded"
    assert list(vocabulary.read(empty_pool).login_states) == ["logged_in", "anonymous"], "seeds need no traffic"


def test_an_empty_warehouse_has_no_revenue_to_show(empty_pool: ConnectionPool) -> None:
    """No orders (no shop database): the Revenue page shows its empty state, and its queries give zeros, not errors."""
    assert revenue.state(empty_pool) == "empty"
    assert revenue.order_bounds(empty_pool) == {"first_date": None, "last_date": None}
    f = Filters(date(2026, 11, 19), date(2026, 11, 25))
    result = revenue.kpis(empty_pool, f)
    assert result["current"] == {
        "revenue": 0.0, "orders": 0, "paid_orders": 0,
        "average_order_value": None, "capture_rate": None, "revenue_capture_rate": None,
    }  # fmt: skip
    assert all(change is None for change in result["change"].values())
    assert revenue.untracked(empty_pool, f) == {"orders": 0, "revenue": 0.0}
    days = revenue.daily(empty_pool, f)
    assert len(days) == 7 and days["orders"].sum() == 0 and days["revenue"].sum() == 0
    for frame in (revenue.by_segment(empty_pool, f, "device_class"), revenue.products(empty_pool, f)):
        assert frame.empty and len(frame.columns) > 0
    carts = revenue.carts(empty_pool, f)
    assert carts["carts"] == 0 and carts["abandonment_rate"] is None and carts["recovery_rate"] is None


def test_an_empty_warehouse_has_no_acquisition_or_customers_to_show(empty_pool: ConnectionPool) -> None:
    """No sessions, no orders: both pages show what to run; their queries give zeros and empty frames, not errors."""
    assert acquisition_queries.state(empty_pool) == "empty" and customers.state(empty_pool) == "empty"
    f = Filters(date(2026, 11, 19), date(2026, 11, 25))
    result = acquisition_queries.kpis(empty_pool, f)
    assert result["current"] == {
        "sessions": 0, "conversion_rate": None, "orders": 0, "revenue": 0.0, "ad_spend": None
    }  # fmt: skip
    assert all(change is None for change in result["change"].values())
    for frame in (
        acquisition_queries.traffic(empty_pool, f, "campaign"),
        acquisition_queries.attribution(empty_pool, f),
        acquisition_queries.attribution(empty_pool, Filters(f.start, f.end, "logged_in")),
        acquisition_queries.attribution_campaigns(empty_pool, f, "markov"),
        customers.score_grid(empty_pool, f),
        customers.first_orders(empty_pool, f, "channel", "acquired"),
    ):
        assert frame.empty and len(frame.columns) > 0
    assert acquisition_queries.attributed_orders(empty_pool, f) == {
        "orders": 0,
        "attributed_orders": 0,
        "attributed_revenue": 0,
    }
    assert customers.kpis(empty_pool, f)["current"] == {
        "customers": 0, "repeat_rate": None, "revenue": 0.0, "orders_per_customer": None, "revenue_per_customer": None
    }  # fmt: skip
    segments = customers.segments(empty_pool, f)
    assert len(segments) == len(seed("rfm_segments")) and segments["customers"].sum() == 0
    weeks = customers.lifecycle(empty_pool, f)
    assert len(weeks) == 2 and weeks["active_clients"].sum() == 0, "the two weeks the range overlaps, empty"


def test_a_warehouse_without_marts_is_reported_as_missing(bare_pool: ConnectionPool) -> None:
    assert acquisition_queries.state(bare_pool) == "missing" and customers.state(bare_pool) == "missing"
    assert revenue.state(bare_pool) == "missing"
    assert warehouse.state(bare_pool) == "missing"
    assert warehouse.missing_tables(bare_pool) == [*warehouse.MARTS, *vocabulary.SEEDS]


def test_marts_built_before_the_seeds_are_reported_as_missing_the_seeds(
    bare_dw: WarehouseSettings, bare_pool: ConnectionPool
) -> None:
    with psycopg.connect(**bare_dw.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("create schema marts")
        for name in warehouse.MARTS:
            conn.execute(psycopg.sql.SQL("create table {} ()").format(psycopg.sql.Identifier("marts", name)))
    assert warehouse.missing_tables(bare_pool) == list(vocabulary.SEEDS)
    assert warehouse.state(bare_pool) == "missing"


def test_marts_built_before_attribution_and_customers_show_the_other_pages(
    bare_dw: WarehouseSettings, bare_pool: ConnectionPool
) -> None:
    """A warehouse whose marts and seeds predate the traffic sources: the vocabulary reads without the channel and
    RFM seeds, and the Acquisition and Customers pages say what to run (a fct_sessions without channel too)."""
    with psycopg.connect(**bare_dw.conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("create schema marts")
        for name in warehouse.MARTS:
            conn.execute(psycopg.sql.SQL("create table {} ()").format(psycopg.sql.Identifier("marts", name)))
        conn.execute("create table marts.login_states (login_state text, label text, is_sent_by_storefront boolean)")
        conn.execute("create table marts.device_classes (device_class text, label text)")
        conn.execute("create table marts.funnel_steps (step_order int, step_name text, label text)")
        conn.execute("create table marts.page_types (page_type text, label text, color text)")
        for name in ("attribution_paths", "attribution_channel_daily", "attribution_campaign_daily", "fct_orders"):
            conn.execute(psycopg.sql.SQL("create table {} ()").format(psycopg.sql.Identifier("marts", name)))
        conn.execute("create table marts.channels (channel text, label text)")
    assert warehouse.state(bare_pool) == "empty", "the other pages show"
    shop = vocabulary.read(bare_pool)
    assert shop.rfm_segments == {} and shop.channels == {}
    assert shop.segment_label("champions") == "champions" and shop.channel_label("email") == "email"
    assert acquisition_queries.state(bare_pool) == "missing", "fct_sessions has no channel yet"
    assert customers.state(bare_pool) == "missing"
