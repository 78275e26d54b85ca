{#-
    The tracker sent no event name outside the seed event_names and no payload field it had never sent, in the
    latest hours (a new storefront release changed what it sends: add the name to event_names.csv, or teach the
    staging model the field).
-#}
{{ config(severity='warn') }}

with

latest as (
    {{ latest_health_hours() }}
)

select
    hour_at,
    new_event_names,
    new_payload_fields
from latest
where anomalies && array['unknown_event_name', 'new_payload_field']
