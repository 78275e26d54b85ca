{#-
    Purchases are still tracked: no run of hours without a checkout_complete while at least
    health_min_expected_checkouts were expected (a checkout page that lost its tracking costs the shop its revenue
    figures).
-#}
{{ config(severity='error') }}

with

latest as (
    {{ latest_health_hours() }}
)

select
    hour_at,
    checkout_complete_events,
    expected_checkouts,
    expected_checkouts_since_last
from latest
where 'no_checkouts' = any(anomalies)
