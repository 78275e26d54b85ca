-- The dashboard reads the daily marts, or their by-segment versions when a segment is chosen: their additive
-- measures must agree (any row returned is a day or hour where they do not).
with

funnel as (
    select
        'funnel_daily' as model_name,
        date_day::text || ' step ' || step_order::text as period,
        sessions::bigint as measure,
        0::bigint as segments
    from {{ ref('funnel_daily') }}
    union all
    select
        'funnel_daily' as model_name,
        date_day::text || ' step ' || step_order::text as period,
        0 as measure,
        sessions as segments
    from {{ ref('funnel_daily_by_segment') }}
),

products as (
    select
        'product_engagement_daily' as model_name,
        date_day::text || ' ' || product_id as period,
        (views + add_to_carts + purchases)::bigint as measure,
        0::bigint as segments
    from {{ ref('product_engagement_daily') }}
    union all
    select
        'product_engagement_daily' as model_name,
        date_day::text || ' ' || product_id as period,
        0 as measure,
        views + add_to_carts + purchases as segments
    from {{ ref('product_engagement_daily_by_segment') }}
),

traffic as (
    select
        'traffic_hourly' as model_name,
        hour_at::text as period,
        (events + sessions_started + new_clients)::bigint as measure,
        0::bigint as segments
    from {{ ref('traffic_hourly') }}
    union all
    select
        'traffic_hourly' as model_name,
        hour_at::text as period,
        0 as measure,
        events + sessions_started + new_clients as segments
    from {{ ref('traffic_hourly_by_segment') }}
),

compared as (
    select
        model_name,
        period,
        sum(measure) as daily,
        sum(segments) as by_segment
    from (
        select * from funnel
        union all
        select * from products
        union all
        select * from traffic
    ) as measures
    group by model_name, period
)

select * from compared
where daily <> by_segment
