{#-
    With a shop database, the orders the tracker saw (matched to a tracked purchase) over the last 24 hours are at
    least health_min_capture_rate of the shop's orders (given health_min_orders orders).
-#}
{{ config(severity='warn') }}

with

latest as (
    {{ latest_health_hours() }}
)

select
    hour_at,
    orders_24h,
    capture_rate_24h
from latest
where 'low_capture_rate' = any(anomalies)
