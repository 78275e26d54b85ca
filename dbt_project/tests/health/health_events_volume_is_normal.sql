{#-
    The latest complete hours' event volume is within its expected band: a drop (a deploy dropped the tracker, the
    collector fails) or a spike (a bot storm, a tracker sending twice). One anomalous hour warns; two or more (a
    lasting break) fail.
-#}
{{ config(severity='error', warn_if='>0', error_if='>1') }}

with

latest as (
    {{ latest_health_hours() }}
)

select
    hour_at,
    events,
    expected_events,
    expected_events_lower,
    expected_events_upper,
    events_score,
    anomalies
from latest
where is_volume_anomaly
