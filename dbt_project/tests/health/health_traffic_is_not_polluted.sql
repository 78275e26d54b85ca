{#-
    No burst of bot or zombie events, of events the loader quarantined, or of events arriving late, in the latest
    complete hours.
-#}
{{ config(severity='warn') }}

with

latest as (
    {{ latest_health_hours() }}
)

select
    hour_at,
    bot_share,
    quarantined_score,
    rejected_share,
    rejected_score,
    late_share,
    late_score,
    anomalies
from latest
where anomalies && array['bot_spike', 'rejected_spike', 'late_spike']
